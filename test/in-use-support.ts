/**
 * Lease files as another program leaves them (SPEC §15: the 13 keys in order, pretty JSON, one
 * trailing newline), for the tests of `in_use`, `leases` and `doctor`: written directly, so a
 * test can stage any holder — this host or another, a live or dead pid, fresh or long expired.
 */

import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeLease, type Lease } from "../src/core/lease.js";
import { thisHostname } from "../src/io/process-identity.js";

/** A pid no process has (u32, far above any pid_max). */
export const DEAD_PID = 4_000_000_000;

/** A lease of `id` held by this test process on this host, renewed now unless overridden. */
export function leaseOf(id: string, overrides: Partial<Lease> = {}): Lease {
  const now = Date.now();
  return {
    instance_id: id,
    owner_boot_id: "boot-of-another-program",
    block_id: "pane-7",
    session_id: "sess-1",
    pid: process.pid,
    acquired_at_ms: now,
    renewed_at_ms: now,
    epoch: 3n,
    hostname: thisHostname(),
    pid_start_s: 0,
    channel: "agentmux",
    version: "0.34.1",
    claim_id: "8d7c3f0e-1111-4222-8333-944445555666",
    ...overrides,
  };
}

/** Writes `<root>/leases/<id>.lease.json` (and the lock and epoch files beside it). */
export function writeLeaseFile(root: string, id: string, lease: Lease | string): string {
  const dir = join(root, "leases");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${id}.lock`), "");
  writeFileSync(join(dir, `${id}.epoch`), "3\n");
  const path = join(dir, `${id}.lease.json`);
  writeFileSync(path, typeof lease === "string" ? lease : encodeLease(lease), { mode: 0o600 });
  return path;
}

/** Sets a file's mtime `ageMs` in the past (an unreadable lease's age is its mtime's). */
export function age(path: string, ageMs: number): void {
  const then = new Date(Date.now() - ageMs);
  utimesSync(path, then, then);
}
