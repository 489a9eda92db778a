/**
 * Removes what crashed writers leave behind: temp files (ours, `.tmp-…`, and the Rust writer's,
 * `.registry-tmp-…`), and lock and lock holder files whose process is gone. Only files older than
 * the threshold are considered — a live write's temp exists for milliseconds and a live lock is
 * refreshed every few seconds — and a lock or holder file whose process still runs on this host
 * is kept whatever its age.
 *
 * Also finds what does not belong at those reserved names (a FIFO, a directory, a symlink, a lock
 * file with content no version writes): the sweep never touches those; `doctor` reports them and
 * `doctor --fix` removes the ones that provably hold nothing (`removeOddEntry`).
 *
 * Nothing here opens an entry that its directory listing did not show as a regular file, and
 * what it opens is opened with O_NOFOLLOW | O_NONBLOCK (`inspectLock`): no entry can make the
 * sweep block or follow a link.
 */

import { hostname } from "node:os";
import { join } from "node:path";
import { listDirectory, TEMP_PREFIX, type WriteContext } from "./files.js";
import { errnoCode } from "./fs.js";
import {
  HOLDER_PREFIX,
  inspectLock,
  LOCK_PREFIX,
  type LockInfo,
  type OddKind,
  oddKind,
  processAlive,
  takeOver,
} from "./lock.js";
import { randomHex } from "./random.js";

export const DEFAULT_SWEEP_AFTER_MS = 5 * 60_000;

/** The prefix of the Rust server's temp files (`.registry-tmp-XXXXXX.json`). */
export const RUST_TEMP_PREFIX = ".registry-tmp-";

/** Whether `name` is one of the transient files a writer creates (temp or lock). */
function isTransientName(name: string): boolean {
  return (
    name.startsWith(TEMP_PREFIX) ||
    name.startsWith(RUST_TEMP_PREFIX) ||
    name.startsWith(LOCK_PREFIX) ||
    name.startsWith(HOLDER_PREFIX)
  );
}

/** A lock or holder file name (not one renamed aside by a takeover). */
function isLockName(name: string): boolean {
  return (
    (name.startsWith(LOCK_PREFIX) || name.startsWith(HOLDER_PREFIX)) && !name.includes(".stale-")
  );
}

/**
 * Removes stale transient files in `dirs` (with `dryRun`, only finds them); returns their paths.
 * An entry that cannot be judged or removed (EACCES, EIO, an odd entry) is passed to `onError`
 * and left: one bad entry never stops the sweep, nor `Registry.open` that runs it.
 */
export function sweepStale(
  ctx: WriteContext,
  dirs: string[],
  olderThanMs: number,
  dryRun: boolean,
  onError: (path: string, error: unknown) => void = () => {},
): string[] {
  const removed: string[] = [];
  const now = Date.now();
  for (const dir of dirs) {
    let entries: ReturnType<typeof listDirectory>;
    try {
      entries = listDirectory(ctx.fs, dir);
    } catch (error) {
      onError(dir, error);
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile || !isTransientName(entry.name)) continue;
      const path = join(dir, entry.name);
      try {
        if (isLockName(entry.name)) {
          // A lock may be taken over between our look and our unlink: remove only the one judged.
          const lock = inspectLock(ctx, path);
          if (lock.kind !== "lock") continue;
          const holder = lock.info;
          if (now - holder.mtimeMs <= olderThanMs || holderAlive(holder)) continue;
          if (!dryRun && !takeOver(ctx, path, holder)) continue;
        } else {
          const stat = ctx.fs.lstatSync(path);
          // Replaced by something else since the listing: not ours to remove.
          if (!stat.isFile() || now - stat.mtimeMs <= olderThanMs) continue;
          if (!dryRun) ctx.fs.unlinkSync(path);
        }
        removed.push(path);
      } catch (error) {
        // Gone already (another sweeper, or the writer finished): nothing to do.
        if (errnoCode(error) !== "ENOENT") onError(path, error);
      }
    }
  }
  return removed;
}

