/**
 * `Registry` — the one door to the store: `<root>/<id>.json` for active records and
 * `<root>/retired/<id>.json` for tombstones.
 *
 * Concurrency: readers take no lock and see each file's old or new bytes (every write is a
 * rename). Every mutation of one id runs under that id's in-process mutex and then its
 * cross-process lock file (io/lock.ts); one record lock at a time, bulk operations walk their ids
 * one by one. Just before each rename the target is checked to still be the file that was read;
 * if a lock-ignoring writer changed it, the read-merge-write starts over (`CONFLICT` after a few).
 */

import { EventEmitter } from "node:events";
import { join, resolve } from "node:path";
import { decodeRecord } from "./core/decode.js";
import { RegistryError } from "./core/errors.js";
import { checkId } from "./core/ids.js";
import type { JsonObject } from "./core/json.js";
import {
  copyForChange,
  openForWrite,
  type PreparedRecord,
  planMerge,
  planUpdate,
  prepareRecord,
  type Refusal,
  startUpdate,
  type UpsertOutcome,
} from "./core/merge.js";
import { MAX_FILE_BYTES, type NamedAgentRecord, type RecordInput } from "./core/schema.js";
import { monotonicMs } from "./io/clock.js";
import {
  directoryIdentity,
  type EntryRead,
  type Expected,
  ensureDirectory,
  entryExists,
  entryKind,
  fsyncDirectory,
  listDirectory,
  moveEntry,
  readEntry,
  removeEntry,
  sameFile,
  sleep,
  syncFileSystemWithCoreutils,
  TargetChanged,
  type WriteContext,
  writeFileAtomic,
} from "./io/files.js";
import { type FsOps, realFs } from "./io/fs.js";
import { KeyedMutex } from "./io/keyed-mutex.js";
import {
  acquireLock,
  DEFAULT_LOCK_SETTINGS,
  LOCK_PREFIX,
  LockHolder,
  type LockSettings,
} from "./io/lock.js";
import { defaultPaths } from "./io/paths.js";
import { DEFAULT_SWEEP_AFTER_MS } from "./io/sweep.js";
import { type Outcome, type SkippedFile, type TreeRead, TreeReader } from "./io/tree-reader.js";
import {
  hardDeleteForAgent,
  moveForAgent,
  type RecordScope,
  setInstanceNameForAgent,
} from "./store/agent-scope.js";
import { type ImportItem, type ImportResult, importRecords } from "./store/bulk-import.js";
import { describeUnreadable, invalidEntry, invalidFile } from "./store/record-errors.js";
import { type Logger, type OddFile, RootFiles, type SweepResult } from "./store/root-files.js";

export type { RecordScope } from "./store/agent-scope.js";

/** The result of `retire` / `unretire`: moved, or why not (no such file; an active record exists). */
export type MoveOutcome = { moved: true } | { moved: false; reason: "absent" | "active-exists" };

export type { SkippedFile } from "./io/tree-reader.js";

/** Both trees read at once: the valid records, and every file left out with its reason. */
export interface ScanResult {
  active: NamedAgentRecord[];
  retired: NamedAgentRecord[];
  skipped: SkippedFile[];
}

/** The `loaded` event: a listing finished (counts are `null` for a tree it did not read). */
export interface LoadedEvent {
  active_count: number | null;
  retired_count: number | null;
  skipped_count: number;
  slowest_file_ms: number;
}

/** The `wrote` event: a record file was written. */
export interface WroteEvent {
  file: string;
  schema_version: number;
  fields: number;
  elapsed_ms: number;
}

