/**
 * `LeaseStore`: at most one live process drives an agent at a time (SPEC §15). Leases live beside
 * the records in `<root>/leases/`, in AgentMux's own format and under its lock, so a lease taken by
 * either program is honoured by the other. Every operation runs inside the agent's critical
 * section (an exclusive `flock` on `<id>.lock`); `inspect` alone reads without it, for display.
 */

import { join } from "node:path";
import { RegistryError } from "../core/errors.js";
import { checkId } from "../core/ids.js";
import {
  belongsTo,
  decideClaim,
  EPOCH_SUFFIX,
  encodeEpoch,
  encodeLease,
  holderProvablyDead,
  LEASE_RENEW_MS,
  LEASE_SUFFIX,
  LEASE_TTL_MS,
  LEASES_DIR,
  type Lease,
  type LeaseState,
  LOCK_SUFFIX,
  leaseAge,
  MAX_LEASE_BYTES,
  parseEpoch,
  parseLease,
  unreadableAge,
} from "../core/lease.js";
import {
  currentIdentity,
  directoryIdentity,
  fsyncDirectory,
  ioError,
  listDirectory,
  makeDirectories,
  readEntry,
  sleep,
  type WriteContext,
  writeFileAtomic,
} from "../io/files.js";
import { withFileLock } from "../io/flock.js";
import { errnoCode, type FsOps, realFs } from "../io/fs.js";
import { pidRunning, pidStartSeconds, thisHostname } from "../io/process-identity.js";
import { randomId } from "../io/random.js";

export { LEASES_DIR };

/** This process's boot id: every store of the process claims as the same owner unless told otherwise. */
let processBootId: string | undefined;

/** How a process is judged alive; injectable so tests can stage dead and reused pids. */
export interface ProcessProbe {
  running: (pid: number) => boolean;
  startSeconds: (pid: number) => number | undefined;
}

/** Options of a {@link LeaseStore}; every default is the real one. */
export interface LeaseStoreOptions {
  /** The claimant's boot id (default: one random id per process). */
  bootId?: string;
  /** The program recorded as `channel` (default `agentmux-registry`). */
  channel?: string;
  /** The program's version recorded as `version`. */
  version?: string;
  /** Lease lifetime after a renewal (default 15,000 ms). */
  ttlMs?: number;
  /** How often {@link LeaseStore.keep} renews (default 5,000 ms). */
  renewMs?: number;
  /** How long to wait for another process's critical section (default 10,000 ms). */
  lockTimeoutMs?: number;
  now?: () => number;
  fs?: FsOps;
  /** This host's name as leases record it (default: `gethostname`, trimmed, lowercased). */
  hostname?: string;
  /** The claimant's pid (default: this process). */
  pid?: number;
  process?: ProcessProbe;
}

/** A claim held by this process: what later renews, verifies and releases are checked against. */
export interface LeaseHandle {
  /** The agent claimed. */
  readonly instanceId: string;
  /** The claimant process's boot id (`owner_boot_id`). */
  readonly bootId: string;
  /** The part of the process that holds it (`block_id`). */
  readonly blockId: string;
  /** This claim's UUID (`claim_id`): a later re-claim by the same block fences this handle. */
  readonly claimId: string;
  /** The ownership generation this claim got: above every earlier claim's. */
  readonly epoch: bigint;
}

/** Who holds an agent: the lease (or `null` when its file is unreadable) and its age. */
export interface LeaseHolder {
  /** The holder's lease, or `null` when its file cannot be read (an unknown holder). */
  lease: Lease | null;
  /** How long ago it was renewed (or, unreadable, written). */
  ageMs: number;
}

/** A lease file as `inspect` found it, judged without the lock. */
export interface LeaseView {
  instanceId: string;
  /** `live`: held; `expired`: past the TTL; `dead`: its holder is provably gone; `unreadable`. */
  status: "live" | "expired" | "dead" | "unreadable";
  /** Whether it keeps other claimants out now: live, or unreadable and younger than the TTL. */
  holding: boolean;
  /** The lease, or `null` when the file cannot be read as one. */
  lease: Lease | null;
  /** How long ago it was renewed (or, unreadable, written). */
  ageMs: number;
  /** The file, relative to the registry root. */
  file: string;
}

/** What `claim` records besides the owner. */
export interface ClaimOptions {
  /** The provider session the claimant resumes, recorded for people (`session_id`). */
  sessionId?: string | null;
  /** How a refusal's message names the agent (default: its id), e.g. its name and id. */
  agentLabel?: string;
}

