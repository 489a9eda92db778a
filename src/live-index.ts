/**
 * The live index of a long-lived process (`serve`, a library user who opts in): both trees in
 * memory with the skipped files beside them, kept current by this process's own writes (applied at
 * once: the service says which agent it wrote) and by other processes' writes (found by
 * verification, which `fs.watch` hints prompt). The dropdown, the Trash, `get`, the diagnostics
 * and the change feed read it; the feed's events are the index's own changes.
 *
 * Freshness (docs/FORMAT.md, "Freshness"): an answer includes every write that completed, in any
 * process, before the request arrived. Every writer replaces a record by rename (or creates,
 * removes, or moves it between trees), and each of those changes its directory's own stat. So
 * before answering, `fresh()` stats the two tree directories (two calls) and compares them with
 * what the index last verified; only a tree whose directory changed — or whose last verified stat
 * was too recent to prove anything (the racy rule of `io/tree-reader.ts`), or that the watcher
 * flagged — is read again, and that read is the reader's exact listing (one `lstat` per file,
 * re-reading only files whose own stat changed). Requests arriving together share one
 * verification. An in-place edit (outside the contract: no writer of this format does it) leaves
 * the directory alone; the watcher or the periodic full verification finds it. Without a working
 * watcher every answer is preceded by the full verified listing, as before the index existed.
 *
 * Leases (SPEC §15) are part of each agent's wire form (`in_use`), so the index holds which agents
 * are in use too, re-read at every verification (a handful of small files; none at all when
 * `leases/` is absent). A lease expiring or its holder dying changes nothing on disk, so they are
 * also re-judged on a timer of about the renew interval; the lease directory is watched once it
 * exists, so a claim or a release reaches subscribers at once.
 *
 * Nothing here can end the process: a verification that fails keeps the last good state and is
 * reported once per distinct error; a listener that throws is reported and the others still hear.
 */

import { type FSWatcher, watch } from "node:fs";
import { agentJson, type ChangeEvent, type ChangeType, type InUse, type Snapshot } from "./api.js";
import type { NamedAgentRecord } from "./core/schema.js";
import { directoryIdentity, type Expected, type FileIdentity, sameIdentity } from "./io/files.js";
import { RACY_MS, type SkippedFile, type TreeRead } from "./io/tree-reader.js";
import { compareNewestFirst } from "./present.js";
import type { Registry, Tree } from "./registry.js";
import { sameInUse } from "./store/lease-views.js";

export type ChangeListener = (changes: ChangeEvent[], snapshot: Snapshot) => void;

/**
 * How the live index behind a {@link RegistryService} watches the trees and verifies its answers
 * (`ServiceOptions.feed`; docs/FORMAT.md, "Freshness").
 */
export interface FeedOptions {
  /** Delay between a file-system hint and the verification it prompts (default 5 ms). */
  debounceMs?: number;
  /**
   * The period of the full verification that finds in-place edits the watcher missed (default
   * 2 s; stretched so that it never takes more than 5% of the time).
   */
  rescanMs?: number;
  /** Where failures of background work are reported (default: a line on stderr). */
  report?: (message: string) => void;
  /** Whether to watch the trees (default true); without, every answer is fully verified. */
  watch?: boolean;
  /** The racy window of directory stats (default `RACY_MS`); tests shorten it. */
  racyMs?: number;
}

/** Where the index learns which agents are in use, and how often it re-judges them. */
export interface InUseSource {
  /** The lease directory: watched once it exists. */
  dir: string;
  /** The agents in use now, by id (one look at the lease directory). */
  read: () => Map<string, InUse>;
  /** How often leases are re-judged without a hint (about the renew interval). */
  everyMs: number;
}

export const reportToStderr = (message: string) => {
  try {
    process.stderr.write(`agentmux-registry: ${message}\n`);
  } catch {
    // Nowhere left to report to.
  }
};

interface Entry {
  tree: Tree;
  record: NamedAgentRecord;
}

