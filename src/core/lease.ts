/**
 * The lease format and rules shared with AgentMux's lease store (SPEC §15): parsing and writing a
 * lease file and an epoch file, ages, and what a claim decides. Pure: the store in `store/leases.ts`
 * does the reading, locking and writing.
 */

import { type JsonValue, LosslessNumber, parseJsonBytes } from "./json.js";

/** The lease tree's directory name under the registry root. */
export const LEASES_DIR = "leases";

/** The file names of an agent's lease, its lock and its epoch counter, in the lease tree. */
export const LEASE_SUFFIX = ".lease.json";
export const LOCK_SUFFIX = ".lock";
export const EPOCH_SUFFIX = ".epoch";

/** How often a holder renews its lease. */
export const LEASE_RENEW_MS = 5_000;
/** How long a lease stays live after its last renewal. */
export const LEASE_TTL_MS = 15_000;
/** Lease files are a few hundred bytes; anything far larger is not one. */
export const MAX_LEASE_BYTES = 64 * 1024;

/** A lease file's content, every field filled (a missing optional field reads as its default). */
export interface Lease {
  instance_id: string;
  owner_boot_id: string;
  block_id: string;
  session_id: string | null;
  pid: number;
  acquired_at_ms: number;
  renewed_at_ms: number;
  /** The ownership generation; a bigint because AgentMux stores a u64. */
  epoch: bigint;
  hostname: string;
  pid_start_s: number;
  channel: string;
  version: string;
  claim_id: string;
}

const U32_MAX = 0xffff_ffffn;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * The lease in `bytes`, or `undefined` when the file is *unreadable*: not UTF-8 JSON, a repeated
 * key, a required field missing or mistyped, or an explicit `null` where a default exists. Unknown
 * keys are ignored.
 */
export function parseLease(bytes: Uint8Array): Lease | undefined {
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok || parsed.duplicateKeys.length > 0 || !(parsed.value instanceof Map)) {
    return undefined;
  }
  const fields = parsed.value;
  const string = (key: string) => {
    const value = fields.get(key);
    return typeof value === "string" ? value : undefined;
  };
  const optional = <T>(key: string, read: (value: JsonValue) => T | undefined, fallback: T) =>
    fields.has(key) ? read(fields.get(key) as JsonValue) : fallback;
  const stringValue = (value: JsonValue) => (typeof value === "string" ? value : undefined);

  const instanceId = string("instance_id");
  const ownerBootId = string("owner_boot_id");
  const blockId = string("block_id");
  const session = fields.get("session_id");
  const pid = unsigned(fields.get("pid"), U32_MAX);
  const acquired = unsigned(fields.get("acquired_at_ms"), U64_MAX);
  const renewed = unsigned(fields.get("renewed_at_ms"), U64_MAX);
  const epoch = optional("epoch", (value) => unsigned(value, U64_MAX), 0n);
  const hostname = optional("hostname", stringValue, "");
  const pidStart = optional("pid_start_s", (value) => unsigned(value, U64_MAX), 0n);
  const channel = optional("channel", stringValue, "");
  const version = optional("version", stringValue, "");
  const claimId = optional("claim_id", stringValue, "");
  if (
    instanceId === undefined ||
    ownerBootId === undefined ||
    blockId === undefined ||
    (session !== undefined && session !== null && typeof session !== "string") ||
    pid === undefined ||
    acquired === undefined ||
    renewed === undefined ||
    epoch === undefined ||
    hostname === undefined ||
    pidStart === undefined ||
    channel === undefined ||
    version === undefined ||
    claimId === undefined
  ) {
    return undefined;
  }
  return {
    instance_id: instanceId,
    owner_boot_id: ownerBootId,
    block_id: blockId,
    session_id: session ?? null,
    pid: Number(pid),
    acquired_at_ms: clampToNumber(acquired),
    renewed_at_ms: clampToNumber(renewed),
    epoch,
    hostname,
    pid_start_s: clampToNumber(pidStart),
    channel,
    version,
    claim_id: claimId,
  };
}

/** A JSON integer token in `0..=max` (serde's u32/u64: no sign, fraction or exponent). */
function unsigned(value: JsonValue | undefined, max: bigint): bigint | undefined {
  if (!(value instanceof LosslessNumber) || !/^(0|[1-9][0-9]*)$/.test(value.value)) {
    return undefined;
  }
  const integer = BigInt(value.value);
  return integer <= max ? integer : undefined;
}

