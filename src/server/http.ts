/**
 * The local HTTP service: the JSON API a launcher UI calls (one route per service operation), a
 * Server-Sent Events change feed, and the web page. Bound to 127.0.0.1 by the caller.
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
 *   the status of its code's row in docs/ERRORS.md. A request whose head cannot be parsed (or
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
import { agentJson } from "../api.js";
import { reportToStderr } from "../change-feed.js";
import { ERROR_TABLE, RegistryError } from "../core/errors.js";
import type { RegistryService } from "../service.js";
import { loadAssets } from "./assets.js";
import { tokensMatch } from "./token.js";

export const BODY_LIMIT = 64 * 1024;
/**
 * The longest path parameter the router takes. Well above the 128-character id limit, so an
 * over-long id still reaches the service and is `INVALID_ID`; beyond it: 414 `URI_TOO_LONG`.
 */
export const MAX_PARAM_LENGTH = 2048;

/** Timeouts and caps (README, "Local service and web page", lists the defaults). */
export interface HttpLimits {
  /** The whole request, head and body, must arrive within this: 408 `REQUEST_TIMEOUT`. */
  requestTimeoutMs: number;
  /** The request head must arrive within this (no `Host` to check yet: closed unanswered). */
  headersTimeoutMs: number;
  /** A connection without traffic for this long is closed (event streams send heartbeats). */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections; one more gets 503 `SERVICE_BUSY`, twice as many are dropped unanswered. */
  maxConnections: number;
  /** Open event streams; one more gets 503 `SERVICE_BUSY`. */
  maxEventStreams: number;
  /** How often an event stream sends a comment line. */
  heartbeatMs: number;
  /** Unsent bytes an event stream may queue for a client that does not read; then it is closed. */
  maxStreamBacklogBytes: number;
}

export const DEFAULT_LIMITS: Readonly<HttpLimits> = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  maxEventStreams: 16,
  heartbeatMs: 15_000,
  maxStreamBacklogBytes: 1024 * 1024,
};

export interface HttpOptions {
  service: RegistryService;
  token: string;
  /** The port the service is reachable on: `Host` and `Origin` must name it. */
  port: () => number;
  limits?: Partial<HttpLimits>;
  /** Where failures nobody asked about are reported (default: a line on stderr). */
  report?: (message: string) => void;
}

type IdParams = { Params: { id: string } };

/** An answer in the error contract: status, code (a row of docs/ERRORS.md) and message. */
interface Refusal {
  status: number;
  code: string;
  message: string;
}

const refusal = (status: number, code: string, message: string): Refusal => ({
  status,
  code,
  message,
});

