/**
 * Leases as the edges show them: which agents are in use (`in_use` of an agent on the wire) and
 * the `leases` listing, made from `LeaseStore.inspect()` (one look at `<root>/leases/`, no lock).
 * Pure: the store does the reading.
 */

import type { InUse, LeaseHolderJson, LeaseJson } from "../api.js";
import type { Lease } from "../core/lease.js";
import type { LeaseView } from "./lease-store.js";

/** The holder as the wire shows it: only what a renewal leaves unchanged. */
function holderJson(lease: Lease): LeaseHolderJson {
  return {
    hostname: lease.hostname,
    pid: lease.pid,
    channel: lease.channel,
    version: lease.version,
    block_id: lease.block_id,
    session_id: lease.session_id,
    acquired_at_ms: lease.acquired_at_ms,
  };
}

/** The agents in use now, by id: every lease that keeps others out. */
export function inUseByAgent(views: readonly LeaseView[]): Map<string, InUse> {
  const inUse = new Map<string, InUse>();
  for (const view of views) {
    if (view.holding) inUse.set(view.instanceId, { holder: view.lease && holderJson(view.lease) });
  }
  return inUse;
}

/** Whether two `in_use` values look the same on the wire. */
export function sameInUse(a: InUse | null | undefined, b: InUse | null | undefined): boolean {
  if (!a || !b) return !a === !b;
  if (!a.holder || !b.holder) return !a.holder === !b.holder;
  const [x, y] = [a.holder, b.holder];
  return (
    x.hostname === y.hostname &&
    x.pid === y.pid &&
    x.channel === y.channel &&
    x.version === y.version &&
    x.block_id === y.block_id &&
    x.session_id === y.session_id &&
    x.acquired_at_ms === y.acquired_at_ms
  );
}

/** One lease file for the `leases` listing, with its agent's name and tree when it has one. */
export function leaseJson(
  view: LeaseView,
  agent: { name: string; tree: "active" | "retired" } | undefined,
): LeaseJson {
  const { lease } = view;
  return {
    instance_id: view.instanceId,
    instance_name: agent?.name ?? null,
    tree: agent?.tree ?? null,
    status: view.status,
    holding: view.holding,
    age_ms: Math.round(view.ageMs),
    renewed_at_ms: lease?.renewed_at_ms ?? null,
    epoch: lease ? lease.epoch.toString() : null,
    holder: lease && holderJson(lease),
    file: view.file,
  };
}