interface TreeState {
  /** Valid records, sorted by file name (as the reader lists them). */
  records: NamedAgentRecord[];
  skipped: SkippedFile[];
  /** The directory's identity at the last verification, while it proves the tree unchanged. */
  verified: FileIdentity | null;
  /** Set by a watcher event or an own write: the next verification reads this tree. */
  dirty: boolean;
}

/** How many times one verification looks again when a tree changed while it looked. */
const MAX_VERIFY_PASSES = 4;

const TREES: readonly Tree[] = ["active", "retired"];

/** Only its keys matter: which data fields the wire form carries. */
const EXAMPLE: NamedAgentRecord = {
  schema_version: 1,
  data: {
    instance_id: "",
    instance_name: "",
    definition_id: "",
    identity_id: null,
    memory_id: null,
    session_id: null,
    working_dir: "",
    source_agents_base: null,
    created_at_ms: 0,
    last_launched_at_ms: 0,
    created_by_version: "",
    last_launched_by_version: "",
  },
};

export class LiveIndex {
  private readonly trees: Record<Tree, TreeState> = {
    active: { records: [], skipped: [], verified: null, dirty: true },
    retired: { records: [], skipped: [], verified: null, dirty: true },
  };
  /** Each id's record and tree (active wins); `null` until needed after a change. */
  private entries: Map<string, Entry> | null = new Map();
  private readonly listeners = new Set<ChangeListener>();
  private watchers: FSWatcher[] = [];
  /** The agents in use, by id (empty without a lease source). */
  private inUse = new Map<string, InUse>();
  private leaseWatcher: FSWatcher | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseFailure: string | undefined;
  private readonly watchLeases: boolean;
  /** Whether both trees are watched: only then may an unchanged directory stat be trusted. */
  private watching = false;
  private pending: Promise<void> | null = null;
  private hinted: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private closed = false;
  private failure: string | undefined;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly racyMs: number;
  private readonly report: (message: string) => void;
  /** Bumped on every change of the state; derived views are cached per version. */
  version = 0;
  private derived: {
    version: number;
    newest?: NamedAgentRecord[];
    retiredById?: Map<string, NamedAgentRecord>;
    snapshot?: Snapshot;
    bodies: Map<string, string>;
  } = { version: -1, bodies: new Map() };

  constructor(
    private readonly registry: Registry,
    options: FeedOptions = {},
    private readonly leases?: InUseSource,
  ) {
    this.debounceMs = options.debounceMs ?? 5;
    this.rescanMs = options.rescanMs ?? 2_000;
    this.racyMs = options.racyMs ?? RACY_MS;
    const report = options.report ?? reportToStderr;
    this.report = (message) => {
      try {
        report(message);
      } catch {
        // A reporter that throws must not take the index down with it.
      }
    };
    this.watchLeases = options.watch !== false;
    if (options.watch !== false) this.startWatching();
    this.verifyNow(true);
    this.schedulePeriodic(this.rescanMs);
    this.scheduleLeases();
  }

  /**
   * Resolves once the index holds every write completed before the call. Calls made together
   * share one verification (it runs after all of them arrived).
   */
  fresh(): Promise<void> {
    if (this.pending === null) {
      this.pending = new Promise((resolve) => {
        setImmediate(() => {
          this.pending = null;
          this.verifyNow(!this.watching);
          resolve();
        });
      });
    }
    return this.pending;
  }

  /** Valid active records, sorted by file name. */
  get active(): readonly NamedAgentRecord[] {
    return this.trees.active.records;
  }

  /** Valid tombstones, sorted by file name. */
  get retired(): readonly NamedAgentRecord[] {
    return this.trees.retired.records;
  }

  /** Every file left out, active tree first, each tree in name order. */
  get skipped(): SkippedFile[] {
    return [...this.trees.active.skipped, ...this.trees.retired.skipped];
  }

  /** The active record of `id`, if the index holds a valid one. */
  activeRecord(id: string): NamedAgentRecord | undefined {
    const entry = this.entryMap().get(id);
    return entry?.tree === "active" ? entry.record : undefined;
  }