function holderAlive(holder: LockInfo): boolean {
  return holder.host === hostname() && holder.pid > 0 && processAlive(holder.pid);
}

/** Something at a reserved name that no writer of any version puts there. */
export interface OddEntry {
  path: string;
  /** What it is: a non-regular entry's type, or a lock file's problem. */
  what: OddKind | "foreign-content" | "unreadable";
  /**
   * Whether `removeOddEntry` may remove it: it provably holds nothing (a FIFO, socket, device
   * node, symlink — the link, never its target — or an empty directory) and is never a lock.
   */
  removable: boolean;
  /** For a directory that is not removable: it holds entries. */
  hasContent?: boolean;
}

/**
 * The odd entries at reserved names in `dirs`: non-regular entries at any temp, lock or holder
 * name, and lock files whose content is not `<pid> <host> <token>` (a newer version's format, or
 * junk: either way not provably stale, so only the age-based sweep ever removes them) or that
 * cannot be read. Changes nothing.
 */
export function findOddEntries(ctx: WriteContext, dirs: string[]): OddEntry[] {
  const odd: OddEntry[] = [];
  for (const dir of dirs) {
    for (const entry of listDirectory(ctx.fs, dir)) {
      if (!isTransientName(entry.name)) continue;
      const path = join(dir, entry.name);
      try {
        if (!entry.isFile) {
          const found = oddAt(ctx, path);
          if (found) odd.push(found);
          continue;
        }
        if (!isLockName(entry.name)) continue;
        const lock = inspectLock(ctx, path);
        if (lock.kind === "odd") {
          const found = oddAt(ctx, path);
          if (found) odd.push(found);
        } else if (lock.kind === "lock") {
          const { content } = lock.info;
          if (content === "unreadable" || content === "foreign") {
            odd.push({
              path,
              what: content === "foreign" ? "foreign-content" : "unreadable",
              removable: false,
            });
          }
        }
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") {
          odd.push({ path, what: "unreadable", removable: false });
        }
      }
    }
  }
  return odd;
}

/** The odd entry at `path` (lstat, never followed), or null when it is a regular file or gone. */
function oddAt(ctx: WriteContext, path: string): OddEntry | null {
  const stat = ctx.fs.lstatSync(path, { throwIfNoEntry: false });
  if (stat === undefined || stat.isFile()) return null;
  if (stat.isDirectory()) {
    let hasContent = true;
    try {
      hasContent = ctx.fs.readdirSync(path).length > 0;
    } catch {
      // Unlistable: it may hold anything, so it is treated as holding something.
    }
    return { path, what: "directory", removable: !hasContent, hasContent };
  }
  const what = oddKind(stat);
  return { path, what, removable: what !== "other" };
}

/**
 * Removes one removable odd entry, and only that very one: a directory with `rmdir` (which
 * refuses one that is not empty); anything else is renamed aside first and removed only if what
 * was moved is the same non-regular inode — a lock file created at that name meanwhile is put
 * back. Returns whether it removed it.
 */
export function removeOddEntry(ctx: WriteContext, entry: OddEntry): boolean {
  if (!entry.removable) return false;
  const { fs } = ctx;
  const before = fs.lstatSync(entry.path, { throwIfNoEntry: false });
  if (before === undefined || before.isFile()) return false;
  if (before.isDirectory()) {
    try {
      fs.rmdirSync(entry.path);
      return true;
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT" || code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR")
        return false;
      throw error;
    }
  }
  const aside = `${entry.path}.stale-${randomHex(6)}`;
  try {
    fs.renameSync(entry.path, aside);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
  const moved = fs.lstatSync(aside, { throwIfNoEntry: false });
  if (moved === undefined) return false;
  if (moved.ino !== before.ino || moved.dev !== before.dev || moved.isFile()) {
    // Not the entry judged (a lock was made at that name meanwhile): give it back.
    try {
      fs.linkSync(aside, entry.path);
      fs.unlinkSync(aside);
    } catch {
      // The name is taken again; what was moved stays at the `.stale-` name for the sweep.
    }
    return false;
  }
  fs.unlinkSync(aside);
  return true;
}