/**
 * The agents' leases in `<root>/leases/` (SPEC §15, docs/FORMAT.md "Leases"): claim an agent
 * before running it, keep the lease renewed while it runs, release it after. Every operation but
 * `inspect` takes the agent's `flock`, the lock AgentMux's own lease store takes.
 *
 * @example
 * ```ts
 * const leases = new LeaseStore(root, { version: "1.2.3" });
 * const handle = await leases.claim(id, "pane-1"); // AGENT_IN_USE while another holds it
 * const keeper = leases.keep(handle, (lost) => console.error(lost.message));
 * try { await run(); } finally { keeper.stop(); await leases.release(handle); }
 * ```
 */
export class LeaseStore {
  /** `<root>/leases`. */
  readonly dir: string;
  /** How long a lease stays live after its last renewal. */
  readonly ttlMs: number;
  /** How often {@link LeaseStore.keep} renews. */
  readonly renewMs: number;
  private readonly channel: string;
  private readonly version: string;
  private readonly lockTimeoutMs: number;
  private readonly now: () => number;
  private readonly ctx: WriteContext;
  private readonly host: string;
  private readonly pid: number;
  private readonly probe: ProcessProbe;
  private readonly givenBootId: string | undefined;

  constructor(root: string, options: LeaseStoreOptions = {}) {
    this.dir = join(root, LEASES_DIR);
    this.givenBootId = options.bootId;
    this.channel = options.channel ?? "agentmux-registry";
    this.version = options.version ?? "";
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS;
    this.renewMs = options.renewMs ?? LEASE_RENEW_MS;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.ctx = { fs: options.fs ?? realFs, platform: process.platform, sleep };
    this.host = options.hostname ?? thisHostname();
    this.pid = options.pid ?? process.pid;
    this.probe = options.process ?? { running: pidRunning, startSeconds: pidStartSeconds };
  }

  /** The boot id this store claims as (this process's, made on first use, unless given). */
  get bootId(): string {
    if (this.givenBootId !== undefined) return this.givenBootId;
    processBootId ??= randomId();
    return processBootId;
  }

  /**
   * Claims the agent for `blockId` of this process. `AGENT_IN_USE` (with the holder in `data`)
   * while another live owner holds it; a re-claim by the same block keeps the epoch and
   * supersedes that block's older handle.
   */
  async claim(
    instanceId: string,
    blockId: string,
    options: ClaimOptions = {},
  ): Promise<LeaseHandle> {
    const id = checkId(instanceId);
    makeDirectories(this.ctx.fs, this.dir);
    return this.critical(id, async () => {
      const state = this.readState(id);
      const decision = decideClaim(state, { bootId: this.bootId, blockId }, this.ttlMs, (lease) =>
        this.provablyDead(lease),
      );
      if (decision.kind === "held")
        throw inUseError(id, { lease: decision.holder, ageMs: decision.ageMs }, options.agentLabel);
      const current = state.kind === "valid" ? state.lease.epoch : 0n;
      let epoch = current;
      if (!decision.keepEpoch) {
        const stored = this.readEpoch(id);
        epoch = (stored > current ? stored : current) + 1n;
        await this.writeFile(this.epochPath(id), encodeEpoch(epoch));
      }
      const now = this.now();
      const claimId = randomId();
      await this.writeFile(
        this.leasePath(id),
        encodeLease({
          instance_id: id,
          owner_boot_id: this.bootId,
          block_id: blockId,
          session_id: options.sessionId ?? null,
          pid: this.pid,
          acquired_at_ms: now,
          renewed_at_ms: now,
          epoch,
          hostname: this.host,
          pid_start_s: this.probe.startSeconds(this.pid) ?? 0,
          channel: this.channel,
          version: this.version,
          claim_id: claimId,
        }),
      );
      return { instanceId: id, bootId: this.bootId, blockId, claimId, epoch };
    });
  }

  /** Renews the lease; `AGENT_IN_USE` when it is no longer this handle's (nothing is written). */
  async renew(handle: LeaseHandle): Promise<void> {
    await this.critical(handle.instanceId, async () => {
      const lease = this.ownLease(handle);
      await this.writeFile(
        this.leasePath(handle.instanceId),
        encodeLease({ ...lease, renewed_at_ms: this.now() }),
      );
    });
  }

  /** Checks the lease is still this handle's, writing nothing; `AGENT_IN_USE` when it is not. */
  async verify(handle: LeaseHandle): Promise<void> {
    await this.critical(handle.instanceId, () => {
      this.ownLease(handle);
    });
  }