/** Times beyond 2^53 ms are hundreds of millennia away: clamping keeps every comparison right. */
function clampToNumber(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

/** The lease file's text: two-space pretty JSON, keys in the format's order, one trailing `\n`. */
export function encodeLease(lease: Lease): string {
  const lines = [
    `  "instance_id": ${JSON.stringify(lease.instance_id)}`,
    `  "owner_boot_id": ${JSON.stringify(lease.owner_boot_id)}`,
    `  "block_id": ${JSON.stringify(lease.block_id)}`,
    `  "session_id": ${JSON.stringify(lease.session_id)}`,
    `  "pid": ${lease.pid}`,
    `  "acquired_at_ms": ${lease.acquired_at_ms}`,
    `  "renewed_at_ms": ${lease.renewed_at_ms}`,
    `  "epoch": ${lease.epoch}`,
    `  "hostname": ${JSON.stringify(lease.hostname)}`,
    `  "pid_start_s": ${lease.pid_start_s}`,
    `  "channel": ${JSON.stringify(lease.channel)}`,
    `  "version": ${JSON.stringify(lease.version)}`,
    `  "claim_id": ${JSON.stringify(lease.claim_id)}`,
  ];
  return `{\n${lines.join(",\n")}\n}\n`;
}

/**
 * The epoch file's value: trimmed, an unsigned decimal (a leading `+` is accepted, as Rust's
 * `u64::from_str` does). Anything else reads as 0.
 */
export function parseEpoch(text: string): bigint {
  const trimmed = text.trim();
  if (!/^\+?[0-9]+$/.test(trimmed)) return 0n;
  const value = BigInt(trimmed);
  return value <= U64_MAX ? value : 0n;
}

export function encodeEpoch(epoch: bigint): string {
  return `${epoch}\n`;
}

/** How long ago a lease was renewed; a timestamp in the future is age 0. */
export function leaseAge(now: number, renewedAtMs: number): number {
  return Math.max(0, now - renewedAtMs);
}

/** The age of an unreadable lease, from its mtime; an unknown or future mtime is age 0 (fail closed). */
export function unreadableAge(now: number, mtimeMs: number | undefined): number {
  if (mtimeMs === undefined || !Number.isFinite(mtimeMs) || mtimeMs > now) return 0;
  return now - mtimeMs;
}

/** What is at an agent's lease path, as read inside its critical section. */
export type LeaseState =
  | { kind: "missing" }
  | { kind: "unreadable"; ageMs: number }
  | { kind: "valid"; lease: Lease; ageMs: number };

/** Who is asking: the claimant's process and the part of it that holds the lease. */
export interface Claimant {
  bootId: string;
  blockId: string;
}

/** What a claim does with the state it found. */
export type ClaimDecision =
  | { kind: "claim"; keepEpoch: boolean }
  | { kind: "held"; holder: Lease | null; ageMs: number };

/**
 * SPEC §15's claim rules. `provablyDead` is asked only for a live lease of another process.
 * A re-claim keeps the epoch unless the file's epoch is 0 (an old-format lease).
 */
export function decideClaim(
  state: LeaseState,
  me: Claimant,
  ttlMs: number,
  provablyDead: (lease: Lease) => boolean,
): ClaimDecision {
  if (state.kind === "missing") return { kind: "claim", keepEpoch: false };
  if (state.kind === "unreadable") {
    return state.ageMs <= ttlMs
      ? { kind: "held", holder: null, ageMs: state.ageMs }
      : { kind: "claim", keepEpoch: false };
  }
  const { lease, ageMs } = state;
  const live = ageMs <= ttlMs;
  if (lease.owner_boot_id === me.bootId) {
    if (lease.block_id === "" || lease.block_id === me.blockId) {
      return { kind: "claim", keepEpoch: lease.epoch !== 0n };
    }
    return live ? { kind: "held", holder: lease, ageMs } : { kind: "claim", keepEpoch: false };
  }
  if (live && !provablyDead(lease)) return { kind: "held", holder: lease, ageMs };
  return { kind: "claim", keepEpoch: false };
}

/** The part of a claim a later renew, verify or release is checked against. */
export interface LeaseOwnership {
  bootId: string;
  blockId: string;
  claimId: string;
}

/** Whether the lease on disk belongs to this handle (an old-format file has empty block/claim). */
export function belongsTo(lease: Lease, handle: LeaseOwnership): boolean {
  return (
    lease.owner_boot_id === handle.bootId &&
    (lease.block_id === "" || lease.block_id === handle.blockId) &&
    (lease.claim_id === "" || lease.claim_id === handle.claimId)
  );
}

/**
 * Whether a lease's holder is provably gone. Never for a lease that does not say it is from this
 * host (empty or other hostname) or names pid 0; otherwise when the pid no longer runs, or runs
 * with a start time other than the recorded non-zero one.
 */
export function holderProvablyDead(
  lease: Lease,
  thisHost: string,
  process: { running: (pid: number) => boolean; startSeconds: (pid: number) => number | undefined },
): boolean {
  if (lease.hostname === "" || lease.pid === 0 || lease.hostname !== thisHost) return false;
  if (!process.running(lease.pid)) return true;
  if (lease.pid_start_s === 0) return false;
  const started = process.startSeconds(lease.pid);
  return started !== undefined && started !== lease.pid_start_s;
}
