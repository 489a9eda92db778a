/** `/api/openapi.json`: the OpenAPI 3.1 document of this service, made from the routes' schemas. */

import type { FastifyInstance } from "fastify";
import { ERROR_RESPONSES } from "./context.js";

export async function openApiRoutes(
  app: FastifyInstance,
  { document }: { document: () => Record<string, unknown> },
): Promise<void> {
  app.get(
    "/openapi.json",
    {
      schema: {
        operationId: "openapi",
        summary: "This document",
        tags: ["meta"],
        response: {
          200: {
            type: "object",
            description: "an OpenAPI 3.1 document (docs/openapi.json)",
            additionalProperties: true,
          },
          ...ERROR_RESPONSES,
        },
      },
    },
    async () => document(),
  );
}