  /** The tombstone of `id`, if the index holds a valid one (even when also active). */
  retiredRecord(id: string): NamedAgentRecord | undefined {
    const derived = this.current();
    derived.retiredById ??= new Map(this.retired.map((r) => [r.data.instance_id, r]));
    return derived.retiredById.get(id);
  }

  /** Whether `file` (`x.json`, `retired/x.json`) is among the skipped files. */
  isSkipped(file: string): boolean {
    const tree = file.startsWith("retired/") ? this.trees.retired : this.trees.active;
    return tree.skipped.some((skipped) => skipped.file === file);
  }

  /** Active records, newest launch first then by id; one sort per version. */
  newestFirst(): readonly NamedAgentRecord[] {
    const derived = this.current();
    derived.newest ??= [...this.active].sort((a, b) => compareNewestFirst(a.data, b.data));
    return derived.newest;
  }

  /** The agents in use, by id, as of the last verification. */
  get agentsInUse(): ReadonlyMap<string, InUse> {
    return this.inUse;
  }

  /** Who holds the agent now, or `null` (as of the last verification). */
  inUseOf(id: string): InUse | null {
    return this.inUse.get(id) ?? null;
  }

  /** After a claim or release of this process: re-read the leases now, and tell subscribers. */
  noteLeasesChanged(): void {
    if (this.closed) return;
    const inUse = this.readInUse();
    if (inUse !== this.inUse) this.apply(this.trees, inUse);
  }

  /** A text derived from the current version, computed once per version and `key`. */
  cached(key: string, make: () => string): string {
    const { bodies } = this.current();
    let body = bodies.get(key);
    if (body === undefined) {
      body = make();
      if (bodies.size > 64) bodies.clear();
      bodies.set(key, body);
    }
    return body;
  }

  /** The wire form of the whole state (what a new subscriber starts from). */
  snapshot(): Snapshot {
    const derived = this.current();
    derived.snapshot ??= {
      active: this.active.map((r) => agentJson(r, this.inUseOf(r.data.instance_id))),
      retired: this.retired.map((r) => agentJson(r, this.inUseOf(r.data.instance_id))),
      skipped: this.skipped,
    };
    return derived.snapshot;
  }

  /** Listens for changes to either tree, by any process. */
  async subscribe(
    listener: ChangeListener,
  ): Promise<{ snapshot: Snapshot; unsubscribe: () => void }> {
    // Verified now, not at the next turn: the snapshot is the listener's starting point, and
    // everything after it reaches the listener as events.
    this.verifyNow(!this.watching);
    this.listeners.add(listener);
    this.keepAlive();
    return {
      snapshot: this.snapshot(),
      unsubscribe: () => {
        this.listeners.delete(listener);
        this.keepAlive();
      },
    };
  }

  /**
   * Applies a write of this process at once: re-reads `<id>.json` in both trees for `agentId`
   * and every record the index knows whose `definition_id` is `agentId` (what an agent-scope
   * operation touches), and tells subscribers. No listing.
   */
  noteAgentWritten(agentId: string): void {
    const ids = new Set([agentId]);
    for (const tree of TREES) {
      for (const record of this.trees[tree].records)
        if (record.data.definition_id === agentId) ids.add(record.data.instance_id);
    }
    const next: Record<Tree, { records: NamedAgentRecord[]; skipped: SkippedFile[] }> = {
      active: { records: [...this.trees.active.records], skipped: [...this.trees.active.skipped] },
      retired: {
        records: [...this.trees.retired.records],
        skipped: [...this.trees.retired.skipped],
      },
    };
    for (const id of ids) {
      for (const tree of TREES) {
        const name = `${id}.json`;
        const file = tree === "active" ? name : `retired/${name}`;
        const state = next[tree];
        state.records = state.records.filter((r) => r.data.instance_id !== id);
        state.skipped = state.skipped.filter((s) => s.file !== file);
        const outcome = this.registry.readRecordFile(tree, id);
        if (outcome === null) continue;
        if (outcome.skipped === undefined) {
          insertSorted(state.records, outcome.record, (r) => `${r.data.instance_id}.json`);
        } else insertSorted(state.skipped, outcome.skipped, (s) => s.file);
      }
    }
    // The directory changed under our own write: the next answer verifies it (a foreign write
    // may have come in between).
    for (const tree of TREES) this.trees[tree].dirty = true;
    this.apply(next);
  }

