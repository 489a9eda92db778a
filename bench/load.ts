/**
 * Load on loopback: `clients` concurrent clients each make `calls` sequential
 * `GET /api/agents` calls (the Continue dropdown, `listNamedAgents`, default limit 200) over one
 * keep-alive `http.Agent`, against the service in its own process on a registry of `records`
 * files, while a second process writes to the same registry (updates and upserts of the listed
 * records, creates and deletes of a few more) until told to stop. Bounded: a fixed number of
 * requests, then everything stops by itself.
 *
 * Every response must be a 200 with a valid body (exactly the 200 newest agents, newest launch
 * first, ids unique); anything else is counted as an error with its reason. Latency is measured
 * per request in this process, from `request()` to the end of the body. Figures are printed,
 * never judged.
 *
 * Also the writer: `node --import tsx bench/load.ts writer <root> <agentsBase> <records>` prints
 * `{"ready":true}`, writes until "stop" (or the end of stdin), then prints its counts and exits.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { agentJson } from "../src/api.js";
import { Registry, RegistryService } from "../src/index.js";
import { startServer } from "../src/server/serve.js";
import { benchRecord, canonicalText } from "./harness.js";

const REPO = join(import.meta.dirname, "..");
const THIS_FILE = import.meta.filename;
/** The listing's default limit (`DEFAULT_LIST_LIMIT`): what a call without `?limit` returns. */
const LIST_LIMIT = 200;
/** Extra ids the writer creates and deletes again, so the registry stays near `records`. */
const CHURN = 20;
const CHURN_PREFIX = "22222222";

export interface Target {
  port: number;
  token: string;
}

export interface HammerOptions {
  clients: number;
  calls: number;
  /** Records the registry holds at least (the seeded ones; the writer never removes them). */
  records: number;
}

export interface HammerResult {
  requests: number;
  errors: number;
  /** The first few error reasons. */
  errorSamples: string[];
  /** Milliseconds per request, sorted ascending. */
  latencies: number[];
  wallMs: number;
}

export interface WriterReport {
  /** Writes that changed a file: updates, creates, deletes. */
  writes: number;
  /** Operations that wrote nothing (an upsert that changed nothing, a delete of nothing). */
  noops: number;
  errors: number;
  firstError: string | null;
  ops: Record<string, number>;
}

export interface LoadReport {
  records: number;
  clients: number;
  calls: number;
  hammer: HammerResult;
  /** The same clients against a minimal node:http server answering a precomputed body. */
  floor: HammerResult;
  /**
   * The same clients against a minimal node:http server answering from the live index (its
   * freshness check and cached body, no fastify): what an exact answer costs by itself.
   */
  exact: HammerResult;
  writer: WriterReport;
}

/** Writes `records` canonical files straight into `root` (as the list benchmark does). */
export function seedFiles(root: string, records: number): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (let i = 0; i < records; i++) {
    const record = benchRecord(i);
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record), {
      mode: 0o600,
    });
  }
}

