/**
 * `migrateFromSqliteOnce` — every per-version SQLite database into the registry, once (SPEC §9).
 *
 * Sources are opened read-only and never written (SQLite may update a WAL database's `-shm`
 * read marks). Rows are gathered per id across all sources first — the greatest `started_at`
 * wins, `display_hidden` is OR-ed over every copy — and then written in bulk, never over an id
 * that exists in either tree. The marker is written only when every source was read; until then
 * each launch tries again and already-written ids are skipped.
 */

import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { errnoCode } from "../io/fs.js";
import type { ImportItem, Registry } from "../registry.js";
import { INSTANCE_TABLE, type InstanceRow, NAMED_HEADS_WHERE, rowToRecord } from "./rows.js";

const MIGRATION_VERSION = 2;
export const MARKER_NAME = ".migrated_from_sqlite";
const LEGACY_VERSION = "(legacy)";

/** What {@link migrateFromSqliteOnce} did; all zero when the marker said it was done already. */
export interface MigrateStats {
  /** Databases found and read. */
  dbs_scanned: number;
  /** Databases that could not be read (the migration is then not complete). */
  dbs_skipped: number;
  /** Rows seen across every database. */
  rows_seen: number;
  /** Records written (active and retired). */
  records_written: number;
  /** Agents already in the registry, in either tree: never overwritten. */
  records_skipped_existing: number;
  /** Rows whose working directory could not be anchored on an agents base. */
  records_skipped_unmappable: number;
  /** Rows that would not make a valid record. */
  records_skipped_invalid: number;
  /** Whether every database was read, so the marker was written and no launch tries again. */
  complete: boolean;
  /**
   * Each database, and each directory on the way to one, that could not be read, with the
   * reason as the system or SQLite said it (`EACCES: permission denied`,
   * `file is not a database`): what makes a run incomplete.
   */
  unreadable: { path: string; reason: string }[];
}

/** A database, or a directory where databases are looked for, that could not be read. */
type UnreadableSource = MigrateStats["unreadable"][number];

/** Progress of a migration: reading each database, then writing the records. */
export type MigrateProgress =
  | { phase: "read"; done: number; total: number; database: string }
  | { phase: "write"; done: number; total: number };

/** Options of {@link migrateFromSqliteOnce}. */
export interface MigrateOptions {
  /** Called as databases are read and records written. */
  onProgress?: (progress: MigrateProgress) => void;
}

/** A database found under home, and the agents dir its rows may be anchored on. */
interface Source {
  path: string;
  ownAgentsDir: string | null;
}

interface Candidate {
  row: InstanceRow;
  source: Source;
  hidden: boolean;
}

/**
 * Imports every per-version SQLite database under `home` into the registry, once (SPEC §9): the
 * sources are opened read-only; per id the row with the greatest `started_at` wins; no id that
 * exists in either tree is written over. The marker `.migrated_from_sqlite` is written only when
 * every database was read; until then each call tries again, and ids already written are skipped.
 *
 * @param home - the install home holding the per-version databases (`~/.agentmux`)
 * @param registry - the registry to import into
 */
export async function migrateFromSqliteOnce(
  home: string,
  registry: Registry,
  options: MigrateOptions = {},
): Promise<MigrateStats> {
  const stats: MigrateStats = {
    dbs_scanned: 0,
    dbs_skipped: 0,
    rows_seen: 0,
    records_written: 0,
    records_skipped_existing: 0,
    records_skipped_unmappable: 0,
    records_skipped_invalid: 0,
    complete: true,
    unreadable: [],
  };
  if (await markerIsCurrent(registry)) return stats;

  const discovery = findSources(home);
  stats.unreadable.push(...discovery.unreadable);
  stats.dbs_scanned = discovery.sources.length;

  const byId = new Map<string, Candidate>();
  discovery.sources.forEach((source, index) => {
    const read = readNamedHeads(source.path);
    if ("reason" in read) {
      stats.dbs_skipped++;
      stats.unreadable.push({ path: source.path, reason: read.reason });
    } else {
      stats.rows_seen += read.rows.length;
      for (const row of read.rows) gather(byId, row, source);
    }
    options.onProgress?.({
      phase: "read",
      done: index + 1,
      total: discovery.sources.length,
      database: source.path,
    });
  });

  const items: ImportItem[] = [];
  // One listing of both trees' names, not two lstats per row: importRecords' links still refuse
  // any file that appears meanwhile.
  const existing = registry.idsInEitherTree();
  for (const [id, candidate] of byId) {
    const mapped = rowToRecord(
      candidate.row,
      anchorsFor(registry, candidate.source),
      LEGACY_VERSION,
    );
    if (!mapped.ok && mapped.reason === "invalid-id") {
      stats.records_skipped_invalid++;
    } else if (existing.has(id)) {
      stats.records_skipped_existing++;
    } else if (!mapped.ok) {
      if (mapped.reason === "unmappable") stats.records_skipped_unmappable++;
      else stats.records_skipped_invalid++;
    } else {
      items.push({ record: mapped.record, retired: candidate.hidden });
    }
  }

  const imported = await registry.importRecords(items, (done, total) =>
    options.onProgress?.({ phase: "write", done, total }),
  );
  stats.records_written = imported.written;
  stats.records_skipped_existing += imported.skippedExisting;

  stats.complete = stats.unreadable.length === 0;
  if (stats.complete) await writeMarker(registry, stats);
  return stats;
}

