/**
 * Black-box harness for the `agentmux-registry` CLI: spawns the BUILT binary (`dist/cli/bin.cjs`)
 * in a throw-away sandbox and hands back its exit code, stdout and stderr. Spawned processes are
 * never TTYs, so every run also checks that no ANSI escape reached either stream.
 *
 * A sandbox is `<tmp>/home` used through `AGENTMUX_HOME_OVERRIDE` (registry root
 * `<tmp>/home/shared/agents/registry`, agents base `<tmp>/home/agents`) or, with `mode:
 * "flags"`, the same three paths passed as `--root`, `--agents-base` and `--home` with no
 * override in the environment. `HOME` always points at `<tmp>/user`, so a command that ignored
 * its paths would write there (and `userHomeTouched()` says so) instead of into the real home.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import type { TestContext } from "node:test";
import Database from "better-sqlite3";
import { CREATE_INSTANCE_TABLE } from "../../src/sqlite/rows.js";
import { tempDir } from "../helpers.js";

export const REPO = join(import.meta.dirname, "..", "..");
export const BIN = join(REPO, "dist", "cli", "bin.cjs");
export const PACKAGE_VERSION: string = JSON.parse(
  readFileSync(join(REPO, "package.json"), "utf8"),
).version;

/** The key set of one agent in `--json` output (`agentJson`). */
export const AGENT_KEYS = [
  "created_at_ms",
  "created_by_version",
  "definition_id",
  "identity_id",
  "in_use",
  "instance_id",
  "instance_name",
  "last_launched_at_ms",
  "last_launched_by_version",
  "memory_id",
  "schema_version",
  "session_id",
  "source_agents_base",
  "working_dir",
];

export const ESC = "\x1b[";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  args: readonly string[];
}

export interface RunOptions {
  /** Variables added to (or, when `undefined`, removed from) the sandbox environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Skip the "no ANSI escape" check (only for output that is allowed colour). */
  allowEscapes?: boolean;
}

export type PathMode = "env" | "flags";

export interface Sandbox {
  tmp: string;
  home: string;
  root: string;
  retired: string;
  agentsBase: string;
  /** `$HOME` of the spawned processes: nothing may ever appear under it. */
  userHome: string;
  /** The environment every run starts from. */
  env: NodeJS.ProcessEnv;
  /** The path flags this sandbox adds (empty in "env" mode). */
  pathFlags: string[];
  /** Runs `agentmux-registry <pathFlags> <args>`. */
  run: (args: readonly string[], options?: RunOptions) => Promise<RunResult>;
  /** Runs without adding the sandbox's path flags. */
  runRaw: (args: readonly string[], options?: RunOptions) => Promise<RunResult>;
  userHomeTouched: () => boolean;
}

export function requireBuild(): void {
  if (!existsSync(BIN)) {
    assert.fail(
      `${BIN} is missing: the CLI tests run the built binary. Run \`npm run build\` first ` +
        "(`npm test` builds before testing).",
    );
  }
}

/** A process environment with nothing from the caller that could change the CLI's behaviour. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (
      key.startsWith("AGENTMUX_") ||
      key === "CI" ||
      key === "NO_COLOR" ||
      key === "FORCE_COLOR" ||
      key.startsWith("NODE_TEST") ||
      key === "NODE_OPTIONS"
    ) {
      delete env[key];
    }
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function sandbox(t: TestContext, mode: PathMode = "env"): Sandbox {
  requireBuild();
  const tmp = tempDir(t, "amr-cli-");
  const home = join(tmp, "home");
  const root = join(home, "shared", "agents", "registry");
  const agentsBase = join(home, "agents");
  const userHome = join(tmp, "user");
  mkdirSync(userHome, { recursive: true });
  const env = cleanEnv({
    HOME: userHome,
    USERPROFILE: userHome,
    AGENTMUX_HOME_OVERRIDE: mode === "env" ? home : undefined,
  });
  const pathFlags =
    mode === "flags" ? ["--root", root, "--agents-base", agentsBase, "--home", home] : [];
  const runRaw = (args: readonly string[], options: RunOptions = {}) =>
    runBin(args, {
      ...options,
      env: { ...env, ...options.env },
      cwd: options.cwd ?? tmp,
    });
  return {
    tmp,
    home,
    root,
    retired: join(root, "retired"),
    agentsBase,
    userHome,
    env,
    pathFlags,
    runRaw,
    run: (args, options) => runRaw([...pathFlags, ...args], options),
    userHomeTouched: () => existsSync(join(userHome, ".agentmux")),
  };
}

/**
 * At most this many CLIs run at once in one test file (tests run concurrently; each spawn is
 * mostly CPU for module loading, so more than about twice the cores only adds contention).
 */