  /** Deletes the lease file if it is this handle's; returns whether it did. Idempotent. */
  async release(handle: LeaseHandle): Promise<boolean> {
    if (!this.treeExists()) return false;
    return this.critical(handle.instanceId, () => {
      const state = this.readState(handle.instanceId);
      if (state.kind !== "valid" || !belongsTo(state.lease, handle)) return false;
      return this.unlinkLease(handle.instanceId);
    });
  }

  private unlinkLease(id: string): boolean {
    const path = this.leasePath(id);
    try {
      this.ctx.fs.unlinkSync(path);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return false;
      throw ioError("remove", path, error);
    }
    fsyncDirectory(this.ctx, this.dir);
    return true;
  }

  /**
   * The live holder of the agent other than `ownBootId` (pass `""` to ask whether anyone holds
   * it), or `null`. An unreadable lease younger than the TTL is an unknown holder.
   */
  async holder(instanceId: string, ownBootId = ""): Promise<LeaseHolder | null> {
    const id = checkId(instanceId);
    if (!this.treeExists()) return null;
    return this.critical(id, () => {
      const state = this.readState(id);
      if (state.kind === "missing") return null;
      if (state.kind === "unreadable") {
        return state.ageMs <= this.ttlMs ? { lease: null, ageMs: state.ageMs } : null;
      }
      const { lease, ageMs } = state;
      if (lease.owner_boot_id === ownBootId || ageMs > this.ttlMs || this.provablyDead(lease)) {
        return null;
      }
      return { lease, ageMs };
    });
  }

  /**
   * Removes the agent's lease file if, read inside its critical section, it is a readable lease
   * last renewed more than `olderThanMs` ago and past the TTL, so that it holds nothing (for
   * `doctor --fix`). Returns whether it did. An unreadable lease is never removed: it is evidence, and a
   * claim replaces it once it is older than the TTL.
   */
  async removeExpired(instanceId: string, olderThanMs: number): Promise<boolean> {
    const id = checkId(instanceId);
    if (!this.treeExists()) return false;
    return this.critical(id, () => {
      const state = this.readState(id);
      if (state.kind !== "valid" || state.ageMs <= Math.max(this.ttlMs, olderThanMs)) return false;
      return this.unlinkLease(id);
    });
  }

  /**
   * Renews `handle` every `renewMs` until the returned `stop` is called; `onLost` hears once if
   * the lease is taken over (renewing then stops, and the new owner's file is never touched).
   */
  keep(handle: LeaseHandle, onLost: (error: RegistryError) => void): { stop: () => void } {
    let stopped = false;
    let running: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      running = running.then(async () => {
        if (stopped) return;
        try {
          await this.renew(handle);
        } catch (error) {
          if (error instanceof RegistryError && error.code === "AGENT_IN_USE") {
            stopped = true;
            clearInterval(timer);
            onLost(error);
          }
          // Any other failure (a slow disk, a lock timeout) is retried at the next tick: the
          // lease stays ours until the TTL passes, and a later renew may still succeed.
        }
      });
    }, this.renewMs);
    timer.unref();
    return {
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
  }

  /**
   * Every lease file, judged without taking any lock (for listings, `leases` and `doctor`; a
   * decision always goes through the critical section). A reader sees a file's old or new bytes,
   * never a mix, since every write is a rename.
   */
  inspect(): LeaseView[] {
    if (!this.treeExists()) return [];
    const now = this.now();
    const views: LeaseView[] = [];
    for (const entry of listDirectory(this.ctx.fs, this.dir)) {
      if (!entry.name.endsWith(LEASE_SUFFIX)) continue;
      const instanceId = entry.name.slice(0, -LEASE_SUFFIX.length);
      let state: LeaseState;
      try {
        state = this.readStateAt(join(this.dir, entry.name), now);
      } catch {
        state = { kind: "unreadable", ageMs: 0 };
      }
      if (state.kind === "missing") continue;
      const file = `${LEASES_DIR}/${entry.name}`;
      if (state.kind === "unreadable") {
        const holding = state.ageMs <= this.ttlMs;
        views.push({
          instanceId,
          status: "unreadable",
          holding,
          lease: null,
          ageMs: state.ageMs,
          file,
        });
        continue;
      }
      const status =
        state.ageMs > this.ttlMs ? "expired" : this.provablyDead(state.lease) ? "dead" : "live";
      const holding = status === "live";
      views.push({ instanceId, status, holding, lease: state.lease, ageMs: state.ageMs, file });
    }
    return views;
  }

  private provablyDead(lease: Lease): boolean {
    return holderProvablyDead(lease, this.host, this.probe);
  }

  private ownLease(handle: LeaseHandle): Lease {
    const state = this.readState(handle.instanceId);
    if (state.kind === "valid" && belongsTo(state.lease, handle)) return state.lease;
    throw lost(handle.instanceId, state);
  }

  private critical<T>(id: string, body: () => Promise<T> | T): Promise<T> {
    return withFileLock(
      this.ctx.fs,
      join(this.dir, `${id}${LOCK_SUFFIX}`),
      { timeoutMs: this.lockTimeoutMs, sleep },
      body,
    );
  }

  private treeExists(): boolean {
    return directoryIdentity(this.ctx.fs, this.dir) !== "absent";
  }

  private leasePath(id: string): string {
    return join(this.dir, `${id}${LEASE_SUFFIX}`);
  }

  private epochPath(id: string): string {
    return join(this.dir, `${id}${EPOCH_SUFFIX}`);
  }

  private readState(id: string): LeaseState {
    return this.readStateAt(this.leasePath(id), this.now());
  }

  /** Missing is free; present but not a lease is unreadable; any other failure is `IO`. */
  private readStateAt(path: string, now: number): LeaseState {
    const read = readEntry(this.ctx.fs, path, MAX_LEASE_BYTES);
    switch (read.kind) {
      case "absent":
        return { kind: "missing" };
      case "bytes": {
        const lease = parseLease(read.bytes);
        if (lease) return { kind: "valid", lease, ageMs: leaseAge(now, lease.renewed_at_ms) };
        return { kind: "unreadable", ageMs: unreadableAge(now, read.identity.mtimeMs) };
      }
      case "too-large": {
        const identity = currentIdentity(this.ctx.fs, path);
        const mtime = identity === "absent" ? undefined : identity.mtimeMs;
        return { kind: "unreadable", ageMs: unreadableAge(now, mtime) };
      }
      case "not-regular-file":
        throw ioError("read lease", path, new Error("not a regular file"));
      case "unreadable":
        throw ioError("read lease", path, new Error(`${read.errno} at ${read.op}: ${read.detail}`));
    }
  }

  private readEpoch(id: string): bigint {
    const read = readEntry(this.ctx.fs, this.epochPath(id), 64);
    return read.kind === "bytes" ? parseEpoch(read.bytes.toString("latin1")) : 0n;
  }

  private async writeFile(path: string, text: string): Promise<void> {
    await writeFileAtomic(this.ctx, path, text, currentIdentity(this.ctx.fs, path));
  }
}

