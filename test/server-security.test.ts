/**
 * The service over real sockets: access decided on the route matched (however a request spells
 * its path), one error contract for every response, timeouts and caps. Requests are written byte
 * for byte on raw sockets (node:net), so request lines are exactly what each test says.
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { connect } from "node:net";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { RegistryService } from "../src/index.js";
import type { HttpLimits } from "../src/server/limits.js";
import { startServer } from "../src/server/serve.js";
import { isOwnLockHolder, makeRecord, tempRegistry } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Raw HTTP over node:net

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface Exchange {
  /** The first response, `null` when none (or only part of one) arrived. */
  response: RawResponse | null;
  /** Whether the server closed the connection before the wait ended. */
  closed: boolean;
  /** Everything received. */
  raw: string;
}

function parseResponse(raw: string, head = false): RawResponse | null {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine = "", ...lines] = raw.slice(0, end).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (!status) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(end + 4);
  const length = headers["content-length"];
  if (head) body = "";
  else if (length !== undefined) {
    // Bodies here are ASCII JSON or page files; compare in bytes all the same.
    const bytes = Buffer.from(body);
    if (bytes.length < Number(length)) return null;
    body = bytes.subarray(0, Number(length)).toString();
  }
  return { status: Number(status), headers, body };
}

/**
 * Writes `request` on a fresh connection and waits until the server closes it or `waitMs`
 * passes (or, with `untilResponse`, until one complete response has arrived).
 */
function exchange(
  port: number,
  request: string | Buffer,
  options: { waitMs?: number; untilResponse?: boolean } = {},
): Promise<Exchange> {
  const { waitMs = 3_000, untilResponse = false } = options;
  const isHead = request.toString().startsWith("HEAD ");
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let raw = "";
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response: parseResponse(raw, isHead), closed, raw });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      raw += chunk;
      if (untilResponse && parseResponse(raw, isHead)) finish(false);
    });
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.write(request);
  });
}

/** A connected socket that sends `request` (maybe nothing) and is left open. */
function hold(port: number, request = ""): Promise<import("node:net").Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => resolve(socket));
    socket.on("error", reject);
    if (request) socket.write(request);
  });
}