const SERVICE_BUSY = refusal(503, "SERVICE_BUSY", "too many connections; try again shortly");
const REQUEST_TIMEOUT = refusal(408, "REQUEST_TIMEOUT", "the request did not arrive in time");
const NOT_FOUND = refusal(404, "NOT_FOUND", "no such route");
const UNAUTHORIZED = refusal(
  401,
  "UNAUTHORIZED",
  "a valid token is required (see the URL the service printed)",
);

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

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
  const assets = loadAssets();

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
    const config = request.routeOptions.config as { public?: boolean } | undefined;
    if (config?.public !== true && !tokensMatch(tokenOf(request), token))
      return refuse(reply, UNAUTHORIZED, true);
  });

  app.setErrorHandler((error, request, reply) => {
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

  for (const [route, asset] of assets) {
    app.get(route, { config: { public: true } }, async (_request, reply) => {
      reply.header(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      return reply.type(asset.type).send(asset.body);
    });
  }

  app.get<{ Querystring: { definitionId?: string; limit?: string } }>(
    "/api/agents",
    async (request) => {
      const limit = request.query.limit === undefined ? undefined : parseLimit(request.query.limit);
      const agents = await service.listNamedAgents({
        definitionId: request.query.definitionId,
        limit,
      });
      return { agents: agents.map(agentJson) };
    },
  );

  app.post<{ Body: unknown }>("/api/agents", async (request, reply) => {
    const body = objectBody(request.body);
    const created = await service.createAgent({
      name: stringField(body, "name"),
      definitionId: stringField(body, "definitionId"),
      identityId: optionalString(body, "identityId"),
      memoryId: optionalString(body, "memoryId"),
    });
    return reply
      .code(201)
      .send({ agent: agentJson(created.record), working_dir_path: created.workingDir });
  });

  app.get<IdParams>("/api/agents/:id", async (request) => {
    const { record, retired } = await service.getAgent(request.params.id);
    return { agent: agentJson(record), retired };
  });

  app.post<IdParams & { Body: unknown }>("/api/agents/:id/continue", async (request) => {
    const body = request.body === undefined ? {} : objectBody(request.body);
    const sessionId = optionalString(body, "sessionId") ?? undefined;
    const result = await service.continueAgent(request.params.id, { sessionId });
    return {
      agent: agentJson(result.record),
      working_dir_path: result.workingDir,
      resume_command: `cd ${shellQuote(result.workingDir)} && agentmux-registry continue ${result.record.data.instance_id} --exec -- ${shellQuote(result.record.data.definition_id)}`,
    };
  });

  app.post<IdParams>("/api/agents/:id/forget", async (request) => {
    const moved = await service.forgetAgent(request.params.id);
    return { id: request.params.id, moved };
  });

  app.post<IdParams>("/api/agents/:id/restore", async (request) => {
    const moved = await service.restoreAgent(request.params.id);
    return { id: request.params.id, moved };
  });

  app.post<IdParams & { Body: unknown }>("/api/agents/:id/rename", async (request) => {
    const name = stringField(objectBody(request.body), "name");
    const changed = await service.renameAgent(request.params.id, name);
    return { id: request.params.id, name, changed };
  });

  app.delete<IdParams>("/api/agents/:id", async (request) => {
    const removed = await service.deleteAgent(request.params.id);
    return { id: request.params.id, removed };
  });

  app.get("/api/trash", async () => ({ agents: (await service.listRetired()).map(agentJson) }));

  app.get("/api/doctor", async () => service.doctor());

  // Open event streams never end by themselves: without ending them here, `close()` (Ctrl-C,
  // SIGTERM) would wait for every open page to go away.
  const streams = new Set<FastifyReply["raw"]>();
  app.addHook("preClose", (done) => {
    for (const stream of streams) stream.end();
    done();
  });

  app.get("/api/events", async (request, reply) => {
    if (streams.size >= limits.maxEventStreams)
      return refuse(reply, refusal(503, "SERVICE_BUSY", "too many open event streams"), true);
    reply.hijack();
    const raw = reply.raw;
    streams.add(raw);
    // Heartbeats keep the stream busy; a reader that stops reading is cut by the backlog cap.
    request.raw.socket.setTimeout(0);
    let closed = false;
    let cleanUp = () => {};
    const gone = () => {
      if (closed) return;
      closed = true;
      streams.delete(raw);
      cleanUp();
    };
    // Listen for the close before subscribing: a client gone meanwhile must not leave a
    // subscription (and its rescans) behind. A write to a dead socket errors here, not above.
    raw.on("close", gone);
    raw.on("error", gone);
    request.raw.on("close", () => {
      if (raw.writableEnded || raw.destroyed) gone();
    });
    const write = (text: string) => {
      if (closed || raw.destroyed) return;
      if (raw.writableLength > limits.maxStreamBacklogBytes) {
        raw.destroy();
        gone();
        return;
      }
      try {
        raw.write(text);
      } catch {
        raw.destroy();
        gone();
      }
    };
    const send = (event: string, data: unknown) =>
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    // Changes reported before the snapshot is sent wait behind it: sent first, a stale snapshot
    // would undo them on the page. (Replaying one the snapshot already holds is harmless.)
    let pending: unknown[] | null = [];
    let subscription: Awaited<ReturnType<RegistryService["subscribe"]>>;
    try {
      subscription = await service.subscribe((changes, current) => {
        const data = { changes, skipped: current.skipped };
        if (pending) pending.push(data);
        else send("changes", data);
      });
    } catch (error) {
      report(`event stream: could not subscribe: ${(error as Error)?.message ?? error}`);
      raw.destroy();
      gone();
      return;
    }
    if (closed) {
      subscription.unsubscribe();
      return;
    }
    send("snapshot", subscription.snapshot);
    for (const data of pending) send("changes", data);
    pending = null;
    const heartbeat = setInterval(() => write(": keep-alive\n\n"), limits.heartbeatMs);
    cleanUp = () => {
      clearInterval(heartbeat);
      subscription.unsubscribe();
    };
  });

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
  if (request.routeOptions.url === "/api/events") {
    const query = request.query as { token?: unknown };
    return typeof query.token === "string" ? query.token : undefined;
  }
  return undefined;
}

/** Answers with a refusal; `close` ends the connection after it (an unread body is not awaited). */
function refuse(reply: FastifyReply, answer: Refusal, close = false): FastifyReply {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  if (close) reply.header("connection", "close");
  return reply
    .code(answer.status)
    .type("application/json; charset=utf-8")
    .send({ error: { code: answer.code, message: answer.message } });
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RegistryError("INVALID_ARGUMENT", "the request body must be a JSON object", {});
  }
  return body as Record<string, unknown>;
}

function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== "string")
    throw new RegistryError("INVALID_ARGUMENT", `${name} must be a string`, { field: name });
  return value;
}

function optionalString(body: Record<string, unknown>, name: string): string | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string")
    throw new RegistryError("INVALID_ARGUMENT", `${name} must be a string`, { field: name });
  return value;
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value))
    throw new RegistryError("INVALID_ARGUMENT", "limit must be a non-negative integer", {
      limit: value,
    });
  return Number(value);
}

const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
