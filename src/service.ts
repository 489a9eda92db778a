/**
 * `RegistryService` — what a launcher UI calls (SPEC §11): the Continue dropdown, continue, forget
 * and restore, rename, delete, create, and `doctor`. It adds no storage of its own: every call goes
 * through the `Registry`, so its locks and refusals hold here too. Agent-level operations use the
 * `"agent"` scope: an agent's legacy launch-keyed records go with it.
 */

import { realpathSync, rmdirSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { agentJson, type ChangeEvent, type InUse, type LeaseJson, type Snapshot } from "./api.js";
import { isRegistryError, RegistryError } from "./core/errors.js";
import { checkId, idProblem } from "./core/ids.js";
import { checkField, checkName } from "./core/input.js";
import { prepareRecord } from "./core/merge.js";
import type { NamedAgentRecord } from "./core/schema.js";
import { makeDirectories, sleep } from "./io/files.js";
import { errnoCode, realFs } from "./io/fs.js";
import { randomId } from "./io/random.js";
import { loadOrCreateToken } from "./io/token-file.js";
import { type FeedOptions, type InUseSource, LiveIndex } from "./live-index.js";
import { compareNewestFirst, holderText, relativeTime, shellQuote } from "./present.js";
import { type OddFile, Registry, type ScanResult, type SkippedFile } from "./registry.js";
import type { MigrateOptions, MigrateStats } from "./sqlite/migrate.js";
import { LEASE_REPORT_AFTER_MS, scanLeaseTree } from "./store/lease-repair.js";
import {
  inUseError,
  LEASES_DIR,
  type LeaseHandle,
  LeaseStore,
  type LeaseStoreOptions,
  type LeaseView,
} from "./store/lease-store.js";
import { inUseByAgent, leaseJson } from "./store/lease-views.js";

/** How many agents {@link RegistryService.listNamedAgents} returns when no limit is given. */
export const DEFAULT_LIST_LIMIT = 200;
/** The largest limit {@link RegistryService.listNamedAgents} accepts. */
export const MAX_LIST_LIMIT = 1000;

/** Options of a {@link RegistryService}. */
export interface ServiceOptions {
  /** The install home (`~/.agentmux`): where `doctor` and `migrate` look for SQLite databases. */
  home?: string;
  /** This tool's version, stamped as `last_launched_by_version` / `created_by_version`. */
  version: string;
  /** The clock; injectable for tests. */
  now?: () => number;
  /** How the live index watches and verifies (long-lived processes only). */
  feed?: FeedOptions;
  /**
   * Keep a live index from the start (`serve`, long-lived library users): listings, `getAgent`,
   * `doctor` and the change feed answer from memory, verified fresh before each answer
   * (docs/FORMAT.md, "Freshness"). Without it every call reads the disk, and `subscribe` starts
   * the index on first use.
   */
  live?: boolean;
  /** Lease timings and identity (SPEC §15); the defaults are AgentMux's. */
  leases?: Omit<LeaseStoreOptions, "version" | "now">;
}

/** Options of {@link RegistryService.open}: the service's own and the registry's. */
export interface OpenServiceOptions extends ServiceOptions {
  root: string;
  /** Where working directories live (default: SPEC §1). */
  agentsBase?: string;
  /** Whether opening sweeps stale temp and lock files (default true; `doctor` reports them first). */
  sweepOnOpen?: boolean;
  /** Whether opening creates a missing registry (default true; see `RegistryOptions.create`). */
  create?: boolean;
}

/** One agent found by id, and which tree holds it. */
export interface LocatedAgent {
  record: NamedAgentRecord;
  retired: boolean;
  /** `(source_agents_base ?? agents base)/working_dir`, not checked. */
  workingDirPath: string;
  /** Who holds the agent's lease now (SPEC §15), or `null`. */
  inUse: InUse | null;
}

/** An agent as launched and the working directory to launch in. */
export interface ContinueResult {
  record: NamedAgentRecord;
  /** The resolved (real) working directory to launch in. */
  workingDir: string;
}

/** A new agent: its name and definition, and optionally its identity, memory and session. */
export interface CreateAgentInput {
  name: string;
  definitionId: string;
  identityId?: string | null;
  memoryId?: string | null;
  sessionId?: string | null;
}

/** The kinds of problem `doctor` reports. */
export type ProblemKind =
  | "skipped-file"
  | "in-both-trees"
  | "stale-file"
  | "odd-entry"
  | "working-dir-missing"
  | "working-dir-escapes"
  | "migration-incomplete"
  | "lease-unreadable"
  | "lease-expired";

/** One problem `doctor` found, with its fix. */
export interface Problem {
  kind: ProblemKind;
  /** The file (relative to the root) or agent the problem is about. */
  subject: string;
  message: string;
  /** One line telling a person what to do. */
  fix: string;
}

/** What `doctor` found: the counts, every problem, and what `fix` removed. */
export interface DoctorReport {
  root: string;
  agents_base: string;
  active: number;
  retired: number;
  problems: Problem[];
  /** Files `fix` removed (stale temp and lock files, and lease files expired long ago). */
  fixed: string[];
}

/** The tree a record is in: active, or the Trash (`retired`). */
export type AgentTree = "active" | "retired";

/** The shortest id prefix that names an agent, as git's short ids: fewer characters match by chance. */
const MIN_ID_PREFIX = 4;

/**
 * The one door of the CLI and the HTTP service to the registry: agents by name or id, newest launch
 * first, their working directories, the Trash, `doctor`, the SQLite migration and the change feed.
 * Open one with {@link RegistryService.open}; `close` it when done.
 */
export class RegistryService {
  private readonly registry: Registry;
  private readonly home: string | undefined;
  private readonly version: string;
  private readonly now: () => number;
  private readonly feedOptions: FeedOptions | undefined;
  private index: LiveIndex | undefined;
  private skippedInLastListing = 0;
  private readonly leaseOptions: ServiceOptions["leases"];
  private leaseStore: LeaseStore | undefined;

  constructor(registry: Registry, options: ServiceOptions) {
    this.registry = registry;
    this.home = options.home;
    this.version = options.version;
    this.now = options.now ?? Date.now;
    this.feedOptions = options.feed;
    this.leaseOptions = options.leases;
    registry.on("loaded", (event) => {
      this.skippedInLastListing = event.skipped_count;
    });
    if (options.live) this.index = new LiveIndex(registry, this.feedOptions, this.inUseSource());
  }

  /**
   * Opens the registry at `options.root` behind a service, creating it if missing (unless
   * `create: false`).
   */
  static async open(options: OpenServiceOptions): Promise<RegistryService> {
    const registry = await Registry.open(options.root, {
      agentsBase: options.agentsBase,
      sweepOnOpen: options.sweepOnOpen,
      create: options.create,
    });
    return new RegistryService(registry, options);
  }

  /** The registry root. */
  get root(): string {
    return this.registry.root;
  }

  /** Where working directories live. */
  get agentsBase(): string {
    return this.registry.agentsBase;
  }

  /** The agents' leases (SPEC §15): who runs which agent now. Created on first use. */
  get leases(): LeaseStore {
    this.leaseStore ??= new LeaseStore(this.registry.root, {
      ...this.leaseOptions,
      version: this.version,
      now: this.now,
    });
    return this.leaseStore;
  }

  /** How the live index learns which agents are in use. */
  private inUseSource(): InUseSource {
    return {
      dir: this.leases.dir,
      read: () => inUseByAgent(this.leases.inspect()),
      everyMs: this.leases.renewMs,
    };
  }

  /**
   * The agents a live process holds now (SPEC §15), by id: one look at `<root>/leases/` without
   * taking any lock (from the live index when there is one). For display: a decision goes
   * through the lease store's critical section.
   */
  async agentsInUse(): Promise<ReadonlyMap<string, InUse>> {
    await this.freshIndex();
    return this.inUseNow();
  }

  /** The index's view of the leases (as fresh as its last verification), or the disk's. */
  private inUseNow(): ReadonlyMap<string, InUse> {
    if (this.index) return this.index.agentsInUse;
    try {
      return inUseByAgent(this.leases.inspect());
    } catch {
      // A lease tree that cannot be listed (a file named `leases`, no permission) must not take
      // the listings down: they show no holder, `doctor` says what is wrong, and a claim or a
      // continue still decides inside the critical section.
      return new Map();
    }
  }

  /**
   * The agents' leases, by agent id: those that hold their agent now, or (`all`) every lease
   * file with its status — expired, its holder dead, or unreadable. Read without any lock.
   */
  async listLeases(options: { all?: boolean } = {}): Promise<LeaseJson[]> {
    const scan = await this.scan();
    const agents = new Map<string, { name: string; tree: AgentTree }>();
    for (const [tree, records] of [
      ["retired", scan.retired],
      ["active", scan.active],
    ] as const) {
      for (const { data } of records)
        agents.set(data.instance_id, { name: data.instance_name, tree });
    }
    return this.leases
      .inspect()
      .filter((view) => options.all || view.holding)
      .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0))
      .map((view) => leaseJson(view, agents.get(view.instanceId)));
  }

  /** How many files the last listing of this process left out (see `doctor`). */
  get skippedCount(): number {
    return this.index ? this.index.skipped.length : this.skippedInLastListing;
  }

  /** Stops the live index and removes the registry's lock holder file. */
  close(): void {
    this.index?.close();
    this.index = undefined;
    this.registry.close();
  }

  /** The live index, fresh (every write completed before this call is in it), or none. */
  private async freshIndex(): Promise<LiveIndex | undefined> {
    const index = this.index;
    if (index) await index.fresh();
    return index;
  }

  /**
   * Listens for changes to either tree, by any process. Returns the state to start from; the
   * listener then hears every change after it.
   */
  subscribe(
    listener: (changes: ChangeEvent[], snapshot: Snapshot) => void,
  ): Promise<{ snapshot: Snapshot; unsubscribe: () => void }> {
    this.index ??= new LiveIndex(this.registry, this.feedOptions, this.inUseSource());
    return this.index.subscribe(listener);
  }

  /**
   * The newest-first dropdown as its wire body, `{"agents":[…]}` (what `GET /api/agents`
   * sends), serialised once per version of the live index (on every call without one).
   *
   * @internal
   */
  async listNamedAgentsBody(
    options: { definitionId?: string; limit?: number; all?: boolean } = {},
  ): Promise<string> {
    const index = await this.freshIndex();
    if (!index) return agentsBody(await this.listNamedAgents(options), await this.agentsInUse());
    const limit = options.all ? Number.POSITIVE_INFINITY : listLimit(options.limit);
    const key = JSON.stringify([options.definitionId ?? null, limit]);
    // The index's version changes with the leases too: a cached body never shows a stale `in_use`.
    return index.cached(key, () =>
      agentsBody(pickNamed(index.newestFirst(), options.definitionId, limit), index.agentsInUse),
    );
  }

  /** Tells subscribers at once about a change this process made to an agent (no listing). */
  private wrote(agentId: string): void {
    this.index?.noteAgentWritten(agentId);
  }

  /** The agent with this id, in either tree (`AGENT_NOT_FOUND`, `INVALID_ID`). */
  async getAgent(id: string): Promise<LocatedAgent> {
    checkId(id);
    const index = await this.freshIndex();
    if (index && !index.isSkipped(`${id}.json`)) {
      const active = index.activeRecord(id);
      if (active) return this.locate(active, false);
      const retired = index.retiredRecord(id);
      if (retired) return this.locate(retired, true);
      throw notFound(id);
    }
    const active = await this.registry.get(id);
    if (active) return this.locate(active, false);
    const retired = (await this.records("retired")).find((r) => r.data.instance_id === id);
    if (retired) return this.locate(retired, true);
    throw notFound(id);
  }

  /** Where an agent found by `resolveAgent` lives: its tree and its working directory's path. */
  async locate(record: NamedAgentRecord, retired?: boolean): Promise<LocatedAgent> {
    const id = record.data.instance_id;
    return {
      record,
      retired: retired ?? !(await this.registry.exists(id)),
      workingDirPath: resolve(
        record.data.source_agents_base ?? this.registry.agentsBase,
        record.data.working_dir,
      ),
      // Callers found the record a moment ago (the index verified then): no second verification.
      inUse: this.inUseNow().get(id) ?? null,
    };
  }

  /** Imports every per-version SQLite database under the home, once (SPEC §9). */
  async migrate(options: MigrateOptions = {}): Promise<MigrateStats> {
    if (this.home === undefined)
      throw new RegistryError("INVALID_ARGUMENT", "migrate needs the install home", {});
    const { migrateFromSqliteOnce } = await loadMigration();
    const stats = await migrateFromSqliteOnce(this.home, this.registry, options);
    this.index?.noteBulkWrite();
    return stats;
  }

  /** The service's access token, created race-free on first use (FORMAT.md, "Service token"). */
  loadOrCreateToken(): string {
    return loadOrCreateToken(this.registry.root);
  }

  /** The Continue dropdown: active agents, newest launch first, then by id. */
  async listNamedAgents(
    options: { definitionId?: string; limit?: number; all?: boolean } = {},
  ): Promise<NamedAgentRecord[]> {
    const limit = options.all ? Number.POSITIVE_INFINITY : listLimit(options.limit);
    const index = await this.freshIndex();
    const sorted = index ? index.newestFirst() : this.newestFirst(await this.registry.listActive());
    return pickNamed(sorted, options.definitionId, limit);
  }

  /**
   * The listing sorted newest first, reused while the listing holds the very same records (the
   * registry's listing cache hands out the same frozen objects until a file changes): comparing
   * the elements costs far less than sorting them again.
   */
  private newestFirst(records: NamedAgentRecord[]): NamedAgentRecord[] {
    const last = this.lastSort;
    if (
      last &&
      last.input.length === records.length &&
      last.input.every((record, i) => record === records[i])
    ) {
      return last.sorted;
    }
    const sorted = sortNewestFirst(records);
    this.lastSort = { input: records, sorted };
    return sorted;
  }

  private lastSort: { input: NamedAgentRecord[]; sorted: NamedAgentRecord[] } | null = null;

  /** The Trash, newest launch first. */
  async listRetired(): Promise<NamedAgentRecord[]> {
    return sortNewestFirst([...(await this.records("retired"))]);
  }

  /**
   * Resolves and checks the agent's working directory, then records the launch. A held session id
   * is replaced only by a new one, never by nothing. `AGENT_IN_USE` while another live process
   * holds the agent's lease, unless `lease` is this caller's own claim
   * (see {@link RegistryService.claimAgent}).
   */
  async continueAgent(
    id: string,
    options: { version?: string; sessionId?: string; lease?: LeaseHandle } = {},
  ): Promise<ContinueResult> {
    const sessionId = options.sessionId ? checkField(options.sessionId, "sessionId") : null;
    const record = await this.requireActive(id);
    const workingDir = this.resolveWorkingDir(record);
    if (options.lease) await this.leases.verify(options.lease);
    else await this.refuseIfHeld(record);
    const outcome = await this.registry.update(id, (current) => {
      current.data.last_launched_at_ms = this.now();
      current.data.last_launched_by_version = options.version ?? this.version;
      if (sessionId) current.data.session_id = sessionId;
      return current;
    });
    if (outcome.status === "skipped") throw notFound(id, outcome.message);
    this.wrote(id);
    return { record: (await this.registry.get(id)) ?? record, workingDir };
  }

  /**
   * Claims the active agent's lease for `blockId` of this process (SPEC §15): the one live
   * instance. `AGENT_IN_USE`, naming the holder, while another live process holds it. Keep it
   * with `leases.keep` and give it back with {@link RegistryService.releaseAgent}.
   */
  async claimAgent(
    id: string,
    options: { blockId: string; sessionId?: string | null },
  ): Promise<LeaseHandle> {
    const record = await this.requireActive(id);
    const handle = await this.leases.claim(id, options.blockId, {
      sessionId: options.sessionId ?? null,
      agentLabel: agentLabel(record),
    });
    this.index?.noteLeasesChanged();
    return handle;
  }

  /** Gives a claim back (a no-op once it was taken over); subscribers hear of it at once. */
  async releaseAgent(handle: LeaseHandle): Promise<boolean> {
    const released = await this.leases.release(handle);
    if (released) this.index?.noteLeasesChanged();
    return released;
  }

  /** `AGENT_IN_USE` when another live process holds the agent. */
  private async refuseIfHeld(record: NamedAgentRecord): Promise<void> {
    const holder = await this.leases.holder(record.data.instance_id, "");
    if (holder) throw inUseError(record.data.instance_id, holder, agentLabel(record));
  }

  /** Forgets the agent: every active record of it moves to the Trash. Returns how many moved. */
  async forgetAgent(id: string): Promise<number> {
    const moved = await this.registry.retireForAgent(checkId(id), "agent");
    if (moved === 0) throw await this.notActive(id, "it is already in the Trash");
    this.wrote(id);
    return moved;
  }

  /** Restores the agent from the Trash; never replaces an active record. Returns how many moved. */
  async restoreAgent(id: string): Promise<number> {
    const moved = await this.registry.unretireForAgent(checkId(id), "agent");
    if (moved > 0) {
      this.wrote(id);
      return moved;
    }
    if (await this.registry.exists(id)) {
      throw new RegistryError("CONFLICT", `${id} is already active; nothing was restored`, { id });
    }
    throw notFound(id, "it is not in the Trash");
  }

  /** Renames every active record of the agent. Returns how many changed (0: already so named). */
  async renameAgent(id: string, name: string): Promise<number> {
    const checked = checkName(name);
    await this.requireActive(id);
    const changed = await this.registry.setInstanceNameForAgent(id, "agent", checked);
    if (changed > 0) this.wrote(id);
    return changed;
  }

  /** Deletes every registry record of the agent from both trees; never its working directory. */
  async deleteAgent(id: string): Promise<number> {
    const removed = await this.registry.hardDeleteForAgent(checkId(id), "agent");
    if (removed === 0) throw notFound(id);
    this.wrote(id);
    return removed;
  }

  /**
   * Creates an agent: a new UUID, a working directory named after the agent (`-2`, `-3` … when a
   * directory or any record, active or retired, already uses the name) created under the agents
   * base, and the record, with `source_agents_base` set as the Rust writer does.
   */
  async createAgent(input: CreateAgentInput): Promise<ContinueResult> {
    const name = checkName(input.name);
    const optional = (value: string | null | undefined, field: string) =>
      value === undefined || value === null ? null : checkField(value, field);
    const definitionId = checkField(
      typeof input.definitionId === "string" ? input.definitionId : "",
      "definitionId",
    );
    const base = this.registry.agentsBase;
    const scan = await this.scan();
    const used = new Set(
      [...scan.active, ...scan.retired].map((record) => record.data.working_dir),
    );
    const slug = slugify(name);
    let workingDir = slug;
    for (let n = 2; used.has(workingDir) || pathExists(join(base, workingDir)); n++)
      workingDir = `${slug}-${n}`;
    const now = this.now();
    const id = randomId();
    // Validated and sized before the directory is made: a refused record leaves nothing behind.
    const record = prepareRecord({
      schema_version: 1,
      data: {
        instance_id: id,
        instance_name: name,
        definition_id: definitionId,
        identity_id: optional(input.identityId, "identityId"),
        memory_id: optional(input.memoryId, "memoryId"),
        session_id: optional(input.sessionId, "sessionId"),
        working_dir: workingDir,
        source_agents_base: base,
        created_at_ms: now,
        last_launched_at_ms: now,
        created_by_version: this.version,
        last_launched_by_version: this.version,
      },
    }).record;
    const path = join(base, workingDir);
    const firstCreated = makeDirectories(realFs, path);
    try {
      const outcome = await this.registry.upsert(record);
      if (outcome.status !== "created")
        throw new RegistryError("CONFLICT", `${id} could not be created: ${outcome.status}`, {
          id,
        });
    } catch (error) {
      removeCreatedDirectories(path, firstCreated);
      throw error;
    }
    const written = await this.registry.get(id);
    if (written === null)
      throw new RegistryError("CONFLICT", `${id} vanished right after it was created`, { id });
    this.wrote(id);
    return { record: written, workingDir: realpathSync(path) };
  }

  /**
   * Finds one agent by id, exact name or unique id prefix, as {@link RegistryService.findAgent},
   * and requires it in `tree`: one found only in the other tree is `AGENT_NOT_FOUND`. A name
   * that several agents carry is `AMBIGUOUS_NAME` with the candidates — never a guess.
   */
  async resolveAgent(
    reference: string,
    tree: AgentTree | "either" = "active",
  ): Promise<NamedAgentRecord> {
    const elsewhere = () =>
      notFound(reference, tree === "retired" ? "it is not in the Trash" : "it is in the Trash");
    let match: Awaited<ReturnType<RegistryService["findAgent"]>>;
    try {
      match = await this.findAgent(reference, tree === "retired" ? "retired" : "active");
    } catch (error) {
      // Several of that name, all in the other tree: in this tree there is none.
      if (
        tree !== "either" &&
        isRegistryError(error, "AMBIGUOUS_NAME") &&
        (error.data.candidates as { retired: boolean }[]).every(
          (candidate) => candidate.retired !== (tree === "retired"),
        )
      )
        throw elsewhere();
      throw error;
    }
    if (tree === "either" || match.tree === tree) return match.record;
    throw elsewhere();
  }

  /**
   * Finds the agent a person means by `reference` (SPEC §12) in both trees, `first` first.
   * Precedence, first match wins: an exact id, then an exact name — each in `first`, then in the
   * other tree — then a unique prefix of an id (at least 4 characters, as git's short ids) in
   * either tree. An exact id always means its file: one that cannot be read
   * is `INVALID_FILE` naming the reason, never "no agent". Several agents of one name in a tree
   * are `AMBIGUOUS_NAME`, a prefix of several ids `AMBIGUOUS_ID`, both with `data.candidates`.
   * A miss is `INVALID_ID` when the reference could not be an id either, else `AGENT_NOT_FOUND`.
   * The HTTP routes take exact ids only (`getAgent` …): a program has the id.
   */
  async findAgent(
    reference: string,
    first: AgentTree = "active",
  ): Promise<{
    record: NamedAgentRecord;
    tree: AgentTree;
    /** What the reference was: the agent's id, its exact name, or a unique prefix of its id. */
    by: "id" | "name" | "prefix";
  }> {
    const validId = idProblem(reference) === null;
    if (first === "active" && validId && !this.index) {
      // The usual reference, an active agent's id, costs one file read, not a listing.
      const record = await this.registry.get(reference).catch((error: unknown) => {
        if (isRegistryError(error, "INVALID_FILE")) return null; // the listing says why
        throw error;
      });
      if (record) return { record, tree: "active", by: "id" };
    }
    const scan = await this.scan();
    const order: readonly AgentTree[] =
      first === "active" ? ["active", "retired"] : ["retired", "active"];
    const inTree = (tree: AgentTree) => (tree === "active" ? scan.active : scan.retired);
    const quoted = JSON.stringify(reference);
    for (const tree of order) {
      const records = inTree(tree);
      const byId = records.find((record) => record.data.instance_id === reference);
      if (byId) return { record: byId, tree, by: "id" };
      const file = tree === "active" ? `${reference}.json` : `retired/${reference}.json`;
      const unreadable = validId
        ? scan.skipped.find((skipped) => skipped.file === file)
        : undefined;
      if (unreadable) {
        throw new RegistryError(
          "INVALID_FILE",
          `${file} exists but could not be read (${unreadable.reason}): ${unreadable.message}`,
          { id: reference, file, reason: unreadable.reason },
        );
      }
      const named = records.filter((record) => record.data.instance_name === reference);
      if (named.length === 1) return { record: named[0] as NamedAgentRecord, tree, by: "name" };
      if (named.length > 1) {
        const candidates = candidatesOf(named.map((record) => ({ record, tree })));
        throw new RegistryError(
          "AMBIGUOUS_NAME",
          `${named.length} agents${tree === "retired" ? " in the Trash" : ""} are named ${quoted}: ${idList(candidates)}`,
          { name: reference, candidates },
        );
      }
    }
    if (reference.length >= MIN_ID_PREFIX) {
      // An agent in both trees (an interrupted move) is one agent: its first tree's record.
      const matches = new Map<string, { record: NamedAgentRecord; tree: AgentTree }>();
      for (const tree of order) {
        for (const record of inTree(tree)) {
          const id = record.data.instance_id;
          if (id.startsWith(reference) && !matches.has(id)) matches.set(id, { record, tree });
        }
      }
      const [only] = matches.values();
      if (only && matches.size === 1) return { ...only, by: "prefix" };
      if (matches.size > 1) {
        const candidates = candidatesOf([...matches.values()]);
        throw new RegistryError(
          "AMBIGUOUS_ID",
          `${matches.size} agents have an id that starts with ${quoted}: ${idList(candidates)}`,
          { prefix: reference, candidates },
        );
      }
    }
    const problem = idProblem(reference);
    if (problem !== null) {
      throw new RegistryError(
        "INVALID_ID",
        `no agent is named ${quoted}, and it is not a valid id either: ${problem}`,
        { id: reference },
      );
    }
    // A short id typed too short (`7c8`) is told the rule, not just "no agent".
    const tooShort =
      reference.length > 0 &&
      order.some((tree) =>
        inTree(tree).some((record) => record.data.instance_id.startsWith(reference)),
      );
    throw new RegistryError(
      "AGENT_NOT_FOUND",
      `no agent has the id or name ${quoted}${tooShort ? `; an id prefix needs at least ${MIN_ID_PREFIX} characters` : ""}`,
      { id: reference },
    );
  }

  /**
   * The active agents named exactly `name`, newest launch first: those a person would confuse
   * with an agent of that name (`create` and `rename` warn of them).
   */
  async agentsNamed(name: string): Promise<NamedAgentRecord[]> {
    const active = await this.records("active");
    return sortNewestFirst(active.filter((record) => record.data.instance_name === name));
  }

  /**
   * Everything wrong on disk, each with a one-line fix. Changes nothing, except that `fix` removes
   * stale temp and lock files and lease files that expired long ago (repairs that can never lose
   * data: a lease that expired holds nothing).
   */
  async doctor(options: { fix?: boolean } = {}): Promise<DoctorReport> {
    const scan = await this.scan();
    const root = this.registry.root;
    const problems: Problem[] = skippedProblems(scan, root);
    const retiredIds = new Set(scan.retired.map((record) => record.data.instance_id));
    for (const record of scan.active) {
      const id = record.data.instance_id;
      if (retiredIds.has(id)) {
        const active = shellQuote(join(root, `${id}.json`));
        const trashed = join(root, "retired", `${id}.json`);
        // Not `forget`: it replaces the Trash copy, which may be the one worth keeping.
        problems.push({
          kind: "in-both-trees",
          subject: id,
          message: `${id} is both active and in the Trash (an interrupted restore or a concurrent writer)`,
          fix: `compare ${active} with ${shellQuote(trashed)}; to keep the agent active, move the Trash copy aside: mv -n ${shellQuote(trashed)} ${shellQuote(`${trashed}.bak`)} (to keep it forgotten, move the active one aside instead)`,
        });
      }
      const dir = join(
        record.data.source_agents_base ?? this.registry.agentsBase,
        record.data.working_dir,
      );
      try {
        this.resolveWorkingDir(record);
      } catch (error) {
        if (!(error instanceof RegistryError)) throw error;
        const name = `${record.data.instance_name} (${id})`;
        problems.push(
          error.code === "WORKING_DIR_ESCAPES"
            ? {
                kind: "working-dir-escapes",
                subject: id,
                message: `working directory of ${name} leads outside its base: ${dir}`,
                fix: `move the agent's files from where the link at ${shellQuote(dir)} points into a real directory of that name (removing a link deletes nothing it points to), or forget the agent: agentmux-registry forget ${id}`,
              }
            : {
                kind: "working-dir-missing",
                subject: id,
                message: `working directory of ${name} is missing: ${dir}`,
                fix: `recreate it (mkdir -p ${shellQuote(dir)}), or forget the agent: agentmux-registry forget ${id}`,
              },
        );
      }
    }
    const fixed = options.fix
      ? [
          ...this.registry.sweep().removed,
          ...this.registry.removeOddEntries(),
          ...(await this.removeExpiredLeases()),
        ]
      : [];
    for (const file of this.registry.staleFiles()) {
      problems.push({
        kind: "stale-file",
        subject: file,
        message: `${file} was left by a writer that crashed`,
        fix: "agentmux-registry doctor --fix",
      });
    }
    for (const entry of this.registry.oddEntries()) problems.push(oddEntryProblem(entry));
    problems.push(...this.leaseProblems(scan));
    problems.push(...(await this.migrationProblems()));
    return {
      root: this.registry.root,
      agents_base: this.registry.agentsBase,
      active: scan.active.length,
      retired: scan.retired.length,
      problems,
      fixed,
    };
  }

  /** The lease tree's problems (SPEC §15): unreadable and long-expired leases, odd entries. */
  private leaseProblems(scan: ScanResult): Problem[] {
    const names = new Map<string, string>();
    for (const record of [...scan.retired, ...scan.active])
      names.set(record.data.instance_id, agentLabel(record));
    const label = (id: string) => names.get(id) ?? `${id} (no such agent)`;
    const ttl = this.leases.ttlMs;
    const problems: Problem[] = [];
    const odd = new Set<string>();
    let findings: ReturnType<typeof scanLeaseTree>;
    let views: LeaseView[];
    try {
      findings = scanLeaseTree(this.writeContext(), this.root);
      views = findings.some((finding) => finding.kind === "not-a-directory")
        ? []
        : this.leases.inspect();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return [
        {
          kind: "odd-entry",
          subject: LEASES_DIR,
          message: `the lease directory cannot be read: ${message}`,
          fix: `give ${join(this.root, LEASES_DIR)} back to its owner and make it readable (chmod 700)`,
        },
      ];
    }
    for (const finding of findings) {
      odd.add(finding.file);
      problems.push(
        finding.kind === "not-a-directory"
          ? {
              kind: "odd-entry",
              subject: finding.file,
              message: `${finding.file} is not a directory, where the lease directory belongs: no agent can be claimed`,
              fix: `move ${join(this.root, finding.file)} elsewhere`,
            }
          : {
              kind: "odd-entry",
              subject: finding.file,
              message:
                `${finding.file} is a ${finding.what}, where only lease, lock and epoch files belong` +
                (finding.blocks === null
                  ? ""
                  : `: claims of ${label(finding.blocks)} may fail while it is there`),
              fix: `move what is in ${join(this.root, finding.file)} elsewhere, then remove it`,
            },
      );
    }
    for (const view of views) {
      if (odd.has(view.file)) continue;
      const agent = label(view.instanceId);
      if (view.status === "unreadable") {
        problems.push({
          kind: "lease-unreadable",
          subject: view.file,
          message:
            `${view.file}: the lease of ${agent} cannot be read as a lease` +
            (view.holding
              ? `: until it is ${ttl / 1000} s old, nobody can claim the agent`
              : " (it holds nothing: the next claim replaces it)"),
          fix: `if no program runs ${agent}, remove ${join(this.root, view.file)}`,
        });
      } else if (view.status !== "live" && view.ageMs > Math.max(ttl, LEASE_REPORT_AFTER_MS)) {
        const holder = view.lease ? ` by ${holderText(view.lease)}` : "";
        const now = this.now();
        problems.push({
          kind: "lease-expired",
          subject: view.file,
          message: `${view.file}: the lease of ${agent}${holder} expired long ago (last renewed ${relativeTime(now - view.ageMs, now)}); it holds nothing`,
          fix: "agentmux-registry doctor --fix (removes it; it holds nothing)",
        });
      }
    }
    return problems;
  }

  /** `doctor --fix`: the lease files expired long ago, each re-judged under its agent's lock. */
  private async removeExpiredLeases(): Promise<string[]> {
    const removed: string[] = [];
    let views: LeaseView[];
    try {
      views = this.leases.inspect();
    } catch {
      return removed; // the report that follows says why
    }
    for (const view of views) {
      if (view.status === "live" || view.status === "unreadable") continue;
      if (view.ageMs <= LEASE_REPORT_AFTER_MS) continue;
      if (await this.leases.removeExpired(view.instanceId, LEASE_REPORT_AFTER_MS))
        removed.push(view.file);
    }
    return removed;
  }

  private writeContext() {
    return { fs: this.registry.fsOps, platform: process.platform, sleep };
  }

  /** One tree's valid records: from the live index when there is one, else from the disk. */
  private async records(tree: AgentTree): Promise<readonly NamedAgentRecord[]> {
    const index = await this.freshIndex();
    if (index) return tree === "active" ? index.active : index.retired;
    return tree === "active" ? this.registry.listActive() : this.registry.listRetired();
  }

  /** Both trees and the skipped files: from the live index when there is one. */
  private async scan(): Promise<ScanResult> {
    const index = await this.freshIndex();
    if (!index) return this.registry.scan();
    return { active: [...index.active], retired: [...index.retired], skipped: index.skipped };
  }

  /**
   * An unfinished migration, and each database (or directory) it cannot read now, with the
   * reason: the one problem and the others are what `migrate` would stop at.
   */
  private async migrationProblems(): Promise<Problem[]> {
    const home = this.home;
    if (home === undefined) return [];
    const { findSources, MARKER_NAME, markerIsCurrent, unreadableSources } = await loadMigration();
    // An unreadable marker (a directory, say) counts as no marker: the migration has not completed.
    if (await markerIsCurrent(this.registry).catch(() => false)) return [];
    const sources = findSources(home).sources.length;
    const unreadable = unreadableSources(home);
    if (sources === 0 && unreadable.length === 0) return [];
    const migrate = `agentmux-registry migrate --home ${shellQuote(home)}`;
    const cannot =
      unreadable.length > 0 ? `: ${unreadable.length} path(s) under it cannot be read now` : "";
    return [
      {
        kind: "migration-incomplete",
        subject: MARKER_NAME,
        message: `the one-shot migration of ${sources} SQLite database(s) under ${home} has not completed${cannot}`,
        fix: unreadable.length > 0 ? `fix each path named below, then: ${migrate}` : migrate,
      },
      ...unreadable.map(({ path, reason }) => ({
        kind: "migration-incomplete" as const,
        subject: path,
        message: `${path} cannot be read: ${reason}`,
        fix: `${unreadableSourceFix(path, reason)}, then: ${migrate}`,
      })),
    ];
  }

  private async requireActive(id: string): Promise<NamedAgentRecord> {
    const record = await this.registry.get(checkId(id));
    if (record === null) throw await this.notActive(id, "it is in the Trash; restore it first");
    return record;
  }

  /** `AGENT_NOT_FOUND` for an agent with no active record, saying so when it is in the Trash. */
  private async notActive(id: string, inTrash: string): Promise<RegistryError> {
    return notFound(id, (await this.registry.existsAnywhere(id)) ? inTrash : undefined);
  }

  /** `(source_agents_base ?? agentsBase)/working_dir`, existing, and inside its base after symlinks. */
  private resolveWorkingDir(record: NamedAgentRecord): string {
    const base = record.data.source_agents_base ?? this.registry.agentsBase;
    const id = record.data.instance_id;
    const path = resolve(base, record.data.working_dir);
    let real: string;
    try {
      real = realpathSync(path);
      if (!statSync(real).isDirectory())
        throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    } catch (error) {
      throw new RegistryError(
        "WORKING_DIR_MISSING",
        `the working directory of ${id} is missing: ${path}`,
        {
          id,
          path,
          errno: errnoCode(error),
        },
      );
    }
    let realBase: string;
    try {
      realBase = realpathSync(base);
    } catch {
      realBase = base;
    }
    const inside = relative(realBase, real);
    if (
      !isAbsolute(base) ||
      inside === "" ||
      inside.startsWith(`..${sep}`) ||
      inside === ".." ||
      isAbsolute(inside)
    ) {
      throw new RegistryError(
        "WORKING_DIR_ESCAPES",
        `the working directory of ${id} resolves outside its base: ${path} → ${real}`,
        { id, path, real, base },
      );
    }
    return real;
  }
}

