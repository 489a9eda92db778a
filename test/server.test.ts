import assert from "node:assert/strict";
import * as fs from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ChangeEvent } from "../src/api.js";
import { Registry, RegistryService } from "../src/index.js";
import { loadOrCreateToken, TOKEN_FILE } from "../src/io/token-file.js";
import { LiveIndex } from "../src/live-index.js";
import { shellQuote } from "../src/present.js";
import { BODY_LIMIT, buildHttp } from "../src/server/http.js";
import { startServer } from "../src/server/serve.js";
import { makeRecord, sseReader, tempRegistry } from "./helpers.js";

const PORT = 47999;
const HOST = `127.0.0.1:${PORT}`;

async function setup(t: Parameters<typeof tempRegistry>[0]) {
  const { registry, root, dir } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  const service = new RegistryService(registry, { version: "1.0.0", now: () => 1_900_000_000_000 });
  const token = service.loadOrCreateToken();
  const app = buildHttp({ service, token, port: () => PORT });
  t.after(async () => {
    await app.close();
    service.close();
  });
  const call = (
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    app.inject({
      method: method as "GET",
      url,
      headers: { host: HOST, authorization: `Bearer ${token}`, ...headers },
      ...(body === undefined ? {} : { payload: body as object }),
    });
  return { registry, root, dir, service, app, token, call };
}

describe("HTTP API", () => {
  test("every route does what the service does", async (t) => {
    const { registry, call } = await setup(t);
    await registry.upsert(makeRecord("old", { last_launched_at_ms: 1, definition_id: "gemini" }));

    const created = await call("POST", "/api/agents", {
      name: "Live Log",
      definitionId: "claude-code",
    });
    assert.equal(created.statusCode, 201);
    const id = created.json().agent.instance_id as string;
    assert.ok(fs.statSync(created.json().working_dir_path).isDirectory());

    const list = await call("GET", "/api/agents");
    assert.deepEqual(
      list.json().agents.map((a: { instance_id: string }) => a.instance_id),
      [id, "old"],
    );
    assert.deepEqual(
      (await call("GET", "/api/agents?definitionId=gemini&limit=5")).json().agents.length,
      1,
    );
    assert.equal((await call("GET", `/api/agents/${id}`)).json().agent.instance_name, "Live Log");

    const continued = await call("POST", `/api/agents/${id}/continue`, { sessionId: "s-1" });
    assert.equal(continued.statusCode, 200);
    assert.equal(continued.json().agent.session_id, "s-1");
    assert.equal(
      continued.json().resume_command,
      `cd ${shellQuote(continued.json().working_dir_path)} && agentmux-registry continue ${id} --session s-1 --exec --`,
    );

    assert.equal(
      (await call("POST", `/api/agents/${id}/rename`, { name: "Renamed" })).json().changed,
      1,
    );
    assert.equal((await call("POST", `/api/agents/${id}/forget`)).json().moved, 1);
    assert.equal((await call("GET", "/api/trash")).json().agents[0].instance_name, "Renamed");
    assert.equal((await call("GET", `/api/agents/${id}`)).json().retired, true);
    assert.equal((await call("POST", `/api/agents/${id}/restore`)).json().moved, 1);
    assert.equal((await call("DELETE", `/api/agents/${id}`)).json().removed, 1);
    const doctor = await call("GET", "/api/doctor");
    assert.equal(doctor.statusCode, 200);
    assert.ok(Array.isArray(doctor.json().problems));
  });

  test("error codes map to HTTP statuses from the shared table", async (t) => {
    const { registry, call } = await setup(t);
    await registry.upsert(makeRecord("nodir"));
    const expectError = async (
      response: Awaited<ReturnType<typeof call>>,
      status: number,
      code: string,
    ) => {
      assert.equal(response.statusCode, status, response.body);
      assert.equal(response.json().error.code, code);
    };
    await expectError(await call("GET", "/api/agents/missing"), 404, "AGENT_NOT_FOUND");
    await expectError(await call("GET", "/api/agents/..%2F..%2Fetc"), 400, "INVALID_ID");
    await expectError(
      await call("POST", "/api/agents/nodir/continue", {}),
      404,
      "WORKING_DIR_MISSING",
    );
    await expectError(await call("POST", "/api/agents/nodir/restore"), 409, "CONFLICT");
    await expectError(
      await call("POST", "/api/agents/nodir/rename", { name: 5 }),
      400,
      "INVALID_ARGUMENT",
    );
    await expectError(await call("POST", "/api/agents", [1, 2]), 400, "INVALID_ARGUMENT");
    await expectError(await call("GET", "/api/agents?limit=-1"), 400, "INVALID_ARGUMENT");
    await expectError(await call("GET", "/api/nope"), 404, "NOT_FOUND");
  });

  test("the token is required on every API route", async (t) => {
    const { call } = await setup(t);
    for (const [method, url] of [
      ["GET", "/api/agents"],
      ["POST", "/api/agents"],
      ["GET", "/api/trash"],
      ["GET", "/api/doctor"],
      ["GET", "/api/events"],
      ["DELETE", "/api/agents/x"],
    ] as const) {
      const missing = await call(method, url, undefined, { authorization: "" });
      assert.equal(missing.statusCode, 401, `${method} ${url}`);
      const wrong = await call(method, url, undefined, {
        authorization: `Bearer ${"0".repeat(64)}`,
      });
      assert.equal(wrong.statusCode, 401, `${method} ${url}`);
    }
    // The query token is accepted only by the event stream (EventSource cannot send headers).
    const { token } = await setup(t);
    assert.equal(
      (await call("GET", `/api/agents?token=${token}`, undefined, { authorization: "" }))
        .statusCode,
      401,
    );
  });

  test("a foreign Host or Origin is refused (DNS rebinding), the page's own origin is fine", async (t) => {
    const { call } = await setup(t);
    assert.equal(
      (await call("GET", "/api/agents", undefined, { host: "evil.example" })).statusCode,
      403,
    );
    assert.equal(
      (await call("GET", "/api/agents", undefined, { host: `evil.example:${PORT}` })).statusCode,
      403,
    );
    assert.equal(
      (await call("GET", "/api/agents", undefined, { host: "127.0.0.1:1" })).statusCode,
      403,
    );
    assert.equal((await call("GET", "/", undefined, { host: "evil.example" })).statusCode, 403);
    assert.equal(
      (await call("GET", "/api/agents", undefined, { origin: "http://evil.example" })).statusCode,
      403,
    );
    assert.equal((await call("GET", "/api/agents", undefined, { origin: "null" })).statusCode, 403);
    const same = await call("GET", "/api/agents", undefined, {
      origin: `http://${HOST}`,
      host: `localhost:${PORT}`,
    });
    assert.equal(same.statusCode, 200);
    assert.equal(same.headers["access-control-allow-origin"], undefined, "no CORS, ever");
  });

  test("oversized bodies are refused", async (t) => {
    const { call } = await setup(t);
    const big = { name: "x".repeat(BODY_LIMIT), definitionId: "d" };
    const response = await call("POST", "/api/agents", big);
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error.code, "BODY_TOO_LARGE");
  });

  test("the page is served from three fixed routes; no path reaches the file system", async (t) => {
    const { call } = await setup(t);
    const page = await call("GET", "/", undefined, { authorization: "" });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers["content-type"] as string, /text\/html/);
    assert.match(page.headers["content-security-policy"] as string, /default-src 'none'/);
    assert.equal(
      (await call("GET", "/style.css", undefined, { authorization: "" })).statusCode,
      200,
    );
    for (const url of [
      "/index.html",
      "/../package.json",
      "/web/",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/dist/web/app.js",
    ]) {
      assert.equal((await call("GET", url, undefined, { authorization: "" })).statusCode, 404, url);
    }
  });
});

