/**
 * The child process of the multi-process tests, bundled with esbuild by support.ts and run with
 * plain `node child.mjs <mode> ...`. It reports on stdout, one JSON object per line (pipes are
 * synchronous on Linux, so a line printed before a SIGKILL reaches the parent).
 *
 * Modes:
 * - `lost-updates <root> <id> newer|older <name> <index> <rounds>`: after "go" on stdin, `rounds`
 *   times either append the marker `<name>-<round>` to `data.tags` with `update` (a newer
 *   version's unknown field) or `upsert` the known fields only with a new `last_launched_at_ms`
 *   (an older version).
 * - `crash <root> <seed>`: upsert / update (append a marker) / retire / unretire over
 *   `crash-00`..`crash-49` until killed; `{"ack":id}` after an upsert that wrote,
 *   `{"marker":id,"tag":tag}` after an update that wrote.
 * - `hold <root> <id> [sleep|stdin] [lockStaleMs] [tag]`: take `id`'s lock through `update` and
 *   wait inside the change (`{"holding":id}`) for a minute or until "go" on stdin; then append
 *   `tag` (if any) and report the outcome and how often the change ran.
 * - `crash-at <root> <op> <id> <primitive|*> <nth>`: SIGKILL itself at an exact fs call (below).
 * - `contention <root> <seed> <ops> <ids>`: `ops` random operations over `ids` record ids, one
 *   line per operation with its outcome or its error.
 */

import { join } from "node:path";
import { createInterface } from "node:readline";
import { type FsOps, type NamedAgentRecord, Registry, RegistryError } from "../../src/index.js";
import { realFs } from "../../src/io/fs.js";
import { makeRecord } from "../helpers.js";
import { between, pick, prng } from "./prng.js";

const print = (message: Record<string, unknown>) => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describeError(error: unknown): Record<string, unknown> {
  return error instanceof RegistryError
    ? { name: error.name, code: error.code, message: error.message }
    : error instanceof Error
      ? { name: error.name, message: error.message, stack: error.stack }
      : { name: typeof error, message: String(error) };
}

function withTag(record: NamedAgentRecord, tag: string): NamedAgentRecord {
  const tags = (record.data.tags as string[] | undefined) ?? [];
  return { ...record, data: { ...record.data, tags: [...tags, tag] } };
}

async function open(root: string): Promise<Registry> {
  return Registry.open(root, { agentsBase: join(root, "..", "agents") });
}

/** Resolves when the parent writes "go" on stdin. */
function startSignal(): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "go") {
        lines.close();
        resolve();
      }
    });
  });
}

