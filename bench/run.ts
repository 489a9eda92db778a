/**
 * `npm run bench [-- --quick] [-- --only list,write]`: runs the benchmarks (all, or those named:
 * list, write, import, sqlite, scale, load, events, table, startup, cold) in a temp directory
 * (removed at the end) and prints one markdown table to stdout. `BENCH_RECORDS=N` sets the listing
 * size (of `cold` too). `table` lists 36,000 agents as a table and as JSON (bench/table.ts);
 * `startup` and `cold` time fresh processes of the built bin (bench/startup.ts).
 * Figures are printed, never judged: the exit code says only whether the benchmarks ran.
 */

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchEvents, formatEvents } from "./events.js";
import { type Comparison, formatTable } from "./harness.js";
import { benchList } from "./list.js";
import { benchLoad, formatLoad } from "./load.js";
import { benchMigrate } from "./migrate.js";
import { benchScale, formatScale } from "./scale.js";
import { benchSqlite } from "./sqlite.js";
import { benchCold, benchStartup } from "./startup.js";
import { benchTable } from "./table.js";
import { benchUpsert } from "./upsert.js";

const { values } = parseArgs({
  options: { quick: { type: "boolean", default: false }, only: { type: "string" } },
});
const quick = values.quick === true;
const BENCHMARKS = [
  "list",
  "write",
  "import",
  "sqlite",
  "scale",
  "load",
  "events",
  "table",
  "startup",
  "cold",
] as const;
const selected = new Set(values.only?.split(",").map((name) => name.trim()) ?? BENCHMARKS);
for (const name of selected) {
  if (!(BENCHMARKS as readonly string[]).includes(name)) {
    throw new Error(`--only: unknown benchmark ${name} (known: ${BENCHMARKS.join(", ")})`);
  }
}
const runs = (name: (typeof BENCHMARKS)[number]) => selected.has(name);

function recordsFromEnv(fallback: number): number {
  const raw = process.env.BENCH_RECORDS;
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`BENCH_RECORDS must be >= 1 (got ${raw})`);
  return n;
}

const config = {
  records: recordsFromEnv(quick ? 1_000 : 10_000),
  listRounds: quick ? 3 : 11,
  upserts: quick ? 100 : 500,
  upsertRounds: quick ? 3 : 7,
  importRows: quick ? 300 : 10_000,
  importRounds: quick ? 2 : 3,
  loadRecords: quick ? 200 : 1_000,
  loadClients: quick ? 10 : 50,
  loadCalls: quick ? 20 : 200,
  sqliteRecords: quick ? 1_000 : 10_000,
  sqliteWrites: quick ? 50 : 300,
  sqliteRounds: quick ? 3 : 5,
  scaleRecords: quick ? 0 : 100_000,
  eventRecords: quick ? 200 : 1_000,
  eventWrites: quick ? 5 : 30,
  tableRecords: 36_000,
  tableRounds: quick ? 3 : 5,
  startupRounds: quick ? 5 : 41,
  coldRounds: quick ? 3 : 15,
};

const work = mkdtempSync(join(tmpdir(), "agentmux-registry-bench-"));
const cleanUp = () => rmSync(work, { recursive: true, force: true });
process.once("SIGINT", () => {
  cleanUp();
  process.exit(130);
});

