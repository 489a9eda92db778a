/**
 * The local HTTP service: the JSON API a launcher UI calls (one route per service operation), a
 * Server-Sent Events change feed, the OpenAPI document, and the web page. Bound to 127.0.0.1 by
 * the caller.
 *
 * This file holds only what every route shares; the routes are plugins, one file per resource
 * under routes/, each declaring its schemas (src/api.ts), from which fastify validates requests,
 * serialises answers, and openapi.ts makes the document. A new route is a `app.get(...)` in its
 * resource's file: it inherits the gate, the token, the limits and the error shape from here, and
 * needs the token unless its `config` says `public` (the page's own files only).
 *
 * Security (README, "Local service and web page"):
 * - every response passes the gate first: a `Host` (and `Origin`, when sent) naming this service,
 *   and a request target in origin form (`/path`; absolute form `http://…/` and `*` are refused);
 * - access is decided on the route the router matched, never on the request text: every matched
 *   route needs the token except the page's three public routes, whatever the path's spelling;
 *   an unmatched request gets a fixed 404 and nothing else;
 * - a refusal is sent before any body is read and closes the connection;
 * - requests, heads and bodies time out; connections and event streams are capped (503);
 * - every response, the framework's own errors included, is `{ error: { code, message } }` with
 *   the status of its code's row in docs/ERRORS.md (a request its route's schema refuses is
 *   `INVALID_ARGUMENT`, naming the field). A request whose head cannot be parsed (or
 *   does not arrive in time) has no `Host` to check: its connection is closed without an answer.
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { ERROR_TABLE, RegistryError } from "../core/errors.js";
import { reportToStderr } from "../live-index.js";
import type { RegistryService } from "../service.js";
import { DEFAULT_LIMITS, type HttpLimits } from "./limits.js";
import { type DocumentedRoute, openApiDocument } from "./openapi.js";
import { type Refusal, refusal, refuse, SECURITY_HEADERS } from "./refusal.js";
import { agentRoutes } from "./routes/agents.js";
import type { RouteConfig, RouteContext } from "./routes/context.js";
import { doctorRoutes } from "./routes/doctor.js";
import { eventRoutes } from "./routes/events.js";
import { leaseRoutes } from "./routes/leases.js";
import { openApiRoutes } from "./routes/openapi.js";
import { pageRoutes } from "./routes/page.js";
import { trashRoutes } from "./routes/trash.js";
import { tokensMatch } from "./token.js";

export const BODY_LIMIT = 64 * 1024;
/**
 * The longest path parameter the router takes. Well above the 128-character id limit, so an
 * over-long id still reaches the service and is `INVALID_ID`; beyond it: 414 `URI_TOO_LONG`.
 */
const MAX_PARAM_LENGTH = 2048;

export interface HttpOptions {
  service: RegistryService;
  token: string;
  /** The port the service is reachable on: `Host` and `Origin` must name it. */
  port: () => number;
  limits?: Partial<HttpLimits>;
  /** Where failures nobody asked about are reported (default: a line on stderr). */
  report?: (message: string) => void;
}

const SERVICE_BUSY = refusal(503, "SERVICE_BUSY", "too many connections; try again shortly");
const REQUEST_TIMEOUT = refusal(408, "REQUEST_TIMEOUT", "the request did not arrive in time");
const NOT_FOUND = refusal(404, "NOT_FOUND", "no such route");
const UNAUTHORIZED = refusal(
  401,
  "UNAUTHORIZED",
  "a valid token is required (see the URL the service printed)",
);

/**
 * The checks every response passes first: the `Host` (one, naming this service), the `Origin`
 * when sent, and a request target in origin form. An absolute-form target (`http://host/path`)
 * would make its authority the request's host (RFC 9112 §3.2.2) and is never what the page or
 * the CLI sends, so every one is refused, whatever authority it names.
 */