describe("token", () => {
  test("created once with mode 0600, then reused", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const first = loadOrCreateToken(registry.root);
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(fs.statSync(join(root, TOKEN_FILE)).mode & 0o777, 0o600);
    assert.equal(loadOrCreateToken(registry.root), first);
    // A file that holds no token is never silently replaced (a racing start could be serving
    // the old one): refused, with the fix in the message.
    fs.writeFileSync(join(root, TOKEN_FILE), "short");
    assert.throws(
      () => loadOrCreateToken(registry.root),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, "INVALID_FILE");
        assert.match(error.message, /does not hold a token.*rm '/);
        return true;
      },
    );
    fs.rmSync(join(root, TOKEN_FILE));
    assert.notEqual(loadOrCreateToken(registry.root), first, "a deleted token is replaced");
  });
});

describe("change feed", () => {
  test("reports creates, updates, retires, restores and deletes made by another writer", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("a"));
    const feed = new LiveIndex(registry, { rescanMs: 60_000 });
    t.after(() => feed.close());
    const seen: ChangeEvent[] = [];
    const { snapshot } = await feed.subscribe((changes) => seen.push(...changes));
    assert.deepEqual(
      snapshot.active.map((a) => a.instance_id),
      ["a"],
    );
    const other = await Registry.open(root);
    const step = async (work: () => Promise<unknown>) => {
      await work();
      await feed.fresh();
    };
    await step(() => other.upsert(makeRecord("b")));
    await step(() => other.upsert(makeRecord("a", { instance_name: "renamed" })));
    await step(() => other.retire("b"));
    await step(() => other.unretire("b"));
    await step(() => other.hardDelete("a"));
    assert.deepEqual(
      seen.map((c) => `${c.type}:${c.id}:${c.tree}`),
      [
        "created:b:active",
        "updated:a:active",
        "retired:b:retired",
        "restored:b:active",
        "deleted:a:null",
      ],
    );
  });

  test("fs.watch hints make a change arrive without an explicit rescan", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const feed = new LiveIndex(registry, { rescanMs: 60_000, debounceMs: 20 });
    t.after(() => feed.close());
    const arrived = new Promise<ChangeEvent[]>((resolve) => {
      void feed.subscribe((changes) => resolve(changes));
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await (await Registry.open(root)).upsert(makeRecord("watched"));
    const changes = await arrived;
    assert.equal(changes[0]?.id, "watched");
  });

  test("the periodic rescan finds changes even without watch events", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const feed = new LiveIndex(registry, { rescanMs: 100, debounceMs: 60_000 });
    t.after(() => feed.close());
    const arrived = new Promise<ChangeEvent[]>((resolve) => {
      void feed.subscribe((changes) => resolve(changes));
    });
    await (await Registry.open(root)).upsert(makeRecord("polled"));
    assert.equal((await arrived)[0]?.type, "created");
  });
});