const MAX_RUNNING = Math.max(2, availableParallelism() * 2);
let running = 0;
const waiting: (() => void)[] = [];

async function withSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_RUNNING) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next)
      next(); // hand the slot over
    else running--;
  }
}

/** Spawns `node dist/cli/bin.cjs ...args`; `options.env` is the whole environment. */
export function runBin(
  args: readonly string[],
  options: { env: Record<string, string | undefined>; cwd: string; allowEscapes?: boolean },
): Promise<RunResult> {
  return withSlot(() => spawnBin(args, options));
}

async function spawnBin(
  args: readonly string[],
  options: { env: Record<string, string | undefined>; cwd: string; allowEscapes?: boolean },
): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(options.env)) if (value !== undefined) env[key] = value;
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
    const result: RunResult = {
      code,
      signal,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
      args,
    };
    if (!options.allowEscapes) {
      assert.ok(!result.stdout.includes(ESC), `ANSI escape on stdout of ${show(result)}`);
      assert.ok(!result.stderr.includes(ESC), `ANSI escape on stderr of ${show(result)}`);
    }
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** A one-line description of a run for assertion messages. */
export function show(result: RunResult): string {
  return `agentmux-registry ${result.args.join(" ")} → exit ${result.code}${result.signal ? ` (${result.signal})` : ""}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

export function assertExit(result: RunResult, code: number): void {
  assert.equal(result.code, code, `expected exit ${code}: ${show(result)}`);
}

/** Exit 0, and stderr empty unless `stderrAllowed`. */
export function assertOk(result: RunResult, options: { stderrAllowed?: boolean } = {}): void {
  assertExit(result, 0);
  if (!options.stderrAllowed) assert.equal(result.stderr, "", `stderr not empty: ${show(result)}`);
}

/** The whole of stdout is exactly one JSON value. */
export function parseJson<T = Record<string, unknown>>(result: RunResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    assert.fail(`stdout is not one JSON value (${String(error)}): ${show(result)}`);
  }
}

/**
 * A failed human-mode run: the expected exit code, nothing on stdout, and stderr exactly one line
 * starting with `error:`. Returns that line.
 */
export function assertErrorLine(result: RunResult, code: number): string {
  assertExit(result, code);
  assert.equal(result.stdout, "", `stdout must be empty on error: ${show(result)}`);
  assert.match(result.stderr, /^error: [^\n]+\n$/, `one "error:" line on stderr: ${show(result)}`);
  return result.stderr.trimEnd();
}

/** A failed `--json` run: the exit code, one `{ error: { code, message, … } }` value on stdout. */
export function assertJsonError(
  result: RunResult,
  exit: number,
  code: string,
): { code: string; message: string } & Record<string, unknown> {
  assertExit(result, exit);
  const body = parseJson<{ error: { code: string; message: string } & Record<string, unknown> }>(
    result,
  );
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.equal(body.error.code, code, show(result));
  assert.equal(typeof body.error.message, "string");
  assert.match(result.stderr, /^error: [^\n]+\n$/, `one "error:" line on stderr: ${show(result)}`);
  return body.error;
}

export const keys = (value: unknown) => Object.keys(value as object).sort();

// ---------------------------------------------------------------------------------------------
// Seeding the registry by writing record files directly.

export interface SeedData {
  instance_id: string;
  instance_name?: string;
  definition_id?: string;
  identity_id?: string | null;
  memory_id?: string | null;
  session_id?: string | null;
  working_dir?: string;
  source_agents_base?: string | null;
  created_at_ms?: number;
  last_launched_at_ms?: number;
  created_by_version?: string;
  last_launched_by_version?: string;
  [unknown: string]: unknown;
}

/** The record's canonical file text (SPEC §2) for `data` (defaults filled in). */
export function recordText(data: SeedData, schemaVersion?: number): string {
  const full = {
    instance_name: `name-${data.instance_id}`,
    definition_id: "claude-code",
    identity_id: null,
    memory_id: null,
    session_id: null,
    working_dir: `${data.instance_id}-wd`,
    source_agents_base: null,
    created_at_ms: 1_747_049_400_000,
    last_launched_at_ms: 1_747_061_640_000,
    created_by_version: "0.33.821",
    last_launched_by_version: "0.33.821",
    ...data,
  };
  const version =
    schemaVersion ?? (full.source_agents_base !== null ? 3 : full.session_id !== null ? 2 : 1);
  return `${JSON.stringify({ schema_version: version, data: full }, null, 2)}\n`;
}

/**
 * Writes `<root>/<id>.json` (or `retired/<id>.json`) and, unless `dir: false`, creates the
 * working directory under the agents base. Returns the file's path.
 */
export function seed(
  box: Sandbox,
  data: SeedData,
  options: { retired?: boolean; dir?: boolean } = {},
): string {
  const file = join(options.retired ? box.retired : box.root, `${data.instance_id}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, recordText(data), { mode: 0o600 });
  if (options.dir !== false) {
    const base = (data.source_agents_base as string | null | undefined) ?? box.agentsBase;
    mkdirSync(join(base, data.working_dir ?? `${data.instance_id}-wd`), { recursive: true });
  }
  return file;
}