/** Who holds the agent, for people: program and version, pid, host, and when it last renewed. */
function describeHolder(agent: string, holder: LeaseHolder): string {
  const { lease, ageMs } = holder;
  const ago = `${(ageMs / 1000).toFixed(1)} s ago`;
  if (!lease) {
    return `agent ${agent} is in use: its lease file cannot be read and was written ${ago}`;
  }
  const program = [lease.channel || "another program", lease.version].filter(Boolean).join(" ");
  const where = lease.hostname ? ` on ${lease.hostname}` : "";
  return `agent ${agent} is in use by ${program} (pid ${lease.pid}${where}, renewed ${ago})`;
}

/** The holder as a plain object, for `RegistryError.data` and the wire. */
function holderData(holder: LeaseHolder): Record<string, unknown> {
  const { lease, ageMs } = holder;
  return {
    age_ms: ageMs,
    holder: lease && {
      owner_boot_id: lease.owner_boot_id,
      block_id: lease.block_id,
      pid: lease.pid,
      hostname: lease.hostname,
      channel: lease.channel,
      version: lease.version,
      session_id: lease.session_id,
      renewed_at_ms: lease.renewed_at_ms,
      epoch: lease.epoch.toString(),
    },
  };
}

/** `AGENT_IN_USE` for `holder`; `label` is how the message names the agent (default: its id). */
export function inUseError(id: string, holder: LeaseHolder, label = id): RegistryError {
  return new RegistryError("AGENT_IN_USE", describeHolder(label, holder), {
    id,
    ...holderData(holder),
  });
}

function lost(id: string, state: LeaseState): RegistryError {
  const holder =
    state.kind === "valid"
      ? { lease: state.lease, ageMs: state.ageMs }
      : state.kind === "unreadable"
        ? { lease: null, ageMs: state.ageMs }
        : null;
  const message = holder
    ? `the lease on agent ${id} was lost: ${describeHolder(id, holder)}`
    : `the lease on agent ${id} was lost: its lease file is gone`;
  return new RegistryError("AGENT_IN_USE", message, {
    id,
    lost: true,
    ...(holder ? holderData(holder) : { holder: null, age_ms: null }),
  });
}