/**
 * The databases under `home` that a migration could not read now, and the directories it could
 * not look into, each with its reason (`doctor`). Reads every database as the migration does,
 * read-only, and writes nothing.
 */
export function unreadableSources(home: string): UnreadableSource[] {
  const discovery = findSources(home);
  const unreadable = [...discovery.unreadable];
  for (const source of discovery.sources) {
    const read = readNamedHeads(source.path);
    if ("reason" in read) unreadable.push({ path: source.path, reason: read.reason });
  }
  return unreadable;
}

/** Same id in several databases: the latest launch wins; hidden anywhere means hidden. */
function gather(byId: Map<string, Candidate>, row: InstanceRow, source: Source): void {
  const hidden = row.display_hidden !== 0n;
  const seen = byId.get(row.id);
  if (!seen) {
    byId.set(row.id, { row, source, hidden });
    return;
  }
  const winner = row.started_at > seen.row.started_at ? { row, source } : seen;
  byId.set(row.id, { ...winner, hidden: seen.hidden || hidden });
}

/** The registry's agents base first, then the source's own agents dir. */
function anchorsFor(registry: Registry, source: Source): string[] {
  return source.ownAgentsDir ? [registry.agentsBase, source.ownAgentsDir] : [registry.agentsBase];
}

/**
 * Rows of one database, or why it cannot be read. A missing table or column is an older (or
 * newer) schema without named agents: zero rows, not a failure.
 */
function readNamedHeads(path: string): { rows: InstanceRow[] } | { reason: string } {
  let copy: string | undefined;
  let db: Database.Database | undefined;
  try {
    // Only a regular file is opened: SQLite's open (and ours) would block forever on a FIFO.
    if (!statSync(path).isFile()) return { reason: "not a regular file" };
    copy = walWithoutLog(path) ? stableCopy(path) : undefined;
    // A short busy timeout: a database locked by its writer is skipped (and retried next launch)
    // rather than stalling the launcher.
    db = new Database(copy ?? path, { readonly: true, fileMustExist: true, timeout: 500 });
    db.defaultSafeIntegers(true);
    const rows = db
      .prepare(
        `SELECT id, definition_id, parent_instance_id, session_id, identity_id, memory_id, instance_name,
                working_directory, started_at, created_at, display_hidden
           FROM ${INSTANCE_TABLE} WHERE ${NAMED_HEADS_WHERE} ORDER BY id`,
      )
      .all() as InstanceRow[];
    return { rows };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/no such (table|column)/.test(message)) return { rows: [] };
    return { reason: reasonOf(error) };
  } finally {
    db?.close();
    if (copy) rmSync(dirname(copy), { recursive: true, force: true });
  }
}

/**
 * A WAL-mode database (header byte 18 = 2) with no `-wal` beside it: opening it, even read-only,
 * would create an empty `-wal`, and the contract is that no source gains or loses a file but the
 * `-shm`. Everything is in the main file then, so a copy of it is read instead.
 */
function walWithoutLog(path: string): boolean {
  if (existsSync(`${path}-wal`)) return false;
  const header = Buffer.alloc(20);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return (
      readSync(fd, header, 0, 20, 0) === 20 &&
      header.toString("latin1", 0, 15) === "SQLite format 3" &&
      header[18] === 2
    );
  } finally {
    closeSync(fd);
  }
}