/** The SQLite side (better-sqlite3, a native addon) loads only for `migrate` and `doctor`. */
const loadMigration = () => import("./sqlite/migrate.js");

/** The first `limit` records of `sorted`, of one definition if given. */
function pickNamed(
  sorted: readonly NamedAgentRecord[],
  definitionId: string | undefined,
  limit: number,
): NamedAgentRecord[] {
  if (definitionId === undefined) return sorted.slice(0, limit);
  const matching: NamedAgentRecord[] = [];
  for (const record of sorted) {
    if (matching.length >= limit) break;
    if (record.data.definition_id === definitionId) matching.push(record);
  }
  return matching;
}

function agentsBody(
  records: readonly NamedAgentRecord[],
  inUse: ReadonlyMap<string, InUse>,
): string {
  return JSON.stringify({
    agents: records.map((record) => agentJson(record, inUse.get(record.data.instance_id) ?? null)),
  });
}

function listLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RegistryError(
      "INVALID_ARGUMENT",
      `limit must be a non-negative integer (got ${limit})`,
      { limit },
    );
  }
  return Math.min(limit, MAX_LIST_LIMIT);
}

function sortNewestFirst(records: NamedAgentRecord[]): NamedAgentRecord[] {
  return [...records].sort((a, b) => compareNewestFirst(a.data, b.data));
}

