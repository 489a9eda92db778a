/**
 * `/api/events`: the change feed as Server-Sent Events — a `snapshot` on connect, then `changes`
 * made by anyone (src/api.ts: Snapshot, ChangesMessage). Streams are capped (503) and cut when
 * their reader stops reading; the service's own close ends them.
 */

import type { FastifyInstance, FastifyReply } from "fastify";
import {
  type ChangesMessage,
  ChangesMessageSchema,
  EventsQuerySchema,
  SnapshotSchema,
} from "../../api.js";
import type { RegistryService } from "../../service.js";
import { refusal, refuse } from "../refusal.js";
import { ERROR_RESPONSES, type RouteConfig, type RouteContext } from "./context.js";

const config: RouteConfig = { tokenInQuery: true };

export async function eventRoutes(
  app: FastifyInstance,
  { service, limits, report }: RouteContext,
): Promise<void> {
  // Open event streams never end by themselves: without ending them here, `close()` (Ctrl-C,
  // SIGTERM) would wait for every open page to go away.
  const streams = new Set<FastifyReply["raw"]>();
  app.addHook("preClose", (done) => {
    for (const stream of streams) stream.end();
    done();
  });

  app.get(
    "/events",
    {
      config,
      schema: {
        operationId: "events",
        summary: "The change feed (Server-Sent Events)",
        tags: ["agents"],
        querystring: EventsQuerySchema,
        response: {
          200: {
            description:
              "An event stream: `snapshot` (a Snapshot) on connect, then `changes` (a " +
              "ChangesMessage) whenever any process changes the registry; comment lines keep it alive",
            content: {
              "text/event-stream": {
                schema: { type: "string" },
                "x-events": { snapshot: SnapshotSchema, changes: ChangesMessageSchema },
              },
            },
          },
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
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
      // subscription behind. A write to a dead socket errors here, not above.
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
      const send = (event: "snapshot" | "changes", data: unknown) =>
        write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-content-type-options": "nosniff",
      });
      // Changes reported before the snapshot is sent wait behind it: sent first, a stale snapshot
      // would undo them on the page. (Replaying one the snapshot already holds is harmless.)
      let pending: ChangesMessage[] | null = [];
      let subscription: Awaited<ReturnType<RegistryService["subscribe"]>>;
      try {
        subscription = await service.subscribe((changes, current) => {
          const data: ChangesMessage = { changes, skipped: current.skipped };
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
    },
  );
}