  /** After a bulk write (an import): verify both trees now. */
  noteBulkWrite(): void {
    for (const tree of TREES) this.trees[tree].dirty = true;
    this.verifyNow(true);
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    this.watching = false;
    this.leaseWatcher?.close();
    this.leaseWatcher = undefined;
    clearTimeout(this.hinted);
    clearTimeout(this.periodic);
    clearTimeout(this.leaseTimer);
  }

  private current() {
    if (this.derived.version !== this.version)
      this.derived = { version: this.version, bodies: new Map() };
    return this.derived;
  }

  private startWatching(): void {
    const watchers: FSWatcher[] = [];
    try {
      for (const tree of TREES) {
        const watcher = watch(this.registry.treeDirectory(tree), { persistent: false }, () =>
          this.hint(tree),
        );
        watcher.on("error", (error) => {
          // Watching ended (the directory went, say): answer from full verifications from now on.
          this.report(`live index: watching stopped (${error.message}); verifying every answer`);
          this.watching = false;
          watcher.close();
        });
        watchers.push(watcher);
      }
      this.watchers = watchers;
      this.watching = true;
    } catch {
      // No watching here (some network file systems): every answer is fully verified.
      for (const watcher of watchers) watcher.close();
    }
  }

  /** Watches the lease directory once it exists (the first claim creates it). */
  private watchLeaseDirectory(): void {
    if (!this.leases || !this.watchLeases || this.leaseWatcher || this.closed) return;
    try {
      const watcher = watch(this.leases.dir, { persistent: false }, () => this.hint(null));
      watcher.on("error", () => {
        // The directory went: the timer watches it again once it is back.
        watcher.close();
        if (this.leaseWatcher === watcher) this.leaseWatcher = undefined;
      });
      this.leaseWatcher = watcher;
    } catch {
      // Absent (not yet created), or no watching here: the timer still re-judges every lease.
    }
  }

  /** Re-judges leases every `everyMs`: expiry and dead holders leave no trace on disk. */
  private scheduleLeases(): void {
    if (!this.leases || this.closed) return;
    this.watchLeaseDirectory();
    this.leaseTimer = setTimeout(() => {
      this.noteLeasesChanged();
      this.scheduleLeases();
    }, this.leases.everyMs);
    this.leaseTimer.unref();
  }