/** How messages name an agent: its name, then its id. */
function agentLabel(record: NamedAgentRecord): string {
  return `${JSON.stringify(record.data.instance_name)} (${record.data.instance_id})`;
}

/** The working-directory name for an agent name: lower-case ASCII words joined by `-`. */
export function slugify(name: string): string {
  const slug = name
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64)
    .replace(/-+$/, "");
  return slug === "" ? "agent" : slug;
}

/**
 * Undoes `mkdir -p`: removes `path` and its parents up to `firstCreated` (what mkdir returned),
 * only while they are empty. A directory that someone filled meanwhile stays.
 */
function removeCreatedDirectories(path: string, firstCreated: string | undefined): void {
  if (firstCreated === undefined) return;
  for (let dir = path; ; dir = dirname(dir)) {
    try {
      rmdirSync(dir);
    } catch {
      return;
    }
    if (dir === firstCreated || dirname(dir) === dir) return;
  }
}

function pathExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The agents an ambiguous reference matched, newest launch first, as `data.candidates` lists
 * them: enough to tell them apart (definition, working dir, last launch) and where each is.
 */
function candidatesOf(matches: readonly { record: NamedAgentRecord; tree: AgentTree }[]) {
  return [...matches]
    .sort((a, b) => compareNewestFirst(a.record.data, b.record.data))
    .map(({ record: { data }, tree }) => ({
      id: data.instance_id,
      name: data.instance_name,
      definition_id: data.definition_id,
      working_dir: data.working_dir,
      last_launched_at_ms: data.last_launched_at_ms,
      retired: tree === "retired",
    }));
}

