/**
 * Test homes laid out like a real AgentMux install (SPEC §1, §9): per-version `objects.db` files
 * written with better-sqlite3 under `versions/`, `channels/<ch>/versions/` and `dev/`, the
 * registry at `<home>/shared/agents/registry`, working directories under `<home>/agents`.
 *
 * Databases default to the rollback journal (`journal_mode=DELETE`), so a closed database is one
 * file and a byte snapshot of the home is exact; tests that need WAL ask for it.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import Database from "better-sqlite3";
import { Registry, type RegistryOptions } from "../../src/index.js";
import { tempDir } from "../helpers.js";

export const REPO = join(import.meta.dirname, "..", "..");

/** Every column of `db_agent_instances` (SPEC §8); integers as numbers or exact bigints. */
export interface RowInput {
  id: string;
  definition_id: string;
  parent_instance_id: string;
  block_id: string;
  session_id: string;
  status: string;
  github_context: string;
  identity_id: string;
  memory_id: string;
  instance_name: string;
  working_directory: string;
  started_at: number | bigint;
  ended_at: number | bigint;
  created_at: number | bigint;
  display_hidden: number | bigint;
}

const COLUMNS = [
  "id",
  "definition_id",
  "parent_instance_id",
  "block_id",
  "session_id",
  "status",
  "github_context",
  "identity_id",
  "memory_id",
  "instance_name",
  "working_directory",
  "started_at",
  "ended_at",
  "created_at",
  "display_hidden",
] as const satisfies readonly (keyof RowInput)[];

const FULL_SCHEMA = `CREATE TABLE db_agent_instances (
  id TEXT PRIMARY KEY,
  definition_id TEXT NOT NULL DEFAULT '',
  parent_instance_id TEXT NOT NULL DEFAULT '',
  block_id TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT '',
  github_context TEXT NOT NULL DEFAULT '',
  identity_id TEXT NOT NULL DEFAULT '',
  memory_id TEXT NOT NULL DEFAULT '',
  instance_name TEXT NOT NULL DEFAULT '',
  working_directory TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL DEFAULT 0,
  ended_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0,
  display_hidden INTEGER NOT NULL DEFAULT 0
)`;

/** The same table before `instance_name` existed. */
const PRE_V8_SCHEMA = FULL_SCHEMA.replace("  instance_name TEXT NOT NULL DEFAULT '',\n", "");

/** `<home>/shared/agents/registry`. */
export const registryRoot = (home: string) => join(home, "shared", "agents", "registry");

/** `<home>/agents`: the registry's agents base. */
export const agentsBase = (home: string) => join(home, "agents");

/** A fresh, empty home directory removed when the test ends. */
export function makeHome(t: TestContext): string {
  return tempDir(t, "amr-home-");
}

/** The registry of `home`, anchored on `<home>/agents`. */
export function openRegistry(home: string, options: RegistryOptions = {}): Promise<Registry> {
  return Registry.open(registryRoot(home), { agentsBase: agentsBase(home), ...options });
}

/**
 * A named chain head with realistic defaults: working directory `<home>/agents/<id>-wd`,
 * started 2025-05-12, created an hour earlier.
 */
export function row(home: string, id: string, fields: Partial<RowInput> = {}): RowInput {
  return {
    id,
    definition_id: "claude-code",
    parent_instance_id: "",
    block_id: `block-${id}`,
    session_id: "",
    status: "done",
    github_context: "",
    identity_id: "",
    memory_id: "",
    instance_name: `name-${id}`,
    working_directory: join(agentsBase(home), `${id}-wd`),
    started_at: 1_747_061_640_000,
    ended_at: 0,
    created_at: 1_747_058_040_000,
    display_hidden: 0,
    ...fields,
  };
}

export interface AddDbOptions {
  /** "current" = the SPEC §8 table; "pre-v8" = without `instance_name`; "none" = no table. */
  schema?: "current" | "pre-v8" | "none";
  /** The journal mode the database is left in (default "delete"). */
  journal?: "delete" | "wal";
}

/**
 * Creates `<home>/<relDir>/data/db/objects.db` holding `rows` and returns its path. The
 * connection is closed before returning: for WAL that checkpoints and removes `-wal`/`-shm`.
 */