async function lostUpdates(args: string[]): Promise<void> {
  const [root = "", id = "", role = "", name = "", index = "0", rounds = "0"] = args;
  const registry = await open(root);
  print({ ready: true });
  await startSignal();
  const outcomes: Record<string, number> = {};
  for (let round = 0; round < Number(rounds); round++) {
    const outcome =
      role === "newer"
        ? await registry.update(id, (r) => withTag(r, `${name}-${round}`))
        : await registry.upsert(
            makeRecord(id, {
              last_launched_at_ms: 1_800_000_000_000 + Number(index) * 100_000 + round,
              last_launched_by_version: `old-${name}`,
            }),
          );
    const key = outcome.status === "skipped" ? `skipped:${outcome.reason}` : outcome.status;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  print({ done: true, outcomes });
}

const CRASH_IDS = Array.from({ length: 50 }, (_, i) => `crash-${String(i).padStart(2, "0")}`);

async function crash(args: string[]): Promise<void> {
  const [root = "", seed = "1"] = args;
  const random = prng(Number(seed));
  const registry = await open(root);
  print({ ready: true, pid: process.pid });
  for (let n = 0; ; n++) {
    const id = pick(random, CRASH_IDS);
    const roll = random();
    if (roll < 0.35) {
      const outcome = await registry.upsert(
        makeRecord(id, { last_launched_at_ms: Date.now(), last_launched_by_version: `p${seed}` }),
      );
      if (outcome.status === "created" || outcome.status === "updated") print({ ack: id });
    } else if (roll < 0.65) {
      const tag = `${process.pid}-${n}`;
      const outcome = await registry.update(id, (r) => withTag(r, tag));
      if (outcome.status === "updated") print({ marker: id, tag });
    } else if (roll < 0.85) {
      await registry.retire(id);
    } else {
      await registry.unretire(id);
    }
  }
}

async function hold(args: string[]): Promise<void> {
  const [root = "", id = "", until = "sleep", staleMs = "", tag = ""] = args;
  const registry = await Registry.open(root, {
    agentsBase: join(root, "..", "agents"),
    ...(staleMs ? { lockStaleMs: Number(staleMs) } : {}),
  });
  const resume = until === "stdin" ? startSignal() : sleep(60_000);
  let calls = 0;
  const outcome = await registry.update(id, async (r) => {
    calls++;
    if (calls === 1) {
      print({ holding: id, pid: process.pid });
      await resume;
    }
    return tag ? withTag(r, tag) : r;
  });
  print({ released: id, outcome, calls });
}

async function contention(args: string[]): Promise<void> {
  const [root = "", seed = "1", ops = "0", idCount = "20"] = args;
  const random = prng(Number(seed));
  const ids = Array.from({ length: Number(idCount) }, (_, i) => `c-${String(i).padStart(2, "0")}`);
  // c-00..c-04 are agents; every other record was launched from one of them (agent scope).
  const agents = ids.slice(0, 5);
  const definitionOf = (id: string) => {
    const index = ids.indexOf(id);
    return index < agents.length ? "claude-code" : (agents[index % agents.length] ?? "claude-code");
  };
  const registry = await open(root);
  print({ ready: true });
  await startSignal();
  const weighted: Array<[string, number]> = [
    ["upsert", 20],
    ["update", 20],
    ["get", 10],
    ["listActive", 5],
    ["retire", 8],
    ["unretire", 12],
    ["hardDelete", 4],
    ["retireForAgent", 4],
    ["unretireForAgent", 8],
    ["setInstanceNameForAgent", 9],
  ];
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  const chooseOp = () => {
    let roll = random() * total;
    for (const [op, weight] of weighted) {
      roll -= weight;
      if (roll < 0) return op;
    }
    return "get";
  };
  const started = performance.now();
  for (let i = 0; i < Number(ops); i++) {
    const op = chooseOp();
    const id = op.endsWith("ForAgent") ? pick(random, agents) : pick(random, ids);
    const opStarted = performance.now();
    try {
      let out: unknown;
      switch (op) {
        case "upsert":
          out = await registry.upsert(
            makeRecord(id, {
              definition_id: definitionOf(id),
              last_launched_at_ms: between(random, 1, 1_000_000),
              session_id: random() < 0.5 ? null : `s-${seed}-${i}`,
            }),
          );
          break;
        case "update":
          out = await registry.update(id, (r) => withTag(r, `${seed}-${i}`));
          break;
        case "get": {
          const record = await registry.get(id);
          out = record === null ? null : { instance_id: record.data.instance_id };
          break;
        }
        case "listActive":
          out = (await registry.listActive()).map((record) => record.data.instance_id);
          break;
        case "retire":
          out = await registry.retire(id);
          break;
        case "unretire":
          out = await registry.unretire(id);
          break;
        case "hardDelete":
          out = await registry.hardDelete(id);
          break;
        case "retireForAgent":
          out = await registry.retireForAgent(id, "agent");
          break;
        case "unretireForAgent":
          out = await registry.unretireForAgent(id, "agent");
          break;
        case "setInstanceNameForAgent":
          out = await registry.setInstanceNameForAgent(id, "agent", `n-${seed}-${i}`);
          break;
      }
      print({ i, op, id, out, ms: performance.now() - opStarted });
    } catch (error) {
      print({ i, op, id, error: describeError(error), ms: performance.now() - opStarted });
    }
  }
  print({ done: true, ms: performance.now() - started });
}

/** Every primitive of the injectable fs (src/io/fs.ts). */
const FS_PRIMITIVES = [
  "openSync",
  "closeSync",
  "readSync",
  "writeSync",
  "fsyncSync",
  "fstatSync",
  "lstatSync",
  "statSync",
  "readdirSync",
  "mkdirSync",
  "renameSync",
  "linkSync",
  "unlinkSync",
  "rmdirSync",
  "futimesSync",
] as const satisfies readonly (keyof FsOps)[];

/**
 * `crash-at <root> <op> <id> <primitive|*> <nth>`: run one operation on `id` with an fs whose
 * `nth` call of `primitive` (any primitive for `*`) kills this process with SIGKILL just before it
 * happens — a crash at an exact point. Prints `{"crashing":…}` first, or `{"done":…,"calls":n}`
 * when the operation finished after n calls.
 */
async function crashAt(args: string[]): Promise<void> {
  const [root = "", op = "", id = "", primitive = "*", nth = "0"] = args;
  let armed = false;
  let calls = 0;
  let matching = 0;
  const fs: Record<string, unknown> = {};
  for (const name of FS_PRIMITIVES) {
    const real = realFs[name] as (...callArgs: unknown[]) => unknown;
    fs[name] = (...callArgs: unknown[]) => {
      if (armed) {
        calls++;
        if ((primitive === "*" || primitive === name) && ++matching === Number(nth)) {
          print({ crashing: matching, call: name, path: String(callArgs[0]) });
          process.kill(process.pid, "SIGKILL");
        }
      }
      return real(...callArgs);
    };
  }
  const registry = await Registry.open(root, {
    agentsBase: join(root, "..", "agents"),
    fs: fs as unknown as FsOps,
  });
  armed = true;
  let out: unknown;
  switch (op) {
    case "upsert":
      out = await registry.upsert(makeRecord(id, { last_launched_at_ms: 99 }));
      break;
    case "update":
      out = await registry.update(id, (r) => withTag(r, "crash-at"));
      break;
    case "retire":
      out = await registry.retire(id);
      break;
    case "unretire":
      out = await registry.unretire(id);
      break;
    case "hardDelete":
      out = await registry.hardDelete(id);
      break;
    default:
      throw new Error(`unknown operation ${op}`);
  }
  armed = false;
  print({ done: true, out, calls, matching });
}

const modes: Record<string, (args: string[]) => Promise<void>> = {
  "crash-at": crashAt,
  "lost-updates": lostUpdates,
  crash,
  hold,
  contention,
};

const [mode = "", ...rest] = process.argv.slice(2);
const run = modes[mode];
if (!run) {
  print({ error: { name: "usage", message: `unknown mode ${JSON.stringify(mode)}` } });
  process.exit(2);
}
run(rest).then(
  () => process.exit(0),
  (error: unknown) => {
    print({ error: describeError(error) });
    process.exit(1);
  },
);