function gate(request: IncomingMessage, port: number): Refusal | null {
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  let hostHeaders = 0;
  for (let i = 0; i < request.rawHeaders.length; i += 2)
    if (request.rawHeaders[i]?.toLowerCase() === "host") hostHeaders++;
  const host = request.headers.host;
  if (hostHeaders !== 1 || typeof host !== "string" || !hosts.includes(host.toLowerCase()))
    return refusal(403, "FORBIDDEN_HOST", "this service only answers to 127.0.0.1 and localhost");
  const origin = request.headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`))
    return refusal(403, "FORBIDDEN_ORIGIN", "cross-origin requests are refused");
  if (!(request.url ?? "").startsWith("/"))
    return refusal(
      400,
      "BAD_REQUEST",
      "the request target must be a path (origin form); absolute-form targets are refused",
    );
  return null;
}

/**
 * Sends a refusal on a raw response (outside fastify, or where it cannot answer) and closes the
 * connection: an unread body is never waited for.
 */
function sendRaw(response: ServerResponse, answer: Refusal): void {
  const socket = response.socket;
  if (response.headersSent || response.writableEnded) {
    socket?.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
  response.shouldKeepAlive = false;
  response.writeHead(answer.status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  response.end(body);
  // `Connection: close` ends the socket once the answer is flushed; a client that reads nothing
  // must not keep it open.
  setTimeout(() => socket?.destroy(), 2_000).unref();
}

export function buildHttp(options: HttpOptions): FastifyInstance {
  const { service, token } = options;
  const limits: HttpLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const report = (message: string) => {
    try {
      (options.report ?? reportToStderr)(message);
    } catch {
      // Nothing sensible left to do.
    }
  };

  /** The response in progress on each connection, so a timeout can answer it. */
  const inProgress = new WeakMap<Socket, ServerResponse>();
  /** Connections accepted over the cap: they get 503 once their head is read. */
  const overCap = new WeakSet<Socket>();

  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    // `close()` (Ctrl-C) ends every connection, not only idle ones: a client that connected and
    // sent nothing must not hold the shutdown until its timeout.
    forceCloseConnections: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // The routes' schemas (src/api.ts) are the contract: nothing is coerced (a JSON `5` is not a
    // name; query values are declared as the text they are) and an unknown body field is refused
    // rather than silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    serverFactory: (handler) => {
      const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
      const server = createServer({
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(
          10,
          Math.min(1_000, Math.floor(Math.min(headersTimeout, limits.requestTimeoutMs) / 4)),
        ),
        // Without a Host, node would answer 400 itself: the gate answers FORBIDDEN_HOST instead.
        requireHostHeader: false,
      });
      server.timeout = limits.idleTimeoutMs;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      // Node drops connections past this silently; up to it, the 503 below says why.
      server.maxConnections = limits.maxConnections * 2;
      let open = 0;
      server.on("connection", (socket: Socket) => {
        open++;
        socket.once("close", () => open--);
        if (open > limits.maxConnections) {
          overCap.add(socket);
          // An over-cap connection only gets its 503: it may not linger until the head timeout.
          socket.setTimeout(Math.min(1_000, headersTimeout), () => socket.destroy());
        }
      });
      const onRequest = (request: IncomingMessage, response: ServerResponse) => {
        const socket = request.socket;
        inProgress.set(socket, response);
        response.once("finish", () => {
          if (inProgress.get(socket) === response) inProgress.delete(socket);
        });
        const refused =
          gate(request, options.port()) ?? (overCap.has(socket) ? SERVICE_BUSY : null);
        if (refused) return sendRaw(response, refused);
        handler(request, response);
      };
      server.on("request", onRequest);
      // `Expect: 100-continue`: node would invite the body before any check; it is invited only
      // when the gate passes and a token is given (the route still checks it).
      server.on("checkContinue", (request: IncomingMessage, response: ServerResponse) => {
        if (gate(request, options.port()) === null && bearerOf(request) !== undefined)
          response.writeContinue();
        onRequest(request, response);
      });
      // Any other expectation: answered like a plain request rather than with node's own 417.
      server.on("checkExpectation", onRequest);
      // Once listening, a server error (an accept failing with EMFILE, say) is reported, never
      // left unhandled: that would end the process. Before, `listen` itself reports it.
      server.on("error", (error: Error) => {
        if (server.listening) report(`the server: ${error.message}`);
      });
      return server;
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      const response = inProgress.get(socket);
      if (
        error.code === "ERR_HTTP_REQUEST_TIMEOUT" &&
        response !== undefined &&
        !socket.destroyed &&
        !response.headersSent
      ) {
        // The head was read (the gate can run): the body was too slow.
        return sendRaw(response, gate(response.req, options.port()) ?? REQUEST_TIMEOUT);
      }
      // A head that cannot be parsed or did not arrive: no Host to check, so no answer.
      socket.destroy();
    },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const answer =
        gate(request.raw, options.port()) ??
        (error.code === "FST_ERR_MAX_PARAM_LENGTH"
          ? refusal(414, "URI_TOO_LONG", "a path segment is too long")
          : refusal(400, "BAD_REQUEST", "the request path is not a valid URL"));
      return refuse(reply, answer, true);
    },
  });
  // Bodies are JSON or nothing: a text/plain body (what a cross-site form can send) is 415.
  app.removeContentTypeParser("text/plain");

  app.addHook("onRequest", async (request, reply) => {
    const refused = gate(request.raw, options.port());
    if (refused) return refuse(reply, refused, true);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    // Decided on the route matched, never on the request's spelling of its path: every route
    // needs the token but the page's own; no route at all is a fixed 404 that says nothing.
    if (request.is404) return refuse(reply, NOT_FOUND, true);
    const config = request.routeOptions.config as RouteConfig | undefined;
    if (config?.public !== true && !tokensMatch(tokenOf(request), token))
      return refuse(reply, UNAUTHORIZED, true);
  });

  app.setErrorHandler((error, request, reply) => {
    const invalid = invalidRequest(error);
    if (invalid) {
      return reply
        .code(ERROR_TABLE.INVALID_ARGUMENT.http)
        .type("application/json; charset=utf-8")
        .send({ error: { code: "INVALID_ARGUMENT", ...invalid } });
    }
    if (error instanceof RegistryError) {
      return reply
        .code(ERROR_TABLE[error.code].http)
        .type("application/json; charset=utf-8")
        .send({ error: { code: error.code, message: error.message, ...error.data } });
    }
    const status =
      typeof (error as { statusCode?: unknown }).statusCode === "number"
        ? (error as { statusCode: number }).statusCode
        : 500;
    const message = (error as Error)?.message ?? String(error);
    if (status === 413)
      return refuse(
        reply,
        refusal(413, "BODY_TOO_LARGE", `request bodies are limited to ${BODY_LIMIT} bytes`),
        true,
      );
    if (status === 415)
      return refuse(
        reply,
        refusal(415, "UNSUPPORTED_MEDIA_TYPE", "a request body must be application/json"),
        true,
      );
    if (status === 408) return refuse(reply, REQUEST_TIMEOUT, true);
    if (status >= 400 && status < 500)
      return refuse(reply, refusal(400, "BAD_REQUEST", message), true);
    report(`${request.method} ${request.routeOptions.url ?? "?"} failed: ${message}`);
    return refuse(reply, refusal(500, "UNEXPECTED", "unexpected error (see the service's log)"));
  });
  app.setNotFoundHandler((_request, reply) => refuse(reply, NOT_FOUND, true));

  // Every route, as registered: the OpenAPI document is made from their schemas.
  const routes: DocumentedRoute[] = [];
  app.addHook("onRoute", (route) => {
    routes.push({
      method: route.method,
      url: route.url,
      schema: route.schema,
      config: route.config,
    });
  });
  let document: Record<string, unknown> | undefined;

  // One plugin per resource. The rules above (gate, token, limits, error shape) are the root's:
  // every route registered below inherits them without naming them.
  const context: RouteContext = { service, limits, report };
  const api = { prefix: "/api" };
  app.register(pageRoutes);
  app.register(agentRoutes, { ...context, ...api });
  app.register(trashRoutes, { ...context, ...api });
  app.register(doctorRoutes, { ...context, ...api });
  app.register(leaseRoutes, { ...context, ...api });
  app.register(eventRoutes, { ...context, ...api });
  app.register(openApiRoutes, { document: () => (document ??= openApiDocument(routes)), ...api });

  return app;
}

function bearerOf(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.startsWith("Bearer "))
    return header.slice("Bearer ".length).trim();
  return undefined;
}

function tokenOf(request: FastifyRequest): string | undefined {
  const bearer = bearerOf(request.raw);
  if (bearer !== undefined) return bearer;
  // Only the event stream takes `?token=` (EventSource cannot send headers): decided on the
  // route matched, like access itself.
  if ((request.routeOptions.config as RouteConfig | undefined)?.tokenInQuery === true) {
    const query = request.query as { token?: unknown };
    return typeof query.token === "string" ? query.token : undefined;
  }
  return undefined;
}

/** What a pattern of src/api.ts means, for people. */
const PATTERN_MEANING: Record<string, string> = { "^[0-9]+$": "a non-negative integer" };

/**
 * A request its route's schema refused, in the contract: `INVALID_ARGUMENT` with the field at
 * fault (`field`) and the part of the request it is in (`in`: body, querystring or params).
 */
function invalidRequest(
  error: unknown,
): { message: string; in: string; field?: string } | undefined {
  const { validation, validationContext } = error as Partial<FastifyError>;
  if (!Array.isArray(validation) || validation.length === 0) return undefined;
  const where = validationContext ?? "request";
  const first = validation[0] as {
    keyword: string;
    instancePath: string;
    params: Record<string, unknown>;
    message?: string;
  };
  const path = first.instancePath.replace(/^\//, "").replaceAll("/", ".");
  const missing = first.params.missingProperty ?? first.params.additionalProperty;
  const field = typeof missing === "string" ? (path === "" ? missing : `${path}.${missing}`) : path;
  const subject = field === "" ? (where === "body" ? "the request body" : where) : field;
  const pattern = typeof first.params.pattern === "string" ? first.params.pattern : "";
  const type = first.params.type;
  const message =
    first.keyword === "required"
      ? `${subject} is required`
      : first.keyword === "additionalProperties"
        ? `${subject} is not a field this route takes`
        : first.keyword === "type" && field === "" && where === "body"
          ? "the request body must be a JSON object"
          : first.keyword === "type"
            ? `${subject} must be ${Array.isArray(type) ? type.join(" or ") : String(type)}`
            : first.keyword === "pattern" && PATTERN_MEANING[pattern]
              ? `${subject} must be ${PATTERN_MEANING[pattern]}`
              : `${subject} ${first.message ?? "is not valid"}`;
  return { message, in: where, ...(field === "" ? {} : { field }) };
}