/** Code → HTTP status, from both tables of docs/ERRORS.md. */
const STATUS_OF = (() => {
  const doc = fs.readFileSync(join(import.meta.dirname, "..", "docs", "ERRORS.md"), "utf8");
  const httpOnlyAt = doc.indexOf("## HTTP-only codes");
  const nextAt = doc.indexOf("\n## ", httpOnlyAt + 1);
  const statuses = new Map<string, number>();
  const cellsOf = (line: string) => line.split("|").map((cell) => cell.trim());
  for (const line of doc
    .slice(0, doc.indexOf("\n## ", doc.indexOf("## Error codes") + 1))
    .split("\n")) {
    const cells = cellsOf(line);
    const code = /^`([A-Z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (code && line.startsWith("|")) statuses.set(code, Number(cells[4]));
  }
  for (const line of doc.slice(httpOnlyAt, nextAt).split("\n")) {
    const cells = cellsOf(line);
    const code = /^`([A-Z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (code && line.startsWith("|")) statuses.set(code, Number(cells[2]));
  }
  return statuses;
})();

/** The response follows the contract: `{ error: { code, message } }` with its code's status. */
function assertContract(response: RawResponse | null, context: string): string {
  assert.ok(response, `${context}: no response`);
  assert.match(response.headers["content-type"] ?? "", /^application\/json/, context);
  const parsed = JSON.parse(response.body) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(typeof parsed.error?.code, "string", `${context}: ${response.body}`);
  assert.equal(typeof parsed.error?.message, "string", `${context}: ${response.body}`);
  const code = parsed.error?.code as string;
  assert.equal(
    response.status,
    STATUS_OF.get(code),
    `${context}: ${code} is documented with another status (${response.body})`,
  );
  return code;
}

/** Every file and directory under `dir` with its bytes. */
function treeBytes(dir: string): Map<string, string> {
  const tree = new Map<string, string>();
  const walk = (path: string) => {
    for (const entry of fs.readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      const key = relative(dir, full);
      if (entry.isDirectory()) {
        tree.set(key, "<dir>");
        walk(full);
      } else if (entry.isFile()) {
        // A live registry keeps a lock holder file naming this process; it is not data.
        if (isOwnLockHolder(path, entry.name)) continue;
        tree.set(key, fs.readFileSync(full).toString("base64"));
      } else {
        tree.set(key, "<other>");
      }
    }
  };
  walk(dir);
  return tree;
}

const SECRET_ID = "secret-agent-4711";
const SECRET_NAME = "Top Secret Name";

async function serve(t: Parameters<typeof tempRegistry>[0], limits: Partial<HttpLimits> = {}) {
  const { registry, root, dir } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  await registry.upsert(makeRecord(SECRET_ID, { instance_name: SECRET_NAME }));
  fs.mkdirSync(join(registry.agentsBase, `${SECRET_ID}-wd`), { recursive: true });
  const service = new RegistryService(registry, { version: "1.0.0", feed: { rescanMs: 60_000 } });
  const reports: string[] = [];
  const server = await startServer(service, {
    port: 0,
    limits,
    report: (message) => reports.push(message),
  });
  t.after(() => server.close());
  const host = `127.0.0.1:${server.port}`;
  /** A request with this service's Host and the given head lines. */
  const head = (requestLine: string, lines: string[] = [], body = "") =>
    `${requestLine}\r\nHost: ${host}\r\n${lines.map((line) => `${line}\r\n`).join("")}${
      body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""
    }\r\n${body}`;
  const auth = `Authorization: Bearer ${server.token}`;
  return { registry, root, dir, server, port: server.port, host, head, auth, reports };
}

const isActive = (root: string, id: string) => fs.existsSync(join(root, `${id}.json`));

// ---------------------------------------------------------------------------------------------

describe("access is decided on the route matched, not on the request's spelling", () => {
  test("percent-encoded and absolute-form paths get no data and change nothing", async (t) => {
    const { root, port, head, host } = await serve(t);
    const before = treeBytes(join(root, ".."));

    const list = await exchange(port, head("GET /%61pi/agents HTTP/1.1", ["Connection: close"]));
    assert.equal(assertContract(list.response, "GET /%61pi/agents"), "UNAUTHORIZED");
    assert.doesNotMatch(list.raw, new RegExp(SECRET_ID));

    const del = await exchange(
      port,
      head(`DELETE /%61pi/agents/${SECRET_ID} HTTP/1.1`, ["Connection: close"]),
    );
    assert.equal(assertContract(del.response, "DELETE /%61pi"), "UNAUTHORIZED");
    assert.ok(isActive(root, SECRET_ID));

    const forget = await exchange(
      port,
      head(`POST /%61pi/agents/${SECRET_ID}/forget HTTP/1.1`, ["Content-Type: text/plain"], "x"),
    );
    assert.equal(assertContract(forget.response, "text/plain forget"), "UNAUTHORIZED");
    assert.ok(isActive(root, SECRET_ID));

    const events = await exchange(port, head("GET /%61pi/events HTTP/1.1"), { waitMs: 1_000 });
    assert.equal(assertContract(events.response, "GET /%61pi/events"), "UNAUTHORIZED");
    assert.doesNotMatch(events.raw, /event: snapshot/);

    for (const authority of [host, `localhost:${port}`, "evil.example"]) {
      const created = await exchange(
        port,
        head(
          `POST http://${authority}/api/agents HTTP/1.1`,
          ["Content-Type: application/json"],
          JSON.stringify({ name: "Intruder", definitionId: "x" }),
        ),
      );
      const code = assertContract(created.response, `absolute form ${authority}`);
      assert.ok(code === "BAD_REQUEST" || code === "FORBIDDEN_HOST", code);
      assert.ok(created.closed, "the connection is closed after a refusal");
    }
    assert.deepEqual(treeBytes(join(root, "..")), before, "nothing on disk changed");
  });

  test("a refusal comes before the body is read and closes the connection", async (t) => {
    // A cap above the 300 connections, so that each must be answered and let go on its own.
    const { port, head } = await serve(t, { maxConnections: 1_000 });
    // 300 POSTs that declare a body and never send it: each is refused at once and let go.
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 300 }, () =>
        exchange(
          port,
          head("POST /api/agents HTTP/1.1", [
            "Content-Type: application/json",
            "Content-Length: 1000",
          ]),
          { waitMs: 5_000 },
        ),
      ),
    );
    for (const result of results) {
      assert.equal(assertContract(result.response, "body never sent"), "UNAUTHORIZED");
      assert.ok(result.closed, "the server closed the connection");
    }
    assert.ok(Date.now() - started < 5_000);
    // The service still answers afterwards.
    const after = await exchange(port, head("GET / HTTP/1.1", ["Connection: close"]));
    assert.equal(after.response?.status, 200);
  });

  test("the Host check comes first: over the cap, on bad URLs, on long paths", async (t) => {
    const { port } = await serve(t, { maxConnections: 2 });
    const foreign = (line: string) => `${line}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`;
    for (const line of [
      "GET /%zz HTTP/1.1",
      `GET /api/agents/${"a".repeat(3_000)} HTTP/1.1`,
      "GET http://evil.example/api/agents HTTP/1.1",
      "GET /api/agents HTTP/1.1",
    ]) {
      const result = await exchange(port, foreign(line));
      assert.equal(assertContract(result.response, line), "FORBIDDEN_HOST");
    }
    const noHost = await exchange(port, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(assertContract(noHost.response, "no Host"), "FORBIDDEN_HOST");
    const twoHosts = await exchange(
      port,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(assertContract(twoHosts.response, "two Hosts"), "FORBIDDEN_HOST");
    // Over the connection cap, a foreign Host still hears FORBIDDEN_HOST, not SERVICE_BUSY.
    const idle = [await hold(port), await hold(port)];
    t.after(() => {
      for (const socket of idle) socket.destroy();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const busy = await exchange(port, foreign("GET / HTTP/1.1"));
    assert.equal(assertContract(busy.response, "over the cap"), "FORBIDDEN_HOST");
  });
});

describe("one error contract for every response", () => {
  test("framework errors answer in the contract shape with their documented status", async (t) => {
    const { port, head, auth } = await serve(t);
    const cases: [string, string[], string, string][] = [
      ["GET /%zz HTTP/1.1", [], "", "BAD_REQUEST"],
      ["GET /api/agents/%zz HTTP/1.1", [auth], "", "BAD_REQUEST"],
      [`GET /api/agents/${"a".repeat(3_000)} HTTP/1.1`, [auth], "", "URI_TOO_LONG"],
      [
        "POST /api/agents HTTP/1.1",
        [auth, "Content-Type: application/json"],
        "{ not json",
        "BAD_REQUEST",
      ],
      [
        "POST /api/agents HTTP/1.1",
        [auth, "Content-Type: text/plain"],
        "hello",
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      [
        "POST /api/agents HTTP/1.1",
        [auth, "Content-Type: application/xml"],
        "<a/>",
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      [
        "POST /api/agents HTTP/1.1",
        [auth, "Content-Type: application/json"],
        JSON.stringify({ name: "x".repeat(70_000), definitionId: "d" }),
        "BODY_TOO_LARGE",
      ],
      ["PUT /api/agents HTTP/1.1", [], "", "NOT_FOUND"],
      ["OPTIONS /api/agents HTTP/1.1", [], "", "NOT_FOUND"],
      ["GET /nope HTTP/1.1", [], "", "NOT_FOUND"],
      ["GET /api/agents HTTP/1.1", [], "", "UNAUTHORIZED"],
      ["GET /api/agents HTTP/1.1", ["Origin: http://evil.example"], "", "FORBIDDEN_ORIGIN"],
      ["OPTIONS * HTTP/1.1", [], "", "BAD_REQUEST"],
      [`GET /api/agents/${"b".repeat(129)} HTTP/1.1`, [auth], "", "INVALID_ID"],
      ["GET /api/agents/..%2F..%2Fetc HTTP/1.1", [auth], "", "INVALID_ID"],
    ];
    for (const [line, lines, body, expected] of cases) {
      const result = await exchange(port, head(line, ["Connection: close", ...lines], body));
      assert.equal(assertContract(result.response, line.slice(0, 80)), expected, line.slice(0, 80));
      assert.doesNotMatch(result.raw, /FST_ERR|statusCode/, "no framework error shape");
    }
  });

  test("a valid id of up to 128 characters works on every route", async (t) => {
    const { registry, port, head, auth } = await serve(t);
    for (const length of [101, 120, 128]) {
      const id = `${"i".repeat(length - 1)}d`;
      await registry.upsert(makeRecord(id));
      fs.mkdirSync(join(registry.agentsBase, `${id}-wd`), { recursive: true });
      const json = ["Content-Type: application/json"];
      const steps: [string, string[], string, number][] = [
        [`GET /api/agents/${id}`, [], "", 200],
        [`POST /api/agents/${id}/continue`, json, "{}", 200],
        [`POST /api/agents/${id}/rename`, json, JSON.stringify({ name: "Long" }), 200],
        [`POST /api/agents/${id}/forget`, [], "", 200],
        [`POST /api/agents/${id}/restore`, [], "", 200],
        [`DELETE /api/agents/${id}`, [], "", 200],
        [`GET /api/agents/${id}`, [], "", 404],
      ];
      for (const [target, lines, body, status] of steps) {
        const result = await exchange(
          port,
          head(`${target} HTTP/1.1`, [auth, "Connection: close", ...lines], body),
        );
        assert.equal(result.response?.status, status, `${length}: ${target}: ${result.raw}`);
        if (status === 404)
          assert.equal(assertContract(result.response, target), "AGENT_NOT_FOUND");
      }
    }
  });
});

describe("requests, heads and bodies time out; connections and streams are capped", () => {
  test("a slow body is cut with 408 REQUEST_TIMEOUT", async (t) => {
    const { port, head, auth } = await serve(t, { requestTimeoutMs: 300, headersTimeoutMs: 200 });
    const started = Date.now();
    const result = await exchange(
      port,
      head(
        "POST /api/agents HTTP/1.1",
        [auth, "Content-Type: application/json", "Content-Length: 100"],
        "",
      ).concat('{"name":'),
      { waitMs: 4_000 },
    );
    assert.equal(assertContract(result.response, "slow body"), "REQUEST_TIMEOUT");
    assert.ok(result.closed);
    assert.ok(Date.now() - started < 3_000);
  });

  test("a head that never ends is closed without an answer (no Host to check)", async (t) => {
    const { port, host } = await serve(t, { requestTimeoutMs: 300, headersTimeoutMs: 200 });
    const result = await exchange(port, `GET /api/agents HTTP/1.1\r\nHost: ${host}\r\n`, {
      waitMs: 4_000,
    });
    assert.ok(result.closed, "closed");
    assert.equal(result.raw, "", "nothing was sent");
    const silent = await exchange(port, "", { waitMs: 4_000 });
    assert.ok(silent.closed, "a connection that sends nothing is closed too");
    assert.equal(silent.raw, "");
  });

  test("connections over the cap get 503 SERVICE_BUSY; freed slots serve again", async (t) => {
    const { port, head } = await serve(t, { maxConnections: 3 });
    const idle = await Promise.all([hold(port), hold(port), hold(port)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const busy = await exchange(port, head("GET / HTTP/1.1", ["Connection: close"]));
    assert.equal(assertContract(busy.response, "over the cap"), "SERVICE_BUSY");
    for (const socket of idle) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const served = await exchange(port, head("GET / HTTP/1.1", ["Connection: close"]));
    assert.equal(served.response?.status, 200);
  });

  test("event streams over the cap get 503 SERVICE_BUSY", async (t) => {
    // Fast heartbeats: writes to streams whose client is gone must not hurt anything.
    const { port, head, server } = await serve(t, { maxEventStreams: 2, heartbeatMs: 10 });
    const streamRequest = head(`GET /api/events?token=${server.token} HTTP/1.1`);
    const open = await Promise.all([hold(port, streamRequest), hold(port, streamRequest)]);
    t.after(() => {
      for (const socket of open) socket.destroy();
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const third = await exchange(port, streamRequest, { waitMs: 1_500, untilResponse: true });
    assert.equal(assertContract(third.response, "third stream"), "SERVICE_BUSY");
    open[0]?.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await exchange(port, streamRequest, { waitMs: 1_500, untilResponse: true });
    assert.equal(again.response?.status, 200);
    assert.match(again.response?.headers["content-type"] ?? "", /text\/event-stream/);
  });
});

// ---------------------------------------------------------------------------------------------
// Generative: no spelling of a request target reaches an /api route without the token.

const SEED = 20_261_130;
/** Every route with the methods it answers to (the generator favours those). */
const ROUTES: [string, string[]][] = [
  ["/api/agents", ["GET", "POST", "HEAD"]],
  [`/api/agents/${SECRET_ID}`, ["GET", "DELETE", "HEAD"]],
  [`/api/agents/${SECRET_ID}/continue`, ["POST"]],
  [`/api/agents/${SECRET_ID}/forget`, ["POST"]],
  [`/api/agents/${SECRET_ID}/restore`, ["POST"]],
  [`/api/agents/${SECRET_ID}/rename`, ["POST"]],
  ["/api/trash", ["GET", "HEAD"]],
  ["/api/doctor", ["GET", "HEAD"]],
  ["/api/events", ["GET"]],
  ["/", ["GET", "HEAD"]],
  ["/style.css", ["GET"]],
  ["/app.js", ["GET"]],
];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];

type Mutation =
  | { kind: "encode"; at: number; upper: boolean }
  | { kind: "case"; at: number }
  | { kind: "dot"; at: number; form: string }
  | { kind: "slash"; at: number; form: string }
  | { kind: "param"; at: number }
  | { kind: "trailing" };

function mutate(path: string, mutation: Mutation): string {
  const at = (n: number) => n % Math.max(1, path.length);
  switch (mutation.kind) {
    case "encode": {
      const i = at(mutation.at);
      const hex = path.charCodeAt(i).toString(16).padStart(2, "0");
      return `${path.slice(0, i)}%${mutation.upper ? hex.toUpperCase() : hex}${path.slice(i + 1)}`;
    }
    case "case": {
      const i = at(mutation.at);
      const c = path[i] ?? "";
      const flipped = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
      return `${path.slice(0, i)}${flipped}${path.slice(i + 1)}`;
    }
    case "dot":
    case "slash": {
      const slashes = [...path.matchAll(/\//g)].map((m) => m.index ?? 0);
      const i = slashes[mutation.at % slashes.length] ?? 0;
      return `${path.slice(0, i)}${mutation.form}${path.slice(i + 1)}`;
    }
    case "param": {
      const i = at(mutation.at);
      return `${path.slice(0, i)};x=1${path.slice(i)}`;
    }
    case "trailing":
      return `${path}/`;
  }
}

// Encodings that still decode to a route are the likeliest bypass: they get most of the weight.
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("encode" as const),
      at: fc.nat(),
      upper: fc.boolean(),
    }),
    weight: 6,
  },
  fc.record({ kind: fc.constant("case" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("dot" as const),
    at: fc.nat(),
    form: fc.constantFrom("/./", "/x/../", "/%2e/", "/%2E%2E/api/", "/.%2e/", "/../"),
  }),
  fc.record({
    kind: fc.constant("slash" as const),
    at: fc.nat(),
    form: fc.constantFrom("//", "\\", "/\\", "%2f", "%2F", "%5c"),
  }),
  fc.record({ kind: fc.constant("param" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("trailing" as const) }),
);

describe("generative: no request target reaches an /api route without the token", () => {
  test(`random spellings, methods and bodies (seed ${SEED})`, async (t) => {
    const { root, port, host } = await serve(t);
    const before = treeBytes(join(root, ".."));
    const targetArb = fc.record({
      route: fc.constantFrom(...ROUTES),
      ownMethod: fc.nat(),
      mutations: fc.array(mutationArb, { maxLength: 3 }),
      prefix: fc.constantFrom(
        "",
        "",
        "",
        "",
        "",
        "",
        `http://${host}`,
        `http://localhost:${port}`,
        `HTTP://${host.toUpperCase()}`,
        `//${host}`,
        "http://evil.example",
        "*",
      ),
      suffix: fc.constantFrom(
        "",
        "",
        "",
        "",
        "?x=1",
        "?token=0",
        "#/api/agents",
        "?#",
        "%23x",
        "?a=/api",
      ),
      method: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, fc.constantFrom(...METHODS)),
      body: fc.constantFrom(
        null,
        { type: "application/json", text: JSON.stringify({ name: "Intruder", definitionId: "d" }) },
        { type: "text/plain", text: "forget me" },
        { type: "application/x-www-form-urlencoded", text: "name=Intruder&definitionId=d" },
      ),
      authorization: fc.constantFrom(null, `Bearer ${"0".repeat(64)}`, "Bearer ", "Basic abc"),
    });
    const seen: string[] = [];
    await fc
      .assert(
        fc.asyncProperty(targetArb, async (input) => {
          const [route, methods] = input.route;
          const method = input.method ?? (methods[input.ownMethod % methods.length] as string);
          const path = input.mutations.reduce(mutate, route);
          const target = `${input.prefix}${path}${input.suffix}`;
          const lines = ["Connection: close"];
          if (input.authorization) lines.push(`Authorization: ${input.authorization}`);
          const body = input.body?.text ?? "";
          if (input.body) lines.push(`Content-Type: ${input.body.type}`);
          const request = `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n${lines
            .map((line) => `${line}\r\n`)
            .join("")}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`;
          const result = await exchange(port, request, { waitMs: 2_000 });
          const context = `${method} ${target}`;
          seen.push(`${result.response?.status ?? "closed"} ${context}`);
          assert.doesNotMatch(result.raw, new RegExp(`${SECRET_ID}|${SECRET_NAME}`), context);
          assert.doesNotMatch(result.raw, /event: snapshot|text\/event-stream/, context);
          const response = result.response;
          if (response === null) {
            // Only a request the parser refused is closed without an answer.
            assert.ok(result.closed, `${context}: neither answered nor closed`);
            return;
          }
          if (response.status < 300) {
            // Only the page's own files are ever served without the token.
            assert.match(
              response.headers["content-type"] ?? "",
              /^text\/(html|css|javascript)/,
              `${context}: ${response.status}`,
            );
            return;
          }
          if (method !== "HEAD") assertContract(response, context);
          else assert.ok(response.status >= 400, context);
        }),
        { seed: SEED, numRuns: 300, endOnFailure: true },
      )
      .catch((error: Error) => {
        throw new Error(`generative access test failed (seed ${SEED}): ${error.message}`);
      });
    assert.equal(seen.length, 300);
    if (process.env.AMR_SHOW) console.log(seen.join("\n"));
    assert.deepEqual(treeBytes(join(root, "..")), before, "nothing on disk changed");
    assert.ok(isActive(root, SECRET_ID));
  });
});