describe("served on loopback", () => {
  test("listens on 127.0.0.1 only and streams a snapshot, then live changes", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("first"));
    const service = new RegistryService(registry, { version: "1.0.0", feed: { debounceMs: 20 } });
    const server = await startServer(service, { port: 0 });
    t.after(() => server.close());
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}$/);

    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const request = get(
        {
          host: "127.0.0.1",
          port: server.port,
          path: `/api/events?token=${server.token}`,
          headers: { host: `127.0.0.1:${server.port}` },
        },
        (response) => {
          assert.equal(response.statusCode, 200);
          assert.match(response.headers["content-type"] as string, /text\/event-stream/);
          response.setEncoding("utf8");
          response.on(
            "data",
            sseReader((event, data) => {
              events.push(event);
              if (event === "snapshot") {
                assert.deepEqual(
                  JSON.parse(data).active.map((a: { instance_id: string }) => a.instance_id),
                  ["first"],
                );
                void Registry.open(root).then((other) => other.upsert(makeRecord("second")));
              } else if (event === "changes") {
                assert.equal(JSON.parse(data).changes[0].id, "second");
                request.destroy();
                resolve();
              }
            }),
          );
        },
      );
      request.on("error", (error) => {
        if (!events.includes("changes")) reject(error);
      });
    });
    await done;
    assert.deepEqual(events, ["snapshot", "changes"]);
  });
});