export function addDb(
  home: string,
  relDir: string,
  rows: readonly RowInput[],
  options: AddDbOptions = {},
): string {
  const path = dbPathIn(home, relDir);
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma(`journal_mode = ${options.journal === "wal" ? "WAL" : "DELETE"}`);
    const schema = options.schema ?? "current";
    if (schema === "none") {
      db.exec("CREATE TABLE db_objects (oid TEXT PRIMARY KEY, data TEXT NOT NULL)");
    } else {
      db.exec(schema === "current" ? FULL_SCHEMA : PRE_V8_SCHEMA);
      const columns = COLUMNS.filter((c) => schema === "current" || c !== "instance_name");
      const insert = db.prepare(
        `INSERT INTO db_agent_instances (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      db.transaction(() => {
        for (const r of rows) insert.run(...columns.map((c) => sqlValue(r[c])));
      })();
    }
  } finally {
    db.close();
  }
  return path;
}

/** `<home>/<relDir>/data/db/objects.db`. */
export const dbPathIn = (home: string, relDir: string) =>
  join(home, relDir, "data", "db", "objects.db");

/** Puts arbitrary bytes where `<relDir>`'s `objects.db` belongs (a corrupt database). */
export function addFileAsDb(home: string, relDir: string, bytes: Buffer | string): string {
  const path = dbPathIn(home, relDir);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

/** 8 KiB of random bytes: not a SQLite header, not anything. */
export const garbage = () => randomBytes(8192);

function sqlValue(value: string | number | bigint): string | bigint {
  return typeof value === "number" ? BigInt(value) : value;
}

/** Every entry under `dir` (relative, `/`-separated) → a sha256 of its bytes, or "dir"/"link". */
export function snapshot(
  dir: string,
  skip: (relativePath: string) => boolean = () => false,
): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      const path = join(current, name);
      const rel = relative(dir, path).split(sep).join("/");
      if (skip(rel)) continue;
      const stat = lstatSync(path);
      if (stat.isDirectory()) {
        out.set(rel, "dir");
        walk(path);
      } else if (stat.isSymbolicLink()) {
        out.set(rel, "link");
      } else {
        out.set(rel, sha256(path));
      }
    }
  };
  walk(dir);
  return out;
}

export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * What "never writes a source" is checked against (SPEC §9): the main file's hash, the `-wal`'s
 * hash (or absence) and whether a `-journal` exists. The `-shm` is deliberately left out.
 */
export function sourceState(dbPath: string): {
  main: string;
  wal: string | null;
  journal: string | null;
} {
  const hashIfThere = (path: string) => (existsSync(path) ? sha256(path) : null);
  return {
    main: sha256(dbPath),
    wal: hashIfThere(`${dbPath}-wal`),
    journal: hashIfThere(`${dbPath}-journal`),
  };
}

/**
 * Another process that holds `dbPath` open as a writer would: a plain `node -e` script (run from
 * the repository so `require("better-sqlite3")` resolves) that runs `setup` SQL statements
 * through `db.exec`, prints "ready" and then waits until it is killed. Killed (SIGKILL) and
 * reaped when the test ends, or earlier with `kill()` to leave a crashed writer's files behind.
 */
export async function holdDatabase(
  t: TestContext,
  dbPath: string,
  setup: readonly string[],
): Promise<{ child: ChildProcess; kill: () => Promise<void> }> {
  const script = `
    const Database = require("better-sqlite3");
    const [path, setup] = [process.argv[1], JSON.parse(process.argv[2])];
    const db = new Database(path);
    for (const sql of setup) db.exec(sql);
    process.stdout.write("ready\\n");
    setInterval(() => {}, 60000);
  `;
  const child = spawn(process.execPath, ["-e", script, dbPath, JSON.stringify(setup)], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const exited = once(child, "exit");
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  };
  t.after(kill);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const ready = new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line === "ready") resolve();
    });
    child.once("exit", (code) => reject(new Error(`holder exited (${code}): ${stderr}`)));
  });
  const timeout = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    await ready;
  } finally {
    clearTimeout(timeout);
  }
  return { child, kill };
}

/** `INSERT` statements for `rows`, as SQL text (the holder child runs plain SQL). */
export function insertSql(rows: readonly RowInput[]): string {
  const literal = (v: string | number | bigint) =>
    typeof v === "string" ? `'${v.replaceAll("'", "''")}'` : String(v);
  return rows
    .map(
      (r) =>
        `INSERT INTO db_agent_instances (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((c) => literal(r[c])).join(", ")});`,
    )
    .join("\n");
}