/** `clients` concurrent loops of `calls` sequential `GET /api/agents` each. */
export async function hammer(target: Target, options: HammerOptions): Promise<HammerResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  const fail = (reason: string) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(reason);
  };
  const expected = Math.min(LIST_LIMIT, options.records);
  const started = performance.now();
  try {
    await Promise.all(
      Array.from({ length: options.clients }, async () => {
        for (let call = 0; call < options.calls; call++) {
          const sent = performance.now();
          try {
            const response = await get(agent, target, "/api/agents");
            latencies.push(performance.now() - sent);
            const problem =
              response.status === 200
                ? checkListing(response.body, expected)
                : `HTTP ${response.status}: ${response.body.slice(0, 200)}`;
            if (problem !== null) fail(problem);
          } catch (error) {
            latencies.push(performance.now() - sent);
            fail(error instanceof Error ? error.message : String(error));
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return {
    requests: latencies.length,
    errors,
    errorSamples,
    latencies: latencies.sort((a, b) => a - b),
    wallMs: performance.now() - started,
  };
}

function get(
  agent: http.Agent,
  target: Target,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port: target.port,
        path,
        method: "GET",
        agent,
        headers: {
          host: `127.0.0.1:${target.port}`,
          authorization: `Bearer ${target.token}`,
          accept: "application/json",
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () =>
          resolvePromise({
            status: response.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    request.setTimeout(120_000, () => request.destroy(new Error("no response within 120 s")));
    request.on("error", reject);
    request.end();
  });
}

/** Why a `GET /api/agents` body is not the listing it should be, or `null` when it is. */
function checkListing(body: string, expected: number): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `body is not JSON: ${body.slice(0, 200)}`;
  }
  const agents = (parsed as { agents?: unknown }).agents;
  if (!Array.isArray(agents)) return `no agents array: ${body.slice(0, 200)}`;
  if (agents.length !== expected) return `${agents.length} agents, expected ${expected}`;
  const ids = new Set<string>();
  let previous: { at: number; id: string } | null = null;
  for (const agent of agents as Record<string, unknown>[]) {
    const id = agent.instance_id;
    const at = agent.last_launched_at_ms;
    if (typeof id !== "string" || typeof at !== "number" || typeof agent.instance_name !== "string")
      return `malformed agent: ${JSON.stringify(agent).slice(0, 200)}`;
    if (ids.has(id)) return `${id} listed twice`;
    ids.add(id);
    if (previous && (previous.at < at || (previous.at === at && previous.id > id)))
      return `not newest first at ${id}`;
    previous = { at, id };
  }
  return null;
}

/** The writer child: started, waited on until ready, and stopped for its report. */
export class Writer {
  private readonly lines: ReturnType<typeof createInterface>;
  private readonly messages: Record<string, unknown>[] = [];
  private waiting: (() => void) | null = null;
  private closed = false;
  private stderr = "";

  constructor(readonly child: ChildProcess) {
    const { stdout, stderr } = child;
    if (!stdout || !stderr) throw new Error("the writer needs piped stdout and stderr");
    stderr.setEncoding("utf8");
    stderr.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.lines = createInterface({ input: stdout, crlfDelay: Number.POSITIVE_INFINITY });
    this.lines.on("line", (line) => {
      this.messages.push(JSON.parse(line) as Record<string, unknown>);
      this.waiting?.();
    });
    child.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  /** The arguments after `node` that start a writer over this registry. */
  static args(root: string, agentsBase: string, records: number): string[] {
    return [
      "--import",
      import.meta.resolve("tsx"),
      THIS_FILE,
      "writer",
      root,
      agentsBase,
      String(records),
    ];
  }

  ready(): Promise<void> {
    return this.message("ready").then(() => undefined);
  }

  async stop(): Promise<WriterReport> {
    this.child.stdin?.end("stop\n");
    return (await this.message("writes")) as unknown as WriterReport;
  }

  private async message(key: string): Promise<Record<string, unknown>> {
    for (;;) {
      const found = this.messages.find((m) => key in m);
      if (found) return found;
      if (this.closed)
        throw new Error(`the writer exited without "${key}"; stderr: ${this.stderr.slice(-2000)}`);
      await new Promise<void>((resolvePromise) => {
        this.waiting = resolvePromise;
      });
      this.waiting = null;
    }
  }
}

/** The writer's loop: runs in its own process (see the file comment). */
async function writerMain(root: string, agentsBase: string, records: number): Promise<void> {
  const registry = await Registry.open(root, { agentsBase });
  let stopping = false;
  const stdin = createInterface({ input: process.stdin });
  stdin.on("line", (line) => {
    if (line.trim() === "stop") stopping = true;
  });
  stdin.on("close", () => {
    stopping = true;
  });
  const report: WriterReport = { writes: 0, noops: 0, errors: 0, firstError: null, ops: {} };
  const count = (op: string, wrote: boolean) => {
    report.ops[op] = (report.ops[op] ?? 0) + 1;
    if (wrote) report.writes++;
    else report.noops++;
  };
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  for (let i = 0; !stopping; i++) {
    // Spread over the registry; a prime stride visits every record.
    const n = (i * 7_919) % records;
    const id = benchRecord(n).data.instance_id;
    try {
      switch (i % 4) {
        case 0: {
          // A launch: read-modify-write; the record moves to the top of the listing.
          const outcome = await registry.update(id, (record) => {
            record.data.last_launched_at_ms = Date.now();
            return record;
          });
          count("update", outcome.status === "updated");
          break;
        }
        case 1: {
          // An older writer's upsert of the known fields: a rename, merged into the file.
          const record = benchRecord(n);
          record.data.instance_name = `agent-${n}-renamed-${i}`;
          const outcome = await registry.upsert(record);
          count("upsert", outcome.status === "updated" || outcome.status === "created");
          break;
        }
        case 2: {
          const outcome = await registry.upsert(benchRecord((i >> 2) % CHURN, CHURN_PREFIX));
          count("create", outcome.status === "created");
          break;
        }
        default: {
          // Half the churn ids behind the creates: about CHURN / 2 extra records at any time.
          const removed = await registry.hardDelete(
            benchRecord(((i >> 2) + CHURN / 2) % CHURN, CHURN_PREFIX).data.instance_id,
          );
          count("delete", removed > 0);
        }
      }
    } catch (error) {
      report.errors++;
      report.firstError ??= error instanceof Error ? error.message : String(error);
    }
    // Every registry call can complete in microtasks alone: let stdin be read.
    await new Promise((resolvePromise) => setImmediate(resolvePromise));
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

export interface LoadOptions {
  /** A scratch directory (`home/` and `user/` are made in it). */
  dir: string;
  records: number;
  clients: number;
  calls: number;
}

/** The whole load benchmark: seed, serve (from src, through tsx), write, hammer, stop. */
export async function benchLoad(options: LoadOptions): Promise<LoadReport> {
  const home = join(options.dir, "home");
  const root = join(home, "shared", "agents", "registry");
  const agentsBase = join(home, "agents");
  const userHome = join(options.dir, "user");
  mkdirSync(userHome, { recursive: true });
  seedFiles(root, options.records);
  const env: NodeJS.ProcessEnv = { ...process.env, AGENTMUX_HOME_OVERRIDE: home, HOME: userHome };
  delete env.AGENTMUX_SHARED_DIR;
  delete env.AGENTMUX_AGENTS_DIR;
  const start = (args: string[]) =>
    spawn(process.execPath, args, { cwd: REPO, env, stdio: ["pipe", "pipe", "pipe"] });

  // The service as `serve` runs it (its live index on), started here rather than through the
  // CLI so that the figure is the service's whatever the CLI's options; and the floor.
  const tsx = ["--import", import.meta.resolve("tsx"), THIS_FILE];
  // BENCH_SERVE_PROF=<dir>: a CPU profile of the service (to see where its time goes).
  const prof = process.env.BENCH_SERVE_PROF;
  const server = start([
    ...(prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : []),
    ...tsx,
    "serve",
    root,
    agentsBase,
  ]);
  const floorServer = start([...tsx, "floor", root, agentsBase]);
  const exactServer = start([...tsx, "exact", root, agentsBase]);
  const writer = new Writer(start(Writer.args(root, agentsBase, options.records)));
  try {
    const target = await serviceAddress(server);
    const floorTarget = await serviceAddress(floorServer);
    const exactTarget = await serviceAddress(exactServer);
    await writer.ready();
    // Floor first, then the service, under the same writer; both warm up alike (none).
    const floor = await hammer(floorTarget, options);
    const exact = await hammer(exactTarget, options);
    const result = await hammer(target, options);
    const written = await writer.stop();
    return {
      records: options.records,
      clients: options.clients,
      calls: options.calls,
      hammer: result,
      floor,
      exact,
      writer: written,
    };
  } finally {
    await Promise.all(
      [writer.child, server, floorServer, exactServer].map((child) => stopChild(child)),
    );
  }
}

/** Reads the `{"url", "port"}` line `serve --json` prints. */
function serviceAddress(server: ChildProcess): Promise<Target> {
  const { stdout } = server;
  if (!stdout) throw new Error("the service needs piped stdout");
  let stderr = "";
  server.stderr?.setEncoding("utf8");
  server.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolvePromise, reject) => {
    const lines = createInterface({ input: stdout });
    lines.once("line", (line) => {
      lines.close();
      const { url, port } = JSON.parse(line) as { url: string; port: number };
      resolvePromise({ port, token: new URL(url).searchParams.get("token") ?? "" });
    });
    server.once("exit", (code) => reject(new Error(`the service exited (${code}): ${stderr}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolvePromise();
    });
    child.kill("SIGTERM");
  });
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** A markdown table of one load run (the service and the floor), padded like the benchmark table. */
export function formatLoad(report: LoadReport): string {
  const { hammer: service, floor, writer: w } = report;
  const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);
  const header = [
    "load",
    "requests",
    "errors",
    "p50 ms",
    "p99 ms",
    "max ms",
    "req/s",
    "writer writes (errors)",
  ];
  const row = (label: string, h: HammerResult, writes: string) => [
    `${label}: ${report.clients} clients × ${report.calls} GET /api/agents, ${report.records} records`,
    String(h.requests),
    String(h.errors),
    ms(percentile(h.latencies, 50)),
    ms(percentile(h.latencies, 99)),
    ms(h.latencies.at(-1) ?? Number.NaN),
    ((h.requests * 1000) / h.wallMs).toFixed(1),
    writes,
  ];
  const rows = [
    row("service (live index)", service, `${w.writes} (${w.errors})`),
    row("floor: node:http, precomputed body", floor, "(same writer)"),
    row("node:http + live index (exact, cached body)", report.exact, "(same writer)"),
  ];
  const widths = header.map((cell, i) =>
    Math.max(cell.length, ...rows.map((r) => r[i]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  const lines = [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
  const ratio = (p: number) =>
    (percentile(service.latencies, p) / percentile(floor.latencies, p)).toFixed(2);
  const exactRatio = (p: number) =>
    (percentile(report.exact.latencies, p) / percentile(floor.latencies, p)).toFixed(2);
  lines.push(
    "",
    `service / floor: p50 ${ratio(50)}x, p99 ${ratio(99)}x; ` +
      `node:http + live index / floor: p50 ${exactRatio(50)}x, p99 ${exactRatio(99)}x`,
  );
  for (const [label, h] of [
    ["service", service],
    ["floor", floor],
    ["exact", report.exact],
  ] as const)
    if (h.errors > 0)
      lines.push("", `${label} errors (first ${h.errorSamples.length}):`, ...h.errorSamples);
  if (w.firstError) lines.push("", `writer's first error: ${w.firstError}`);
  return lines.join("\n");
}

/** The service as `serve` runs it: the live index on, loopback, a port of its own. */
async function serveMain(root: string, agentsBase: string): Promise<void> {
  const service = await RegistryService.open({ root, agentsBase, version: "bench", live: true });
  const running = await startServer(service, { port: 0 });
  // Exit on SIGTERM, so that a CPU profile (BENCH_SERVE_PROF) is written.
  process.once("SIGTERM", () => process.exit(0));
  process.stdout.write(`${JSON.stringify({ url: running.url, port: running.port })}\n`);
}

/** The floor: a minimal node:http server answering the listing it precomputed at start. */
async function floorMain(root: string, agentsBase: string): Promise<void> {
  const service = await RegistryService.open({ root, agentsBase, version: "bench" });
  const body = JSON.stringify({
    agents: (await service.listNamedAgents()).map((r) => agentJson(r)),
  });
  service.close();
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    response.end(body);
  });
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(
      `${JSON.stringify({ url: `http://127.0.0.1:${port}/?token=floor`, port })}\n`,
    );
  });
}

/** node:http answering from the live index: its freshness check and its cached wire body. */
async function exactMain(root: string, agentsBase: string): Promise<void> {
  const service = await RegistryService.open({ root, agentsBase, version: "bench", live: true });
  const server = http.createServer((_request, response) => {
    void service.listNamedAgentsBody().then((body) => {
      response.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      response.end(body);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(
      `${JSON.stringify({ url: `http://127.0.0.1:${port}/?token=exact`, port })}\n`,
    );
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === THIS_FILE) {
  const [mode, root, agentsBase, records] = process.argv.slice(2);
  if (mode === "serve" && root && agentsBase) await serveMain(root, agentsBase);
  else if (mode === "floor" && root && agentsBase) await floorMain(root, agentsBase);
  else if (mode === "exact" && root && agentsBase) await exactMain(root, agentsBase);
  else {
    if (mode !== "writer" || !root || !agentsBase || !records) {
      console.error("usage: node --import tsx bench/load.ts writer <root> <agentsBase> <records>");
      process.exit(2);
    }
    await writerMain(root, agentsBase, Number(records));
  }
}