/** The first few candidates' ids for a message (`data.candidates` has them all). */
function idList(candidates: readonly { id: string }[]): string {
  const shown = candidates.slice(0, 5).map((candidate) => candidate.id);
  const more = candidates.length - shown.length;
  return `${shown.join(", ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function notFound(id: string, detail?: string): RegistryError {
  return new RegistryError(
    "AGENT_NOT_FOUND",
    `no agent ${JSON.stringify(id)}${detail ? `: ${detail}` : ""}`,
    { id },
  );
}

/**
 * The files the listing skipped, each with a fix that loses nothing: nothing is deleted or
 * written over, a file is moved aside under a new name with `mv -n` (which never replaces
 * one), and a rename to `<id>.json` is offered only while no file has, or claims, that name.
 */
function skippedProblems(scan: ScanResult, root: string): Problem[] {
  const names = new Set(scan.skipped.map((skipped) => skipped.file));
  for (const record of scan.active) names.add(`${record.data.instance_id}.json`);
  for (const record of scan.retired) names.add(`retired/${record.data.instance_id}.json`);
  const claims = new Map<string, number>();
  for (const skipped of scan.skipped) {
    const target = renameTarget(skipped);
    if (target !== null) claims.set(target, (claims.get(target) ?? 0) + 1);
  }
  return scan.skipped.map((skipped) => {
    const path = shellQuote(join(root, skipped.file));
    const aside = `mv -n ${path} ${shellQuote(`${join(root, skipped.file)}.bak`)}`;
    const target = renameTarget(skipped);
    let fix = SKIP_FIXES[skipped.reason](path, aside);
    if (skipped.reason === "id-mismatch") {
      const id = claimedId(skipped);
      if (target === null) {
        fix = `data.instance_id ${JSON.stringify(id)} is not a valid id: if this is the agent the file name says, set data.instance_id to that in ${path}; otherwise move it aside: ${aside}`;
      } else if (
        names.has(target) ||
        names.has(otherTree(target)) ||
        (claims.get(target) ?? 0) > 1
      ) {
        const existing = names.has(target) ? target : otherTree(target);
        fix = names.has(existing)
          ? `${existing} already exists: compare the two (diff ${shellQuote(join(root, existing))} ${path}), keep the right one as ${existing} and move the other aside, e.g. ${aside}`
          : `other files also say they are ${id}: compare them, rename only the right one (mv -n ${path} ${shellQuote(join(root, target))}) and move the others aside, e.g. ${aside}`;
      } else {
        fix = `rename it to match its data.instance_id: mv -n ${path} ${shellQuote(join(root, target))}`;
      }
    }
    return {
      kind: "skipped-file",
      subject: skipped.file,
      message: `${skipped.file} could not be loaded (${skipped.reason}): ${skipped.message}`,
      fix,
    };
  });
}

/**
 * The id an `id-mismatch` file claims, from the message `core/schema.ts` writes
 * (`data.instance_id "x" differs from the file name "y"`; pinned by test/messages-doctor.test.ts).
 */
function claimedId(skipped: SkippedFile): string | null {
  const quoted = /^data\.instance_id ("(?:[^"\\]|\\.)*") differs/.exec(skipped.message)?.[1];
  return quoted === undefined ? null : (JSON.parse(quoted) as string);
}

/** Where an `id-mismatch` file's name should be, in its own tree, or `null` (not a valid id). */
function renameTarget(skipped: SkippedFile): string | null {
  if (skipped.reason !== "id-mismatch") return null;
  const id = claimedId(skipped);
  if (id === null || idProblem(id) !== null) return null;
  return `${skipped.file.startsWith("retired/") ? "retired/" : ""}${id}.json`;
}

/** The same file name in the other tree. */
function otherTree(file: string): string {
  return file.startsWith("retired/") ? file.slice("retired/".length) : `retired/${file}`;
}

/** What to do about a database or directory the migration cannot read, by what was said. */
function unreadableSourceFix(path: string, reason: string): string {
  if (/locked|busy/i.test(reason)) return "close the AgentMux version that holds it locked";
  if (/^E[A-Z]+\b/.test(reason))
    return `give ${shellQuote(path)} back to its owner and make it readable`;
  // A damaged database, or something else where one belongs: replaced only after a copy is kept.
  return `repair it, or move it aside (mv -n ${shellQuote(path)} ${shellQuote(`${path}.bak`)}) and put a good copy from a backup in its place`;
}

/** A FIFO, directory, symlink … at a lock, holder or temp name, or a lock file that is not ours. */
function oddEntryProblem(entry: OddFile): Problem {
  const { file } = entry;
  const name = file.slice(file.lastIndexOf("/") + 1);
  const blocks = name.startsWith(".lock-") && !name.includes(".stale-");
  const effect = blocks
    ? `: writes of ${name.slice(".lock-".length)} fail with INVALID_LOCK while it is there`
    : "";
  const { what } = entry;
  if (what === "foreign-content" || what === "unreadable") {
    return {
      kind: "odd-entry",
      subject: file,
      message:
        what === "foreign-content"
          ? `${file} is a lock file whose content no holder writes (a newer version's, or junk)`
          : `${file} is a lock file this process cannot read`,
      fix: "if no program is writing that record, remove it; otherwise the sweep removes it once it is older than a few minutes",
    };
  }
  const kind = what === "fifo" ? "FIFO" : what === "other" ? "special file" : what;
  return {
    kind: "odd-entry",
    subject: file,
    message: `${file} is a ${kind}${entry.hasContent ? " with content" : ""}, where only our own temp or lock files belong${effect}`,
    fix: entry.removable
      ? "agentmux-registry doctor --fix (removes it; it holds no data)"
      : `move what is in ${file} elsewhere, then remove it`,
  };
}