try {
  const agentsBase = join(work, "agents");
  const root = join(work, "registry");
  mkdirSync(root, { mode: 0o700 });
  const scratch = join(work, "upsert");
  mkdirSync(scratch, { mode: 0o700 });

  const results: Comparison[] = [];
  if (runs("list")) {
    results.push(
      await benchList({ root, agentsBase, records: config.records, rounds: config.listRounds }),
    );
  }
  if (runs("write")) {
    results.push(
      await benchUpsert({
        dir: scratch,
        agentsBase,
        count: config.upserts,
        rounds: config.upsertRounds,
      }),
    );
  }
  if (runs("import")) {
    const importDir = join(work, "import");
    mkdirSync(importDir, { mode: 0o700 });
    results.push(
      await benchMigrate({
        dir: importDir,
        rows: config.importRows,
        databases: 30,
        rounds: config.importRounds,
      }),
    );
  }
  if (runs("sqlite")) {
    const sqliteDir = join(work, "sqlite");
    mkdirSync(sqliteDir, { mode: 0o700 });
    results.push(
      ...(await benchSqlite({
        dir: sqliteDir,
        records: config.sqliteRecords,
        writes: config.sqliteWrites,
        rounds: config.sqliteRounds,
      })),
    );
  }

  if (runs("table")) {
    const tableDir = join(work, "table");
    mkdirSync(tableDir, { mode: 0o700 });
    results.push(
      ...(await benchTable({
        dir: tableDir,
        records: config.tableRecords,
        rounds: config.tableRounds,
      })),
    );
  }

  if (runs("startup")) {
    results.push(await benchStartup({ dir: join(work, "startup"), rounds: config.startupRounds }));
  }
  if (runs("cold")) {
    results.push(
      ...(await benchCold({
        dir: join(work, "cold"),
        records: config.records,
        rounds: config.coldRounds,
      })),
    );
  }

  const scale =
    runs("scale") && config.scaleRecords > 0
      ? benchScale(join(work, "scale"), config.scaleRecords)
      : null;

  let load: Awaited<ReturnType<typeof benchLoad>> | null = null;
  if (runs("load")) {
    const loadDir = join(work, "load");
    mkdirSync(loadDir, { mode: 0o700 });
    load = await benchLoad({
      dir: loadDir,
      records: config.loadRecords,
      clients: config.loadClients,
      calls: config.loadCalls,
    });
  }

  const events = runs("events")
    ? await benchEvents(join(work, "events"), config.eventRecords, config.eventWrites)
    : null;

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const memGiB = (totalmem() / 2 ** 30).toFixed(1);
  console.log(
    `node ${process.version}, ${process.platform}/${process.arch}, ${cpus().length} CPUs (${cpu}), ${memGiB} GiB` +
      `${quick ? ", --quick" : ""}; median of ${config.listRounds} (list) / ${config.upsertRounds} (upsert) / ${config.importRounds} (import) / ${config.startupRounds} (startup) / ${config.coldRounds} (cold) alternating rounds after one warm-up\n`,
  );
  console.log(formatTable(results));
  console.log(
    "\nlist baseline: readdirSync + readFileSync + JSON.parse per `.json` name, no validation." +
      "\nupsert baseline: openSync(tmp, 'wx', 0o600) + writeSync + fsyncSync + closeSync + renameSync" +
      " + directory open/fsyncSync/close per record, file text prepared in advance." +
      "\nimport baseline: one registry.upsert() per record; case: migrateFromSqliteOnce over 30 SQLite databases." +
      "\nvs SQLite: better-sqlite3, one table indexed on (definition_id, last_launched_at_ms), WAL," +
      " synchronous=FULL, one transaction per write; the registry lists warm (its cache settled)." +
      "\nfresh process / cold list: every case a new process of the built bin (dist/cli/bin.cjs) or a" +
      " plain CommonJS script, spawn to exit, stdout to /dev/null (bench/startup.ts).",
  );
  if (scale) console.log(`\n${formatScale(scale)}`);
  if (events) console.log(`\n${formatEvents(events)}`);
  if (load) {
    console.log(`\n${formatLoad(load)}`);
    // Like the listing's record count, a correctness check: a failed request is not a figure.
    if (load.hammer.errors + load.floor.errors + load.exact.errors + load.writer.errors > 0)
      process.exitCode = 1;
    console.log(
      "\nload: the service in its own process (serve --port 0); concurrent keep-alive clients each make" +
        " sequential GET /api/agents calls (default limit 200); another process updates, upserts," +
        " creates and deletes records meanwhile; every response must be a 200 with a valid listing.",
    );
  }
} finally {
  cleanUp();
}