/** The events a {@link Registry} emits: `skipped` (a file left out), `loaded`, `wrote`. */
export interface RegistryEvents {
  skipped: [SkippedFile];
  loaded: [LoadedEvent];
  wrote: [WroteEvent];
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Options of {@link Registry.open}. */
export interface RegistryOptions {
  /** Where working directories live (default: SPEC §1). */
  agentsBase?: string;
  /** Receives diagnostics; silent by default. */
  logger?: Logger;
  /** File-system primitives; tests inject faults here. */
  fs?: FsOps;
  /** Decides platform behaviour (Windows rename retry, directory fsync). */
  platform?: NodeJS.Platform;
  /** How lock waits and the Windows rename retry wait. */
  sleep?: (ms: number) => Promise<void>;
  /** Longest wait for a record lock before `LOCK_TIMEOUT` (default 10 s). */
  lockTimeoutMs?: number;
  /** Age after which a lock whose holder stopped refreshing it is taken over (default 5 s). */
  lockStaleMs?: number;
  /** Temp and lock files older than this are removed by `sweep()` (default 5 min). */
  sweepAfterMs?: number;
  /** Whether `open` sweeps (default true); diagnostics that report stale files turn it off. */
  sweepOnOpen?: boolean;
  /**
   * Whether `open` creates the root and `retired/` when missing (default true). With `false`
   * nothing is created: a missing tree lists as empty, and every write fails with `IO`
   * (`ENOENT`) naming the missing directory. For readers that must leave no trace (a mistyped
   * `--root` must not become a registry).
   */
  create?: boolean;
}

/** One record for {@link Registry.importRecords}. */
export type { ImportItem, ImportResult } from "./store/bulk-import.js";
export type { Logger, OddFile, SweepResult } from "./store/root-files.js";

/** How many times a write starts over when another writer changed the file under it. */
const MAX_WRITE_ATTEMPTS = 8;

const RETIRED_DIR = "retired";

export type Tree = "active" | "retired";

/**
 * The registry: one root on disk (`<root>/<id>.json`, `<root>/retired/<id>.json`), read and
 * written by the rules of docs/FORMAT.md — atomic writes, per-record cross-process locks, lossless
 * merges that keep unknown fields and number tokens. Open one with {@link Registry.open}.
 * Listings are cached per process and stay exact; the records they return are frozen and shared.
 */
export class Registry extends EventEmitter<RegistryEvents> {
  /** The registry root. */
  readonly root: string;
  /** Where working directories live (`RegistryOptions.agentsBase`, default SPEC §1). */
  readonly agentsBase: string;
  private readonly retiredDir: string;
  private readonly logger: Logger;
  private readonly io: WriteContext;
  private readonly mutex = new KeyedMutex();
  private readonly activeReader: TreeReader;
  private readonly retiredReader: TreeReader;
  private readonly lockSettings: LockSettings;
  private readonly lockHolder: LockHolder;
  private readonly sweepAfterMs: number;
  private readonly rootFiles: RootFiles;
  /** Opened with `create: false`: writes first check that both trees exist. */
  private readonly existingOnly: boolean;

  private constructor(root: string, options: RegistryOptions) {
    super();
    this.root = root;
    this.retiredDir = join(root, RETIRED_DIR);
    this.agentsBase = resolve(options.agentsBase ?? defaultPaths().agentsBase);
    this.logger = options.logger ?? silent;
    this.io = {
      fs: options.fs ?? realFs,
      platform: options.platform ?? process.platform,
      sleep: options.sleep ?? sleep,
      // An injected fs means a test controls every flush: keep bulk writes on it.
      syncFileSystem: options.fs ? undefined : syncFileSystemWithCoreutils,
    };
    this.lockSettings = {
      timeoutMs: positive("lockTimeoutMs", options.lockTimeoutMs, DEFAULT_LOCK_SETTINGS.timeoutMs),
      staleMs: positive("lockStaleMs", options.lockStaleMs, DEFAULT_LOCK_SETTINGS.staleMs),
    };
    this.lockHolder = new LockHolder(this.io, this.root);
    this.rootFiles = new RootFiles(this.io, this.root, this.retiredDir, this.logger);
    this.sweepAfterMs = positive("sweepAfterMs", options.sweepAfterMs, DEFAULT_SWEEP_AFTER_MS);
    this.activeReader = new TreeReader(this.io.fs, this.root, "");
    this.retiredReader = new TreeReader(this.io.fs, this.retiredDir, `${RETIRED_DIR}/`);
    this.existingOnly = options.create === false;
  }

  /**
   * Opens the registry at `root`, creating it and `retired/` (mode 0700) when missing (unless
   * `create: false`), and sweeps temp and lock files that crashed writers left behind.
   */
  static async open(root: string, options: RegistryOptions = {}): Promise<Registry> {
    const registry = new Registry(resolve(root), options);
    if (options.create !== false) ensureDirectory(registry.io.fs, registry.retiredDir);
    if (options.sweepOnOpen !== false) registry.sweep();
    return registry;
  }

