/**
 * The web page's files and its icon, the only public routes (`config.public`): read once at start-up
 * from fixed locations (assets.ts), never from a request path.
 */

import type { FastifyInstance } from "fastify";
import { loadAssets } from "../assets.js";
import type { RouteConfig } from "./context.js";

const config: RouteConfig = { public: true };

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  for (const [route, asset] of loadAssets()) {
    const mediaType = asset.type.split(";")[0] as string;
    app.get(
      route,
      {
        config,
        schema: {
          operationId: operationIdOf(route),
          summary: route === "/" ? "The web page" : `The web page's ${route.slice(1)}`,
          tags: ["page"],
          response: {
            200: {
              description: "the file, as built",
              content: { [mediaType]: { schema: { type: "string" } } },
            },
          },
        },
      },
      async (_request, reply) => {
        reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
        return reply.type(asset.type).send(asset.body);
      },
    );
  }
}

/** `/` → `page`, `/style.css` → `pageStyleCss`. */
const operationIdOf = (route: string) =>
  `page${route.replace(/[^A-Za-z0-9]+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase())}`;