  /**
   * The agents in use now; the current map itself when nothing changed on the wire (or when the
   * lease directory cannot be read: the last good state stays, reported once per distinct error).
   */
  private readInUse(): Map<string, InUse> {
    if (!this.leases) return this.inUse;
    let next: Map<string, InUse>;
    try {
      next = this.leases.read();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message !== this.leaseFailure) {
        this.leaseFailure = message;
        this.report(`live index: the leases could not be read (keeping the last view): ${message}`);
      }
      return this.inUse;
    }
    this.leaseFailure = undefined;
    if (next.size === this.inUse.size) {
      let same = true;
      for (const [id, inUse] of next) {
        if (!sameInUse(inUse, this.inUse.get(id))) {
          same = false;
          break;
        }
      }
      if (same) return this.inUse;
    }
    return next;
  }

  /** A hint from a watcher: `tree`'s directory, or (`null`) the lease directory changed. */
  private hint(tree: Tree | null): void {
    if (tree) this.trees[tree].dirty = true;
    // The root changed: perhaps the first claim just created the lease directory.
    if (tree === "active") this.watchLeaseDirectory();
    if (this.hinted !== undefined || this.closed) return;
    this.hinted = setTimeout(() => {
      this.hinted = undefined;
      this.verifyNow(false);
    }, this.debounceMs);
  }

  private schedulePeriodic(delay: number): void {
    if (this.closed) return;
    this.periodic = setTimeout(() => {
      const started = performance.now();
      this.verifyNow(true);
      // Never more than 5% of the time on finding in-place edits.
      this.schedulePeriodic(Math.max(this.rescanMs, 20 * (performance.now() - started)));
    }, delay);
    this.keepAlive();
  }

  /** Like the watchers of the old feed: a subscriber keeps the process alive, nothing else does. */
  private keepAlive(): void {
    if (this.listeners.size > 0) this.periodic?.ref();
    else this.periodic?.unref();
  }

  /**
   * One look at each tree: reads it into `reads` unless its directory is provably unchanged since
   * it was last read. Returns each directory's identity as seen before its decision.
   */
  private verifyPass(all: boolean, reads: Partial<Record<Tree, TreeRead>>): Record<Tree, Expected> {
    const seen = {} as Record<Tree, Expected>;
    for (const tree of TREES) {
      const state = this.trees[tree];
      const now = Date.now();
      const before: Expected = directoryIdentity(
        this.registry.fsOps,
        this.registry.treeDirectory(tree),
      );
      seen[tree] = before;
      if (
        !all &&
        !state.dirty &&
        state.verified !== null &&
        before !== "absent" &&
        sameIdentity(before, state.verified)
      ) {
        continue;
      }
      state.dirty = false;
      reads[tree] = this.registry.readTree(tree);
      // Trusted next time only if no second change could hide within its timestamp tick.
      state.verified =
        before === "absent" || now - Math.max(before.mtimeMs, before.ctimeMs) < this.racyMs
          ? null
          : before;
    }
    return seen;
  }

  /**
   * Reads every tree whose directory changed since it was last verified (every tree when `all`),
   * then applies the differences. Never throws.
   *
   * The two trees are checked one after the other, so a move between them (a retire is one
   * rename) can land between the two checks: the first tree kept from memory, the second read
   * after the move, and the record would be in both. Each pass therefore ends by checking every
   * directory again, and a tree that changed meanwhile is read again, until a pass sees no change
   * (bounded: under a constant stream of writes the answer may include a racing one half-way).
   */
  private verifyNow(all: boolean): void {
    if (this.closed) return;
    try {
      const reads: Partial<Record<Tree, TreeRead>> = {};
      for (let pass = 0; pass < MAX_VERIFY_PASSES; pass++) {
        const seen = this.verifyPass(all && pass === 0, reads);
        const moved = TREES.filter(
          (tree) =>
            !sameIdentity(
              directoryIdentity(this.registry.fsOps, this.registry.treeDirectory(tree)),
              seen[tree],
            ),
        );
        if (moved.length === 0) break;
        for (const tree of moved) this.trees[tree].dirty = true;
      }
      const next = {
        active: reads.active ?? this.trees.active,
        retired: reads.retired ?? this.trees.retired,
      };
      const inUse = this.readInUse();
      if (reads.active || reads.retired || inUse !== this.inUse) this.apply(next, inUse);
      if (this.failure !== undefined) {
        this.failure = undefined;
        this.report("change feed: rescans work again");
      }
    } catch (error) {
      for (const tree of TREES) this.trees[tree].dirty = true;
      const message = error instanceof Error ? error.message : String(error);
      if (message === this.failure) return;
      this.failure = message;
      this.report(
        `change feed: a rescan failed (the page keeps its last view; retrying): ${message}`,
      );
    }
  }

  /**
   * Replaces the state with `next` and the agents in use with `inUse`, diffing them by id; tells
   * listeners what changed. A change of an agent's `in_use` alone is an `updated` change.
   */
  private apply(
    next: Record<Tree, { records: NamedAgentRecord[]; skipped: SkippedFile[] }>,
    inUse: Map<string, InUse> = this.inUse,
  ) {
    const sameRecords =
      sameItems(next.active.records, this.trees.active.records) &&
      sameItems(next.retired.records, this.trees.retired.records);
    const skippedChanged =
      !sameItems(next.active.skipped, this.trees.active.skipped) ||
      !sameItems(next.retired.skipped, this.trees.retired.skipped);
    const leasesChanged = inUse !== this.inUse;
    if (sameRecords && !skippedChanged && !leasesChanged) return;
    const changes: ChangeEvent[] = [];
    const wire = (id: string, entry: Entry) => agentJson(entry.record, inUse.get(id) ?? null);
    const inUseChanged = (id: string) => !sameInUse(this.inUse.get(id), inUse.get(id));
    if (!sameRecords && this.listeners.size === 0) {
      // Nobody to tell: the map of ids is rebuilt only when something needs it.
      this.entries = null;
    } else if (!sameRecords) {
      const before = this.entryMap();
      const after = entryMapOf(next.active.records, next.retired.records);
      for (const [id, now] of after) {
        const was = before.get(id);
        let type: ChangeType | null = null;
        if (!was) type = now.tree === "active" ? "created" : "retired";
        else if (was.tree !== now.tree) type = now.tree === "retired" ? "retired" : "restored";
        else if (was.record !== now.record && !sameWire(was.record, now.record)) type = "updated";
        else if (leasesChanged && inUseChanged(id)) type = "updated";
        if (type) changes.push({ type, id, tree: now.tree, agent: wire(id, now) });
      }
      for (const id of before.keys())
        if (!after.has(id)) changes.push({ type: "deleted", id, tree: null, agent: null });
      this.entries = after;
    } else if (leasesChanged && this.listeners.size > 0) {
      const entries = this.entryMap();
      for (const id of new Set([...this.inUse.keys(), ...inUse.keys()])) {
        const entry = entries.get(id);
        if (entry && inUseChanged(id))
          changes.push({ type: "updated", id, tree: entry.tree, agent: wire(id, entry) });
      }
    }
    for (const tree of TREES) {
      this.trees[tree].records = next[tree].records;
      this.trees[tree].skipped = next[tree].skipped;
    }
    this.inUse = inUse;
    this.version++;
    if (changes.length === 0 && !skippedChanged) return;
    if (this.listeners.size === 0) return;
    const snapshot = this.lazySnapshot();
    for (const listener of this.listeners) {
      try {
        listener(changes, snapshot);
      } catch (error) {
        this.report(`live index: a listener failed: ${(error as Error)?.message ?? error}`);
      }
    }
  }

  private entryMap(): Map<string, Entry> {
    this.entries ??= entryMapOf(this.trees.active.records, this.trees.retired.records);
    return this.entries;
  }

  /** The snapshot handed to listeners, built only if one reads it. */
  private lazySnapshot(): Snapshot {
    const index = this;
    return {
      get active() {
        return index.snapshot().active;
      },
      get retired() {
        return index.snapshot().retired;
      },
      get skipped() {
        return index.skipped;
      },
    };
  }
}

function entryMapOf(
  active: readonly NamedAgentRecord[],
  retired: readonly NamedAgentRecord[],
): Map<string, Entry> {
  const map = new Map<string, Entry>();
  for (const record of active) map.set(record.data.instance_id, { tree: "active", record });
  for (const record of retired) {
    // An id in both trees (an interrupted restore) shows as active, as listings do.
    const id = record.data.instance_id;
    if (!map.has(id)) map.set(id, { tree: "retired", record });
  }
  return map;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equal on the wire: what subscribers would see. */
function sameWire(a: NamedAgentRecord, b: NamedAgentRecord): boolean {
  if (a.schema_version !== b.schema_version) return false;
  for (const field of WIRE_FIELDS) if (a.data[field] !== b.data[field]) return false;
  return true;
}

/** The data fields `agentJson` puts on the wire (all of them primitives). */
const WIRE_FIELDS = Object.keys(agentJson(EXAMPLE)).filter(
  (key) => key !== "schema_version",
) as (keyof NamedAgentRecord["data"])[];

function insertSorted<T>(items: T[], item: T, key: (item: T) => string): void {
  const k = key(item);
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (key(items[mid] as T) < k) low = mid + 1;
    else high = mid;
  }
  items.splice(low, 0, item);
}