  /** `IO` (`ENOENT`) before a write when opened with `create: false` and a tree is missing. */
  private requireTrees(): void {
    if (!this.existingOnly) return;
    for (const dir of [this.root, this.retiredDir]) {
      if (directoryIdentity(this.io.fs, dir) !== "absent") continue;
      throw new RegistryError(
        "IO",
        `${dir} does not exist: this registry was opened without creating it`,
        { op: "write", path: dir, errno: "ENOENT" },
      );
    }
  }

  /**
   * Releases what the registry keeps open between writes: the lock holder file (closed and
   * removed; it would otherwise be removed at process exit). Writes after `close()` still work
   * and make a new one. Call it before unmounting the registry's file system.
   */
  close(): void {
    this.lockHolder.close();
  }

  /**
   * Removes temp files (ours and the Rust writer's) and lock files older than `olderThanMs`
   * from both trees. A live writer's temp lives milliseconds and a live holder refreshes its lock
   * every few seconds, so nothing in use is ever removed.
   */
  sweep(olderThanMs: number = this.sweepAfterMs): SweepResult {
    return this.rootFiles.sweep(olderThanMs);
  }

  /** What `sweep()` would remove now, without removing anything (for diagnostics). */
  staleFiles(olderThanMs: number = this.sweepAfterMs): string[] {
    return this.rootFiles.staleFiles(olderThanMs);
  }

  /**
   * Entries at the names reserved for temp, lock and holder files that no writer puts there: a
   * FIFO, directory, socket or symlink (a write of that id fails with `INVALID_LOCK` while one
   * sits at its lock path), or a lock file whose content is not ours. Changes nothing.
   * (Library users get them through `RegistryService.doctor`.)
   *
   * @internal
   */
  oddEntries(): OddFile[] {
    return this.rootFiles.oddEntries();
  }

  /**
   * Removes the odd entries that provably hold nothing and are never a lock: FIFOs, sockets,
   * device nodes, symlinks (the link, never its target) and empty directories. Never a regular
   * file, never a directory with content. Returns what it removed, relative to the root.
   */
  removeOddEntries(): string[] {
    return this.rootFiles.removeOddEntries();
  }

  /** Inserts or merges one record (SPEC §5). Refusals are outcomes, not exceptions. */
  async upsert(input: RecordInput): Promise<UpsertOutcome> {
    const prepared = prepareRecord(input);
    const { id } = prepared;
    return this.locked(id, () => this.retrying(id, () => this.upsertLocked(prepared)));
  }

  private async upsertLocked(prepared: PreparedRecord): Promise<UpsertOutcome> {
    const { id } = prepared;
    const file = this.path("active", id);
    // A new record is the common upsert: a failed open's exception costs more than this lstat.
    const entry: EntryRead = entryExists(this.io.fs, file)
      ? readEntry(this.io.fs, file, MAX_FILE_BYTES)
      : { kind: "absent" };
    if (entry.kind === "absent") {
      if (entryExists(this.io.fs, this.path("retired", id))) {
        return this.refused(id, {
          status: "skipped",
          reason: "retired",
          message: `${id} is retired; restore it before writing it`,
        });
      }
      await this.write(id, prepared.text, prepared.tree, "absent");
      return { status: "created" };
    }
    const writable = this.writable(id, entry);
    if (!writable.ok) return this.refused(id, writable.refusal);
    const plan = planMerge(writable.top, prepared);
    if (plan.kind === "unchanged") return { status: "unchanged" };
    await this.write(id, plan.text, plan.tree, writable.identity);
    return { status: "updated" };
  }

  /**
   * The text of a marker file in the root (`.migrated_from_sqlite` …), or `null` if absent.
   *
   * @internal
   */
  async readMarker(name: string): Promise<string | null> {
    return this.rootFiles.readMarker(name);
  }

  /**
   * Atomically (and durably) replaces a marker file in the root.
   *
   * @internal
   */
  async writeMarker(name: string, text: string): Promise<void> {
    this.requireTrees();
    await this.rootFiles.writeMarker(name, text);
  }

