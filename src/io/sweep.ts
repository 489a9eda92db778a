/**
 * Removes what crashed writers leave behind: temp files (ours, `.tmp-…`, and the Rust writer's,
 * `.registry-tmp-…`), and lock and lock holder files whose process is gone. Only files older than
 * the threshold are considered — a live write's temp exists for milliseconds and a live lock is
 * refreshed every few seconds — and a lock or holder file whose process still runs on this host
 * is kept whatever its age.
 */

import { hostname } from "node:os";
import { join } from "node:path";
import { listDirectory, TEMP_PREFIX, type WriteContext } from "./files.js";
import { errnoCode } from "./fs.js";
import {
  HOLDER_PREFIX,
  LOCK_PREFIX,
  type LockInfo,
  processAlive,
  readLock,
  takeOver,
} from "./lock.js";

export const DEFAULT_SWEEP_AFTER_MS = 5 * 60_000;

const RUST_TEMP_PREFIX = ".registry-tmp-";

/** Whether `name` is one of the transient files a writer creates (temp or lock). */
function isTransientName(name: string): boolean {
  return (
    name.startsWith(TEMP_PREFIX) ||
    name.startsWith(RUST_TEMP_PREFIX) ||
    name.startsWith(LOCK_PREFIX) ||
    name.startsWith(HOLDER_PREFIX)
  );
}

/** Removes stale transient files in `dirs` (with `dryRun`, only finds them); returns their paths. */
export function sweepStale(
  ctx: WriteContext,
  dirs: string[],
  olderThanMs: number,
  dryRun: boolean,
): string[] {
  const removed: string[] = [];
  const now = Date.now();
  for (const dir of dirs) {
    for (const entry of listDirectory(ctx.fs, dir)) {
      if (!entry.isFile || !isTransientName(entry.name)) continue;
      const path = join(dir, entry.name);
      try {
        const lockLike = entry.name.startsWith(LOCK_PREFIX) || entry.name.startsWith(HOLDER_PREFIX);
        if (lockLike && !entry.name.includes(".stale-")) {
          // A lock may be taken over between our look and our unlink: remove only the one judged.
          const holder = readLock(ctx, path);
          if (holder === null || now - holder.mtimeMs <= olderThanMs || holderAlive(holder))
            continue;
          if (!dryRun && !takeOver(ctx, path, holder)) continue;
        } else {
          if (now - ctx.fs.lstatSync(path).mtimeMs <= olderThanMs) continue;
          if (!dryRun) ctx.fs.unlinkSync(path);
        }
        removed.push(path);
      } catch (error) {
        // Gone already (another sweeper, or the writer finished): nothing to do.
        if (errnoCode(error) !== "ENOENT") throw error;
      }
    }
  }
  return removed;
}

function holderAlive(holder: LockInfo): boolean {
  return holder.host === hostname() && holder.pid > 0 && processAlive(holder.pid);
}
