/**
 * What a user would otherwise pick: the same list, sort, filter and upsert on better-sqlite3 —
 * one table, an index on (definition_id, last_launched_at_ms), WAL, synchronous=FULL, one
 * transaction per write — against the registry, in the same run. Ratios are reported whichever
 * way they fall.
 */

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { agentJson } from "../src/api.js";
import { Registry, RegistryService } from "../src/index.js";
import { RACY_MS } from "../src/io/tree-reader.js";
import { alternate, benchRecord, type Comparison, canonicalText } from "./harness.js";

export interface SqliteBenchOptions {
  dir: string;
  records: number;
  writes: number;
  rounds: number;
}

const COLUMNS = `instance_id TEXT PRIMARY KEY, instance_name TEXT NOT NULL, definition_id TEXT NOT NULL,
  identity_id TEXT, memory_id TEXT, session_id TEXT, working_dir TEXT NOT NULL, source_agents_base TEXT,
  created_at_ms INTEGER NOT NULL, last_launched_at_ms INTEGER NOT NULL,
  created_by_version TEXT NOT NULL, last_launched_by_version TEXT NOT NULL`;

function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec(`CREATE TABLE IF NOT EXISTS agents (${COLUMNS});
    CREATE INDEX IF NOT EXISTS by_definition ON agents (definition_id, last_launched_at_ms)`);
  return db;
}

const UPSERT = `INSERT INTO agents VALUES (@instance_id, @instance_name, @definition_id, @identity_id,
  @memory_id, @session_id, @working_dir, @source_agents_base, @created_at_ms, @last_launched_at_ms,
  @created_by_version, @last_launched_by_version)
  ON CONFLICT (instance_id) DO UPDATE SET last_launched_at_ms = excluded.last_launched_at_ms,
  instance_name = excluded.instance_name`;

export async function benchSqlite(options: SqliteBenchOptions): Promise<Comparison[]> {
  const { dir, records, writes, rounds } = options;
  const all = Array.from({ length: records }, (_, i) => benchRecord(i, "33333333"));
  const root = join(dir, "registry");
  mkdirSync(root, { recursive: true });
  for (const record of all)
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record));
  const db = openDb(join(dir, "agents.db"));
  const upsert = db.prepare(UPSERT);
  db.transaction(() => {
    for (const record of all) upsert.run(record.data);
  })();
  const registry = await Registry.open(root, { sweepOnOpen: false });
  const service = new RegistryService(registry, { version: "bench" });
  // The live index, as `serve` keeps it (its own registry: its own caches).
  const live = await RegistryService.open({
    root,
    version: "bench",
    live: true,
    sweepOnOpen: false,
  });
  // After opening, which makes `retired/`: a directory changed within RACY_MS proves nothing yet.
  await new Promise((resolve) => setTimeout(resolve, RACY_MS + 200));
  const newest = db.prepare(
    "SELECT * FROM agents ORDER BY last_launched_at_ms DESC, instance_id LIMIT 200",
  );
  const byDefinition = db.prepare(
    "SELECT * FROM agents WHERE definition_id = ? ORDER BY last_launched_at_ms DESC, instance_id LIMIT 200",
  );

  /** A row as the wire's agent: the same fields in the same order as `agentJson`. */
  const wire = (row: Record<string, unknown>) => ({ schema_version: 1, ...row });
  const [sqlWire, liveWire, liveBody] = await alternate(rounds, [
    {
      label: "sqlite → wire JSON",
      run: () => JSON.stringify({ agents: (newest.all() as Record<string, unknown>[]).map(wire) }),
    },
    {
      label: "live listNamedAgents → agentJson + stringify",
      run: async () =>
        JSON.stringify({ agents: (await live.listNamedAgents()).map((r) => agentJson(r)) }),
    },
    { label: "live listNamedAgentsBody (cached)", run: () => live.listNamedAgentsBody() },
  ]);
  live.close();

  const [sqlList, sqlFilter, listNamed, filterNamed] = await alternate(rounds, [
    { label: "sqlite", run: () => newest.all() },
    { label: "sqlite filtered", run: () => byDefinition.all("codex") },
    { label: "listNamedAgents", run: () => service.listNamedAgents() },
    {
      label: "listNamedAgents filtered",
      run: () => service.listNamedAgents({ definitionId: "codex" }),
    },
  ]);

  let round = 0;
  const fresh = () => {
    const path = join(dir, `writes-${round++}`);
    rmSync(path, { recursive: true, force: true });
    mkdirSync(path);
    return path;
  };
  let writeDb: Database.Database | undefined;
  let writeRegistry: Registry | undefined;
  const toWrite = all.slice(0, writes);
  const [sqlWrite, registryWrite] = await alternate(rounds, [
    {
      label: "sqlite upsert",
      setup: () => {
        writeDb?.close();
        writeDb = openDb(join(fresh(), "agents.db"));
      },
      run: () => {
        const statement = (writeDb as Database.Database).prepare(UPSERT);
        for (const record of toWrite) statement.run(record.data);
      },
    },
    {
      label: "registry upsert",
      setup: async () => {
        writeRegistry = await Registry.open(fresh());
      },
      run: async () => {
        for (const record of toWrite) await (writeRegistry as Registry).upsert(record);
      },
    },
  ]);
  writeDb?.close();
  db.close();
  return [
    {
      title: `dropdown wire JSON, 200 of ${records} vs SQLite`,
      items: records,
      baseline: sqlWire,
      cases: [liveWire, liveBody],
    },
    {
      title: `newest 200 of ${records} vs SQLite`,
      items: records,
      baseline: sqlList,
      cases: [listNamed],
    },
    {
      title: `one definition of ${records} vs SQLite`,
      items: records,
      baseline: sqlFilter,
      cases: [filterNamed],
    },
    {
      title: `upsert ${writes} vs SQLite`,
      items: writes,
      baseline: sqlWrite,
      cases: [registryWrite],
    },
  ];
}
