/**
 * The local HTTP service: the JSON API a launcher UI calls (one route per service operation), a
 * Server-Sent Events change feed, and the web page. Bound to 127.0.0.1 by the caller.
 *
 * Security: every `/api` call needs the per-install token (`Authorization: Bearer …`, or
 * `?token=` for the event stream, which browsers cannot give headers); requests whose `Host` or
 * `Origin` is not this service's own are refused (DNS rebinding); bodies are capped; no CORS
 * headers are ever sent; the page is served from memory under three fixed routes.
 */

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { ERROR_TABLE, RegistryError } from "../core/errors.js";
import { agentJson, type RegistryService } from "../service.js";
import { loadAssets } from "./assets.js";
import type { ChangeFeed } from "./feed.js";
import { tokensMatch } from "./token.js";

export const BODY_LIMIT = 64 * 1024;

export interface HttpOptions {
  service: RegistryService;
  feed: ChangeFeed;
  token: string;
  /** The port the service is reachable on: `Host` and `Origin` must name it. */
  port: () => number;
}

type IdParams = { Params: { id: string } };

export function buildHttp(options: HttpOptions): FastifyInstance {
  const { service, feed, token } = options;
  const app = Fastify({ bodyLimit: BODY_LIMIT, logger: false });
  const assets = loadAssets();

  app.addHook("onRequest", async (request, reply) => {
    const port = options.port();
    const hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
    if (!hosts.has(String(request.headers.host ?? "").toLowerCase())) {
      return refuse(
        reply,
        403,
        "FORBIDDEN_HOST",
        "this service only answers to 127.0.0.1 and localhost",
      );
    }
    const origin = request.headers.origin;
    if (
      origin !== undefined &&
      ![...hosts].some((host) => origin.toLowerCase() === `http://${host}`)
    ) {
      return refuse(reply, 403, "FORBIDDEN_ORIGIN", "cross-origin requests are refused");
    }
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
    reply.header("cache-control", "no-store");
    if (request.url.startsWith("/api/") && !tokensMatch(tokenOf(request), token)) {
      return refuse(
        reply,
        401,
        "UNAUTHORIZED",
        "a valid token is required (see the URL the service printed)",
      );
    }
  });

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof RegistryError) {
      return reply
        .code(ERROR_TABLE[error.code].http)
        .send({ error: { code: error.code, message: error.message, ...error.data } });
    }
    const status =
      typeof (error as { statusCode?: unknown }).statusCode === "number"
        ? (error as { statusCode: number }).statusCode
        : 500;
    if (status === 413)
      return refuse(
        reply,
        413,
        "BODY_TOO_LARGE",
        `request bodies are limited to ${BODY_LIMIT} bytes`,
      );
    if (status >= 400 && status < 500)
      return refuse(reply, status, "INVALID_ARGUMENT", (error as Error).message);
    return refuse(reply, 500, "UNEXPECTED", "unexpected error");
  });
  app.setNotFoundHandler((_request, reply) => refuse(reply, 404, "NOT_FOUND", "no such route"));

  for (const [route, asset] of assets) {
    app.get(route, async (_request, reply) => {
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
    await feed.rescan();
    return reply
      .code(201)
      .send({ agent: agentJson(created.record), working_dir_path: created.workingDir });
  });

  app.get<IdParams>("/api/agents/:id", async (request) => {
    const record = await service.registry
      .get(request.params.id);
    if (record) return { agent: agentJson(record), retired: false };
    const retired = (await service.listRetired()).find(
      (r) => r.data.instance_id === request.params.id,
    );
    if (retired) return { agent: agentJson(retired), retired: true };
    throw new RegistryError("AGENT_NOT_FOUND", `no agent ${JSON.stringify(request.params.id)}`, {
      id: request.params.id,
    });
  });

  app.post<IdParams & { Body: unknown }>("/api/agents/:id/continue", async (request) => {
    const body = request.body === undefined ? {} : objectBody(request.body);
    const sessionId = optionalString(body, "sessionId") ?? undefined;
    const result = await service.continueAgent(request.params.id, { sessionId });
    await feed.rescan();
    return {
      agent: agentJson(result.record),
      working_dir_path: result.workingDir,
      resume_command: `cd ${shellQuote(result.workingDir)} && agentmux-registry continue ${result.record.data.instance_id} --exec -- ${shellQuote(result.record.data.definition_id)}`,
    };
  });

  app.post<IdParams>("/api/agents/:id/forget", async (request) => {
    const moved = await service.forgetAgent(request.params.id);
    await feed.rescan();
    return { id: request.params.id, moved };
  });

  app.post<IdParams>("/api/agents/:id/restore", async (request) => {
    const moved = await service.restoreAgent(request.params.id);
    await feed.rescan();
    return { id: request.params.id, moved };
  });

  app.post<IdParams & { Body: unknown }>("/api/agents/:id/rename", async (request) => {
    const name = stringField(objectBody(request.body), "name");
    const changed = await service.renameAgent(request.params.id, name);
    await feed.rescan();
    return { id: request.params.id, name, changed };
  });

  app.delete<IdParams>("/api/agents/:id", async (request) => {
    const removed = await service.deleteAgent(request.params.id);
    await feed.rescan();
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
    reply.hijack();
    const raw = reply.raw;
    streams.add(raw);
    raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    const send = (event: string, data: unknown) =>
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // Changes reported before the snapshot is sent wait behind it: sent first, a stale snapshot
    // would undo them on the page. (Replaying one the snapshot already holds is harmless.)
    let pending: unknown[] | null = [];
    // Listen for the close before subscribing: a client gone meanwhile must not leave a
    // subscription (and its rescans) behind.
    let closed = false;
    let cleanUp = () => {};
    request.raw.on("close", () => {
      closed = true;
      streams.delete(raw);
      cleanUp();
    });
    const { snapshot, unsubscribe } = await feed.subscribe((changes, current) => {
      const data = { changes, skipped: current.skipped };
      if (pending) pending.push(data);
      else send("changes", data);
    });
    if (closed) {
      unsubscribe();
      return;
    }
    send("snapshot", snapshot);
    for (const data of pending) send("changes", data);
    pending = null;
    const heartbeat = setInterval(() => raw.write(": keep-alive\n\n"), 15_000);
    cleanUp = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
  });

  return app;
}

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.startsWith("Bearer "))
    return header.slice("Bearer ".length).trim();
  if (request.url.startsWith("/api/events")) {
    const query = request.query as { token?: unknown };
    return typeof query.token === "string" ? query.token : undefined;
  }
  return undefined;
}

function refuse(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply
    .code(status)
    .type("application/json; charset=utf-8")
    .send({ error: { code, message } });
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
