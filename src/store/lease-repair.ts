/**
 * `doctor` for the lease tree (`<root>/leases/`, SPEC §15): what does not belong there. Its one
 * repair, removing a lease file that expired long ago, is `LeaseStore.removeExpired` (re-judged
 * under the agent's lock). Lock and epoch files are never removed: SPEC §15 forbids it.
 */

import { join } from "node:path";
import { isValidId } from "../core/ids.js";
import { EPOCH_SUFFIX, LEASE_SUFFIX, LEASES_DIR, LOCK_SUFFIX } from "../core/lease.js";
import { ioError, listDirectory, TEMP_PREFIX, type WriteContext } from "../io/files.js";
import { errnoCode } from "../io/fs.js";
import { oddKind } from "../io/lock.js";
import { RUST_TEMP_PREFIX } from "../io/sweep.js";

/**
 * An expired lease file is reported, and removed by `doctor --fix`, once it was last renewed this
 * long ago: a holder that crashed leaves one behind, which harms nobody (the next claim takes it
 * over); only one left for an hour is worth a line.
 */
export const LEASE_REPORT_AFTER_MS = 60 * 60_000;

/** Something in the lease tree a person should look at. Files are relative to the root. */
export type LeaseTreeFinding =
  | { kind: "not-a-directory"; file: string }
  | { kind: "odd"; file: string; what: string; blocks: string | null };

/**
 * What does not belong in `<root>/leases/`: a non-directory at that name, entries other than
 * `<id>.lease.json`, `<id>.lock`, `<id>.epoch` and temp files, and anything but a regular file at
 * one of those names. (Stale temp files are the sweep's, as in the trees.)
 */
export function scanLeaseTree(ctx: WriteContext, root: string): LeaseTreeFinding[] {
  const dir = join(root, LEASES_DIR);
  let stat: ReturnType<WriteContext["fs"]["lstatSync"]>;
  try {
    stat = ctx.fs.lstatSync(dir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw ioError("stat", dir, error);
  }
  if (!stat?.isDirectory()) return [{ kind: "not-a-directory", file: LEASES_DIR }];
  const findings: LeaseTreeFinding[] = [];
  for (const entry of listDirectory(ctx.fs, dir)) {
    const { name } = entry;
    const file = `${LEASES_DIR}/${name}`;
    const temp = name.startsWith(TEMP_PREFIX) || name.startsWith(RUST_TEMP_PREFIX);
    const id = leaseFileId(name);
    if (!temp && id === undefined) {
      findings.push({ kind: "odd", file, what: entryKind(ctx, join(dir, name)), blocks: null });
      continue;
    }
    if (!entry.isFile) {
      const blocks = id === undefined ? null : id;
      findings.push({ kind: "odd", file, what: entryKind(ctx, join(dir, name)), blocks });
    }
  }
  return findings;
}

/** The agent id in a lease, lock or epoch file name, if `name` is one. */
function leaseFileId(name: string): string | undefined {
  for (const suffix of [LEASE_SUFFIX, LOCK_SUFFIX, EPOCH_SUFFIX]) {
    if (!name.endsWith(suffix)) continue;
    const id = name.slice(0, -suffix.length);
    return isValidId(id) ? id : undefined;
  }
  return undefined;
}

function entryKind(ctx: WriteContext, path: string): string {
  try {
    const stat = ctx.fs.lstatSync(path);
    return stat.isFile() ? "file" : oddKind(stat);
  } catch {
    return "entry";
  }
}