/** Writes arbitrary bytes as a file in the registry root (a corrupt record, a temp file …). */
export function writeRaw(box: Sandbox, name: string, text: string, ageMs = 0): string {
  const file = join(box.root, name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    utimesSync(file, then, then);
  }
  return file;
}

export const readRecord = (file: string) =>
  JSON.parse(readFileSync(file, "utf8")) as { schema_version: number; data: SeedData };

// ---------------------------------------------------------------------------------------------
// Fake per-version SQLite databases (SPEC §8).

export interface SqlRow {
  id: string;
  instance_name: string;
  working_directory: string;
  definition_id?: string;
  parent_instance_id?: string;
  session_id?: string;
  identity_id?: string;
  memory_id?: string;
  started_at?: number;
  created_at?: number;
  display_hidden?: number;
}

/** Creates `<home>/<relDir>/data/db/objects.db` with the `db_agent_instances` table and `rows`. */
export function addDatabase(home: string, relDir: string, rows: readonly SqlRow[]): string {
  const path = join(home, relDir, "data", "db", "objects.db");
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma("journal_mode = DELETE");
    db.exec(CREATE_INSTANCE_TABLE);
    const insert = db.prepare(
      `INSERT INTO db_agent_instances (id, definition_id, parent_instance_id, block_id, session_id,
         status, identity_id, memory_id, instance_name, working_directory, started_at, created_at,
         display_hidden)
       VALUES (@id, @definition_id, @parent_instance_id, @block_id, @session_id, 'done',
         @identity_id, @memory_id, @instance_name, @working_directory, @started_at, @created_at,
         @display_hidden)`,
    );
    for (const row of rows) {
      insert.run({
        definition_id: "claude-code",
        parent_instance_id: "",
        block_id: `block-${row.id}`,
        session_id: "",
        identity_id: "",
        memory_id: "",
        started_at: 1_747_061_640_000,
        created_at: 1_747_058_040_000,
        display_hidden: 0,
        ...row,
      });
    }
  } finally {
    db.close();
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// Tables.

export const TABLE_HEADERS = [
  "NAME",
  "DEFINITION",
  "IDENTITY",
  "MEMORY",
  "LAST LAUNCHED",
  "WORKING DIR",
  "ID",
] as const;

/**
 * Splits an agent table into cells by the header's column offsets, asserting on the way that
 * every cell of every row starts exactly at its header's offset (text at the offset, at least two
 * spaces before it).
 */
export function tableCells(text: string): string[][] {
  const lines = text.replace(/\n$/, "").split("\n");
  const header = lines[0] ?? "";
  const starts: number[] = [];
  let from = 0;
  for (const title of TABLE_HEADERS) {
    const at = header.indexOf(title, from);
    assert.ok(at >= 0, `header has ${title}: ${JSON.stringify(header)}`);
    starts.push(at);
    from = at + title.length;
  }
  assert.equal(starts[0], 0, "the first column starts the line");
  const cellsOf = (line: string) =>
    starts.map((start, i) => {
      const end = starts[i + 1] ?? line.length;
      const cell = line.slice(start, end);
      assert.notEqual(
        cell[0] ?? " ",
        " ",
        `column ${TABLE_HEADERS[i]} starts at ${start}: ${line}`,
      );
      if (i > 0) {
        assert.equal(line.slice(start - 2, start), "  ", `two spaces before column ${i}: ${line}`);
      }
      return cell.trimEnd();
    });
  assert.deepEqual(cellsOf(header), [...TABLE_HEADERS]);
  return lines.slice(1).map(cellsOf);
}