/**
 * One fix per skip reason, given the file's path and the command that moves it aside. None
 * deletes or writes over a file: a copy is kept before any repair by hand.
 */
const SKIP_FIXES: Record<SkippedFile["reason"], (path: string, aside: string) => string> = {
  "not-regular-file": (path) =>
    `move ${path} out of the registry (it is never followed or read); if it links to a record, put a copy of that file in its place`,
  unreadable: (path) =>
    `give ${path} back to its owner and make it readable (chmod 600 ${path}), or check the disk`,
  "too-large": (_, aside) => `it is not a record (records are under 1 MiB): ${aside}`,
  "invalid-utf8": (path) =>
    `keep a copy (cp -n ${path} ${path}.bak), then restore it from a backup`,
  bom: (path) => `save ${path} as UTF-8 without a byte order mark`,
  "invalid-json": (path) =>
    `keep a copy (cp -n ${path} ${path}.bak), then repair the JSON by hand or restore it from a backup`,
  "duplicate-key": (path) =>
    `keep a copy (cp -n ${path} ${path}.bak), then remove the repeated key from ${path}`,
  "not-an-object": (path) =>
    `keep a copy (cp -n ${path} ${path}.bak), then restore it from a backup`,
  "missing-schema-version": (path) =>
    `keep a copy (cp -n ${path} ${path}.bak), then restore it from a backup; do not guess a version`,
  "older-schema": (path) =>
    `no version writes a schema below 1: keep a copy (cp -n ${path} ${path}.bak), then restore it from a backup`,
  "newer-schema": () =>
    "written by a newer version: upgrade agentmux-registry; the file is kept as it is",
  "invalid-field": (path) => `correct the field the message names in ${path}`,
  "empty-field": (path) => `fill in the field the message names in ${path}`,
  "invalid-stem": (path, aside) =>
    `rename ${path} to <its data.instance_id>.json with mv -n (which never replaces a file); if that name is taken, compare the two and move the one you do not keep aside, e.g. ${aside}`,
  "id-mismatch": (_, aside) =>
    `compare it with the record of its data.instance_id, or move it aside: ${aside}`,
  "unsafe-working-dir": (path) =>
    `make data.working_dir in ${path} a path relative to the agents base`,
};