  /**
   * Bulk creation for migrations: writes each record only if its id exists in neither tree.
   * Every record is validated before anything is written (`INVALID_ID`, `INVALID_RECORD`). Files
   * are created by hard link, which never replaces a file that appeared meanwhile, so no lock is
   * needed; fsyncs of the directories are batched (FORMAT.md, "Bulk import").
   */
  async importRecords(
    items: readonly ImportItem[],
    onProgress?: (done: number, total: number) => void,
  ): Promise<ImportResult> {
    this.requireTrees();
    return importRecords(
      {
        io: this.io,
        pathOf: (tree, id) => this.path(tree, id),
        idsIn: (tree) => this.namesIn(tree),
        announce: (file, tree, elapsedMs) => this.announceWrite(file, tree, elapsedMs),
      },
      items,
      onProgress,
    );
  }

  /**
   * Read-modify-write of one active record: `change` gets a deep copy including unknown fields
   * and returns the new record; what it did not alter is written back exactly as it was.
   */
  async update(
    id: string,
    change: (record: NamedAgentRecord) => NamedAgentRecord | Promise<NamedAgentRecord>,
  ): Promise<UpsertOutcome> {
    checkId(id);
    if (typeof change !== "function") {
      throw new RegistryError("INVALID_ARGUMENT", "update needs a change function", { id });
    }
    return this.locked(id, () => this.retrying(id, () => this.updateLocked(id, change)));
  }

  private async updateLocked(
    id: string,
    change: (record: NamedAgentRecord) => NamedAgentRecord | Promise<NamedAgentRecord>,
  ): Promise<UpsertOutcome> {
    const entry = readEntry(this.io.fs, this.path("active", id), MAX_FILE_BYTES);
    if (entry.kind === "absent") {
      const retired = entryExists(this.io.fs, this.path("retired", id));
      return {
        status: "skipped",
        reason: retired ? "retired" : "absent",
        message: retired ? `${id} is retired` : `${id} does not exist`,
      };
    }
    const writable = this.writable(id, entry);
    if (!writable.ok) return this.refused(id, writable.refusal);
    const start = startUpdate(id, writable.top);
    const plan = planUpdate(id, start, await change(copyForChange(start)));
    if (plan.kind === "unchanged") return { status: "unchanged" };
    await this.write(id, plan.text, plan.tree, writable.identity);
    return { status: "updated" };
  }

  /** The active record, `null` when there is none, `INVALID_FILE` when the file is not valid. */
  async get(id: string): Promise<NamedAgentRecord | null> {
    checkId(id);
    const file = `${id}.json`;
    const entry = readEntry(this.io.fs, this.path("active", id), MAX_FILE_BYTES);
    if (entry.kind === "absent") return null;
    if (entry.kind !== "bytes") throw invalidEntry(file, entry);
    const decoded = decodeRecord(id, entry.bytes);
    if (!decoded.ok) throw invalidFile(file, decoded.issue.reason, decoded.issue.message);
    return decoded.record;
  }

  /** Whether an entry named `<id>.json` is in the active tree (not validated). */
  async exists(id: string): Promise<boolean> {
    return entryExists(this.io.fs, this.path("active", checkId(id)));
  }

  /** Whether an entry named `<id>.json` is in either tree (not validated). */
  async existsAnywhere(id: string): Promise<boolean> {
    checkId(id);
    return (
      entryExists(this.io.fs, this.path("active", id)) ||
      entryExists(this.io.fs, this.path("retired", id))
    );
  }

  /** Every valid active record, sorted by id; invalid files are skipped and reported. */
  async listActive(): Promise<NamedAgentRecord[]> {
    const active = this.readTree("active");
    this.report(
      active.skipped,
      { active_count: active.records.length, retired_count: null },
      active.slowestMs,
    );
    return active.records;
  }

  /** Every valid tombstone, sorted by id; invalid files are skipped and reported. */
  async listRetired(): Promise<NamedAgentRecord[]> {
    const retired = this.readTree("retired");
    this.report(
      retired.skipped,
      { active_count: null, retired_count: retired.records.length },
      retired.slowestMs,
    );
    return retired.records;
  }

  /** Both trees with every skipped file and its reason: what diagnostics need. */
  async scan(): Promise<ScanResult> {
    const active = this.readTree("active");
    const retired = this.readTree("retired");
    const skipped = [...active.skipped, ...retired.skipped];
    this.report(
      skipped,
      { active_count: active.records.length, retired_count: retired.records.length },
      Math.max(active.slowestMs, retired.slowestMs),
    );
    return { active: active.records, retired: retired.records, skipped };
  }