/** Copies the main file, retrying while a writer changes it (or starts a `-wal`) meanwhile. */
function stableCopy(path: string): string {
  const dir = mkdtempSync(join(tmpdir(), "agentmux-registry-migrate-"));
  const copy = join(dir, "objects.db");
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = statSync(path, { bigint: true });
    copyFileSync(path, copy);
    const after = statSync(path, { bigint: true });
    if (
      before.mtimeNs === after.mtimeNs &&
      before.size === after.size &&
      !existsSync(`${path}-wal`)
    )
      return copy;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`${path} kept changing while it was copied`);
}

interface Discovery {
  sources: Source[];
  /** Directories and entries that could not be read: the discovery is incomplete. */
  unreadable: UnreadableSource[];
}

/** A system error as a reason: `EACCES: permission denied` (the path is said beside it). */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return errnoCode(error) ? message.replace(/, \w+ '.*'$/s, "") : message;
}

/**
 * Every `objects.db` under the four layouts. A directory that cannot be listed (other than a
 * missing one) makes the discovery incomplete: the marker must not be written over it.
 */
export function findSources(home: string): Discovery {
  const sources: Source[] = [];
  const unreadable: UnreadableSource[] = [];
  /**
   * Whether a symlink leads to a directory. A dangling one (an uninstalled version that
   * `latest` still names) is skipped; one that cannot be followed (a loop, no permission) makes
   * the run incomplete.
   */
  const linkedDirectory = (path: string): boolean => {
    try {
      return statSync(path).isDirectory();
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") unreadable.push({ path, reason: reasonOf(error) });
      return false;
    }
  };
  const list = (dir: string): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter(
          (entry) =>
            entry.isDirectory() ||
            (entry.isSymbolicLink() && linkedDirectory(join(dir, entry.name))),
        )
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") unreadable.push({ path: dir, reason: reasonOf(error) });
      return [];
    }
  };
  const databaseIn = (instanceDir: string): string | null => {
    const path = join(instanceDir, "data", "db", "objects.db");
    try {
      statSync(path);
      return path;
    } catch (error) {
      const code = errnoCode(error);
      if (code !== "ENOENT" && code !== "ENOTDIR")
        unreadable.push({ path, reason: reasonOf(error) });
      return null;
    }
  };

  for (const version of list(join(home, "versions"))) {
    const path = databaseIn(join(home, "versions", version));
    if (path) sources.push({ path, ownAgentsDir: null });
  }
  for (const channel of list(join(home, "channels"))) {
    const channelDir = join(home, "channels", channel);
    for (const version of list(join(channelDir, "versions"))) {
      const path = databaseIn(join(channelDir, "versions", version));
      if (path) sources.push({ path, ownAgentsDir: join(channelDir, "agents") });
    }
  }
  for (const branch of list(join(home, "dev"))) {
    const branchDir = join(home, "dev", branch);
    const path = databaseIn(branchDir);
    if (path) {
      // An instance dir is a leaf: databases below it (a nested agent's own) are not sources.
      sources.push({ path, ownAgentsDir: join(branchDir, "agents") });
      continue;
    }
    for (const sub of list(branchDir)) {
      const subDir = join(branchDir, sub);
      const subPath = databaseIn(subDir);
      if (subPath) sources.push({ path: subPath, ownAgentsDir: join(subDir, "agents") });
    }
  }
  return { sources, unreadable };
}

/** A marker counts only with a `migration_version` line of at least the current version. */
export async function markerIsCurrent(registry: Registry): Promise<boolean> {
  const text = await registry.readMarker(MARKER_NAME);
  const match = text === null ? null : /^migration_version:\s*(\d+)\s*$/m.exec(text);
  return match !== null && Number(match[1]) >= MIGRATION_VERSION;
}

async function writeMarker(registry: Registry, stats: MigrateStats): Promise<void> {
  const lines = [
    `migration_version: ${MIGRATION_VERSION}`,
    `migrated_at_ms: ${Date.now()}`,
    // The counts only: a complete run has nothing unreadable to list.
    ...Object.entries(stats)
      .filter(([key]) => key !== "unreadable")
      .map(([key, value]) => `${key}: ${value}`),
  ];
  await registry.writeMarker(MARKER_NAME, `${lines.join("\n")}\n`);
}
