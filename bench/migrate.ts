/**
 * Bulk import: `migrateFromSqliteOnce` of `rows` named rows spread over `databases` per-version
 * SQLite files into an empty registry, against the same number of one-at-a-time
 * `registry.upsert()` calls, each in a fresh registry every round, and against the floor of the
 * same crash-safe bulk create done with bare syscalls.
 */

import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { migrateFromSqliteOnce, Registry } from "../src/index.js";
import { syncFileSystemWithCoreutils } from "../src/io/files.js";
import { CREATE_INSTANCE_TABLE, INSTANCE_TABLE } from "../src/sqlite/rows.js";
import { alternate, benchRecord, type Comparison, canonicalText } from "./harness.js";

export interface MigrateBenchOptions {
  dir: string;
  rows: number;
  databases: number;
  rounds: number;
}

export async function benchMigrate(options: MigrateBenchOptions): Promise<Comparison> {
  const { dir, rows, databases, rounds } = options;
  const home = join(dir, "home");
  const agentsBase = join(home, "agents");
  const records = Array.from({ length: rows }, (_, i) => benchRecord(i, "22222222"));
  for (let d = 0; d < databases; d++) {
    const dbDir = join(home, "versions", `0.${d}.0`, "data", "db");
    mkdirSync(dbDir, { recursive: true });
    const db = new Database(join(dbDir, "objects.db"));
    db.exec(CREATE_INSTANCE_TABLE);
    const insert = db.prepare(
      `INSERT INTO ${INSTANCE_TABLE} (id, definition_id, instance_name, working_directory, started_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    db.transaction(() => {
      for (let i = d; i < rows; i += databases) {
        const { data } = records[i] as (typeof records)[number];
        insert.run(
          data.instance_id,
          data.definition_id,
          data.instance_name,
          join(agentsBase, data.working_dir),
          data.last_launched_at_ms,
          data.created_at_ms,
        );
      }
    })();
    db.close();
  }

  let fresh = 0;
  let current = "";
  const freshRoot = () => {
    if (current) rmSync(current, { recursive: true, force: true });
    current = join(dir, `registry-${fresh++}`);
    return current;
  };

  const texts = records.map((record) => ({
    id: record.data.instance_id,
    text: canonicalText({ ...record, data: { ...record.data, source_agents_base: agentsBase } }),
  }));
  const [upsert, migrate, floor] = await alternate(rounds, [
    {
      label: "upsert",
      setup: freshRoot,
      run: async () => {
        const registry = await Registry.open(current, { agentsBase });
        for (const record of records) {
          await registry.upsert({
            ...record,
            data: { ...record.data, source_agents_base: agentsBase },
          });
        }
      },
    },
    {
      label: "migrate",
      setup: freshRoot,
      run: async () => {
        const registry = await Registry.open(current, { agentsBase });
        const stats = await migrateFromSqliteOnce(home, registry);
        if (stats.records_written !== rows)
          throw new Error(`migrated ${stats.records_written} of ${rows}`);
      },
    },
    {
      // The least a crash-safe, never-replacing bulk create can do, in the same run: every file
      // written to a temp and closed, one syncfs, a hard link and an unlink each, one directory
      // fsync. No SQLite reads, no checks, no encoding (the texts are made in advance).
      label: "floor: temp+link+unlink, one syncfs",
      setup: () => {
        freshRoot();
        mkdirSync(current, { recursive: true });
      },
      run: () => {
        const temps = texts.map(({ id, text }, i) => {
          const temp = join(current, `.tmp-${id}.${i}`);
          const fd = openSync(temp, "wx", 0o600);
          writeSync(fd, text);
          closeSync(fd);
          return temp;
        });
        if (!syncFileSystemWithCoreutils(current)) throw new Error("no syncfs here");
        texts.forEach(({ id }, i) => {
          linkSync(temps[i] as string, join(current, `${id}.json`));
          unlinkSync(temps[i] as string);
        });
        const dirFd = openSync(current, "r");
        fsyncSync(dirFd);
        closeSync(dirFd);
      },
    },
  ]);
  rmSync(current, { recursive: true, force: true });
  return {
    title: `import ${rows} records (${databases} dbs)`,
    items: rows,
    baseline: upsert,
    cases: [migrate, floor],
  };
}