  /** Moves `<id>.json` into `retired/`, replacing an older tombstone. */
  async retire(id: string): Promise<MoveOutcome> {
    checkId(id);
    return this.locked(id, () => this.move(id, "active", "retired"));
  }

  /** Moves `retired/<id>.json` back; never replaces an active record (`active-exists`). */
  async unretire(id: string): Promise<MoveOutcome> {
    checkId(id);
    return this.locked(id, () => this.move(id, "retired", "active"));
  }

  /** Removes `<id>.json` from both trees by file key; returns how many files went. */
  async hardDelete(id: string): Promise<number> {
    checkId(id);
    return this.locked(id, () => this.deleteLocked(id));
  }

  /** Removes every record of the agent from both trees; returns how many files went. */
  async hardDeleteForAgent(agentId: string, scope: RecordScope): Promise<number> {
    return hardDeleteForAgent(this, agentId, scope);
  }

  /** Retires every active record of the agent, each keeping its file name; returns how many moved. */
  async retireForAgent(agentId: string, scope: RecordScope): Promise<number> {
    return moveForAgent(this, agentId, scope, "active");
  }

  /** Restores every tombstone of the agent that has no active record; returns how many moved. */
  async unretireForAgent(agentId: string, scope: RecordScope): Promise<number> {
    return moveForAgent(this, agentId, scope, "retired");
  }

  /**
   * Renames every valid active record of the agent. Records that are invalid (an empty name
   * among them) stay untouched and invisible; records already carrying `name` are not rewritten.
   * Returns how many changed.
   */
  async setInstanceNameForAgent(
    agentId: string,
    scope: RecordScope,
    name: string,
  ): Promise<number> {
    return setInstanceNameForAgent(this, agentId, scope, name);
  }

  /** Runs `work` holding `id`'s in-process mutex and its cross-process lock file. */
  private locked<T>(id: string, work: () => Promise<T> | T): Promise<T> {
    return this.mutex.run(id, async () => {
      this.requireTrees();
      const lock = await acquireLock(
        this.io,
        join(this.root, `${LOCK_PREFIX}${id}`),
        id,
        this.lockSettings,
        this.lockHolder,
      );
      try {
        return await work();
      } finally {
        lock.release();
      }
    });
  }

