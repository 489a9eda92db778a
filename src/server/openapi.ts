/**
 * The OpenAPI 3.1 document, generated from the routes as registered (their `schema` and
 * `config`): nothing is written twice. The schemas of src/api.ts that `NAMED_SCHEMAS` names become
 * `components.schemas`, and every place a route's schema holds one of those very objects refers
 * to it. Committed as docs/openapi.json; test/openapi.test.ts keeps the two equal.
 */

import { API_VERSION, NAMED_SCHEMAS } from "../api.js";
import { DEFAULT_PORT } from "./port.js";
import type { RouteConfig } from "./routes/context.js";

/** What the generator reads of a route (fastify's `onRoute` options). */
export interface DocumentedRoute {
  method: string | string[];
  url: string;
  schema?: unknown;
  config?: unknown;
}

type Json = Record<string, unknown>;

const NAMES = new Map<unknown, string>(Object.entries(NAMED_SCHEMAS).map(([n, s]) => [s, n]));

/** A copy of `value` with each named schema (other than `self`) replaced by a `$ref`. */
function refer(value: unknown, self?: unknown): unknown {
  const name = value === self ? undefined : NAMES.get(value);
  if (name !== undefined) return { $ref: `#/components/schemas/${name}` };
  if (Array.isArray(value)) return value.map((item) => refer(item));
  if (typeof value === "object" && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, refer(item)]));
  return value;
}

const STATUS_TEXT: Record<string, string> = {
  "200": "OK",
  "201": "Created",
  "4XX": "Refused: `{ error: { code, message } }`, the status of the code's row of docs/ERRORS.md",
  "5XX": "Failed: `{ error: { code, message } }` (UNEXPECTED, LOCK_TIMEOUT, SERVICE_BUSY, IO)",
};

function response(status: string, schema: Json): Json {
  if ("content" in schema) {
    const { description, content } = schema as { description?: string; content: Json };
    return { description: description ?? STATUS_TEXT[status] ?? status, content: refer(content) };
  }
  const description =
    (NAMES.has(schema) ? undefined : (schema.description as string | undefined)) ??
    STATUS_TEXT[status] ??
    status;
  return { description, content: { "application/json": { schema: refer(schema) } } };
}

function parameters(where: "path" | "query", schema: unknown): Json[] {
  const { properties = {}, required = [] } = (schema ?? {}) as {
    properties?: Json;
    required?: readonly string[];
  };
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property as Json;
    return {
      name,
      in: where,
      required: where === "path" || required.includes(name),
      ...(description === undefined ? {} : { description }),
      schema: refer(rest),
    };
  });
}

function operation(route: DocumentedRoute): Json {
  const schema = (route.schema ?? {}) as Json;
  const config = (route.config ?? {}) as RouteConfig;
  const op: Json = {};
  for (const key of ["operationId", "summary", "description", "tags"])
    if (schema[key] !== undefined) op[key] = schema[key];
  const params = [...parameters("path", schema.params), ...parameters("query", schema.querystring)];
  if (params.length > 0) op.parameters = params;
  if (schema.body !== undefined) {
    const required = ((schema.body as Json).required as unknown[] | undefined) ?? [];
    op.requestBody = {
      required: required.length > 0,
      content: { "application/json": { schema: refer(schema.body) } },
    };
  }
  const responses: Json = {};
  for (const [status, body] of Object.entries((schema.response ?? {}) as Json)) {
    const key = status.toUpperCase();
    responses[key] = response(key, body as Json);
  }
  op.responses = responses;
  if (config.public) op.security = [];
  else if (config.tokenInQuery) op.security = [{ bearer: [] }, { queryToken: [] }];
  return op;
}

export function openApiDocument(routes: readonly DocumentedRoute[]): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter(
      // HEAD routes are fastify's automatic twins of GET routes.
      (method) => method !== "HEAD",
    );
    if (methods.length === 0) continue;
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    paths[path] ??= {};
    for (const method of methods) (paths[path] as Json)[method.toLowerCase()] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "agentmux-registry local service",
      version: API_VERSION,
      description:
        "The JSON API behind the agent picker, bound to 127.0.0.1. Every /api route needs the " +
        'per-install token (README, "Local service and web page"); every error is ' +
        "`{ error: { code, message } }` with the status of its code's row in docs/ERRORS.md.",
    },
    servers: [{ url: `http://127.0.0.1:${DEFAULT_PORT}` }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "the token from `<root>/.service-token` (the address `serve` prints)",
        },
        queryToken: {
          type: "apiKey",
          in: "query",
          name: "token",
          description:
            "the same token, taken only by the event stream (EventSource sends no headers)",
        },
      },
      schemas: Object.fromEntries(
        Object.entries(NAMED_SCHEMAS).map(([name, schema]) => [name, refer(schema, schema)]),
      ),
    },
  };
}