  /** Starts a read-merge-write over when the file changed under it; `CONFLICT` when it keeps changing. */
  private async retrying<T>(id: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof TargetChanged)) throw error;
        if (tries >= MAX_WRITE_ATTEMPTS) {
          throw new RegistryError(
            "CONFLICT",
            `${id}.json kept changing while it was being written (${tries} attempts)`,
            { id, attempts: tries },
          );
        }
        this.logger.debug({ id, attempt: tries }, "registry: file changed before rename; retrying");
      }
    }
  }

  private async move(id: string, from: Tree, to: Tree): Promise<MoveOutcome> {
    const source = this.path(from, id);
    const kind = entryKind(this.io.fs, source);
    if (kind === "absent") return { moved: false, reason: "absent" };
    if (kind === "other") {
      throw invalidFile(
        this.relative(from, id),
        "not-regular-file",
        "not a regular file; left where it is",
      );
    }
    const replace = to === "retired";
    const target = this.path(to, id);
    if (sameFile(this.io.fs, source, target)) {
      // Finish the interrupted unretire: drop the source name; the file stays under the target's.
      removeEntry(this.io, source);
      fsyncDirectory(this.io, from === "active" ? this.root : this.retiredDir);
      return { moved: true };
    }
    if (!replace && entryExists(this.io.fs, target))
      return { moved: false, reason: "active-exists" };
    const moved = await moveEntry(this.io, source, target, replace);
    return moved ? { moved: true } : { moved: false, reason: "active-exists" };
  }

  private deleteLocked(id: string): number {
    let removed = 0;
    for (const tree of ["active", "retired"] as const) {
      if (removeEntry(this.io, this.path(tree, id))) {
        removed++;
        fsyncDirectory(this.io, tree === "active" ? this.root : this.retiredDir);
      }
    }
    return removed;
  }

  private writable(id: string, entry: Exclude<EntryRead, { kind: "absent" }>) {
    if (entry.kind === "bytes") {
      const writable = openForWrite(entry.bytes);
      return writable.ok ? { ...writable, identity: entry.identity } : writable;
    }
    // A file we may not read is not one we may replace: what it holds is unknown.
    if (entry.kind === "unreadable") throw invalidEntry(`${id}.json`, entry);
    const refusal: Refusal = {
      status: "skipped",
      reason: entry.kind,
      message: `${id}.json is ${describeUnreadable(entry)}; left untouched`,
    };
    return { ok: false as const, refusal };
  }

  private refused(id: string, refusal: Refusal): Refusal {
    this.logger.warn(
      { id, reason: refusal.reason, detail: refusal.detail },
      `registry: not writing ${id}: ${refusal.message}`,
    );
    return refusal;
  }

  private async write(
    id: string,
    text: string,
    tree: JsonObject,
    expected: Expected,
  ): Promise<void> {
    const started = monotonicMs();
    const target = this.path("active", id);
    await writeFileAtomic(this.io, target, text, expected);
    this.announceWrite(`${id}.json`, tree, monotonicMs() - started);
  }

  /**
   * The stems of every `<stem>.json` entry in either tree, whatever each is (a directory or link
   * counts too): what `existsAnywhere` answers, for many ids at once.
   *
   * @internal
   */
  idsInEitherTree(): Set<string> {
    const ids = this.namesIn("active");
    for (const id of this.namesIn("retired")) ids.add(id);
    return ids;
  }

  /** Every `<stem>.json` entry name of a tree, whatever it is (a directory or link counts too). */
  private namesIn(tree: "active" | "retired"): Set<string> {
    const dir = tree === "active" ? this.root : this.retiredDir;
    const stems = new Set<string>();
    for (const { name } of listDirectory(this.io.fs, dir)) {
      if (name.endsWith(".json")) stems.add(name.slice(0, -".json".length));
    }
    return stems;
  }

  private announceWrite(file: string, tree: JsonObject, elapsedMs: number): void {
    const event: WroteEvent = {
      file,
      schema_version: Number(String(tree.get("schema_version"))),
      fields: (tree.get("data") as JsonObject).size,
      elapsed_ms: elapsedMs,
    };
    this.logger.debug({ ...event }, "registry: wrote record");
    this.emit("wrote", event);
  }

  /**
   * One tree as this registry's reader sees it now, without reporting skipped files: exact, at
   * one `lstat` per file when little changed (the live index's verification).
   *
   * @internal
   */
  readTree(tree: Tree): TreeRead {
    return (tree === "active" ? this.activeReader : this.retiredReader).read();
  }

  /**
   * `<id>.json` of one tree read now, uncached; `null` when there is no such entry.
   *
   * @internal
   */
  readRecordFile(tree: Tree, id: string): Outcome | null {
    return (tree === "active" ? this.activeReader : this.retiredReader).readName(`${id}.json`);
  }

  /**
   * The directory of a tree: the root, or `retired/` under it.
   *
   * @internal
   */
  treeDirectory(tree: Tree): string {
    return tree === "active" ? this.root : this.retiredDir;
  }

  /**
   * The file-system primitives this registry uses (the live index stats through them too).
   *
   * @internal
   */
  get fsOps(): FsOps {
    return this.io.fs;
  }

  private report(
    skipped: SkippedFile[],
    counts: Omit<LoadedEvent, "skipped_count" | "slowest_file_ms">,
    slowestMs: number,
  ): void {
    for (const file of skipped) {
      this.logger.warn({ ...file }, `registry: skipping ${file.file}: ${file.message}`);
      this.emit("skipped", file);
    }
    const loaded: LoadedEvent = {
      ...counts,
      skipped_count: skipped.length,
      slowest_file_ms: slowestMs,
    };
    this.logger.debug({ ...loaded }, "registry: loaded");
    this.emit("loaded", loaded);
  }

  private path(tree: Tree, id: string): string {
    return join(tree === "active" ? this.root : this.retiredDir, `${id}.json`);
  }

  private relative(tree: Tree, id: string): string {
    return tree === "active" ? `${id}.json` : `${RETIRED_DIR}/${id}.json`;
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RegistryError(
      "INVALID_ARGUMENT",
      `${name} must be a positive number of milliseconds`,
      {
        [name]: value,
      },
    );
  }
  return value;
}
