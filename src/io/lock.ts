/**
 * Cross-process record locks: `<root>/.lock-<id>`, created with O_EXCL, holding
 * `<pid> <host> <token>`. A holder refreshes the file's mtime while it holds the lock; a waiter
 * treats the lock as stale when its holder is a dead process on this host (checked at once) or
 * the mtime is older than `staleMs` (a holder on another host, a recycled pid). Waits are bounded
 * and end in `LOCK_TIMEOUT`.
 *
 * Taking over a stale lock renames it aside first, so of two waiters only one removes it; the
 * remaining race (a waiter that judged the old lock stale moves the new holder's lock aside) is
 * put right by linking it back, and backed by the registry's check before every rename.
 */

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { RegistryError } from "../core/errors.js";
import { ioError, type WriteContext } from "./files.js";
import { constants, errnoCode } from "./fs.js";

export const LOCK_PREFIX = ".lock-";

export interface LockSettings {
  /** Longest wait for a lock before `LOCK_TIMEOUT`. */
  timeoutMs: number;
  /** A lock whose mtime is older than this is stale; holders refresh it at a third of it. */
  staleMs: number;
}

export const DEFAULT_LOCK_SETTINGS: LockSettings = { timeoutMs: 10_000, staleMs: 5_000 };

const HOST = hostname();

export interface HeldLock {
  release(): void;
}

export interface LockInfo {
  pid: number;
  host: string;
  token: string;
  ino: bigint;
  mtimeMs: number;
}

export async function acquireLock(
  ctx: WriteContext,
  lockPath: string,
  id: string,
  settings: LockSettings,
): Promise<HeldLock> {
  const started = Date.now();
  const token = randomBytes(8).toString("hex");
  let delay = 2;
  let holder: LockInfo | null = null;
  for (;;) {
    const held = tryCreate(ctx, lockPath, token, settings);
    if (held) return held;
    holder = readLock(ctx, lockPath);
    if (holder !== null && isStale(holder, settings)) {
      takeOver(ctx, lockPath, holder);
      continue;
    }
    const waited = Date.now() - started;
    if (waited >= settings.timeoutMs) {
      throw new RegistryError(
        "LOCK_TIMEOUT",
        `could not lock ${id} within ${settings.timeoutMs} ms` +
          (holder ? ` (held by process ${holder.pid} on ${holder.host})` : ""),
        { id, waitedMs: waited, holderPid: holder?.pid, holderHost: holder?.host },
      );
    }
    await ctx.sleep(Math.min(delay, settings.timeoutMs - waited) * (0.5 + Math.random()));
    delay = Math.min(delay * 1.5, 50);
  }
}

function tryCreate(
  ctx: WriteContext,
  lockPath: string,
  token: string,
  settings: LockSettings,
): HeldLock | null {
  const { fs } = ctx;
  let fd: number;
  try {
    fd = fs.openSync(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return null;
    throw ioError("create lock", lockPath, error);
  }
  try {
    fs.writeSync(fd, `${process.pid} ${HOST} ${token}\n`);
  } catch (error) {
    // The file is ours (O_EXCL) but unfinished: remove it rather than leave a lock nobody holds.
    fs.closeSync(fd);
    try {
      fs.unlinkSync(lockPath);
    } catch {
      // Judged by age by the next waiter, then swept.
    }
    throw ioError("write lock", lockPath, error);
  }
  // While our descriptor is open the inode cannot be reused: the same inode at the path is ours.
  let mine: { dev: number; ino: number };
  try {
    const stat = fs.fstatSync(fd);
    mine = { dev: stat.dev, ino: stat.ino };
  } catch (error) {
    fs.closeSync(fd);
    fs.unlinkSync(lockPath);
    throw ioError("stat lock", lockPath, error);
  }
  const heartbeat = setInterval(
    () => {
      try {
        const now = new Date();
        fs.futimesSync(fd, now, now);
      } catch {
        // A failed refresh only makes the lock look stale sooner; the pre-rename check still holds.
      }
    },
    Math.max(10, Math.floor(settings.staleMs / 3)),
  );
  heartbeat.unref();
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      try {
        const current = fs.lstatSync(lockPath, { throwIfNoEntry: false });
        // Not ours any more (taken over while we were stalled): the new holder's to free.
        if (current && current.ino === mine.ino && current.dev === mine.dev)
          fs.unlinkSync(lockPath);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw ioError("remove lock", lockPath, error);
      } finally {
        try {
          fs.closeSync(fd);
        } catch {
          // Closing cannot fail in a way that matters: the unlink above freed the lock.
        }
      }
    },
  };
}

export function readLock(ctx: WriteContext, lockPath: string): LockInfo | null {
  const { fs } = ctx;
  let fd: number;
  try {
    fd = fs.openSync(lockPath, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return null;
    throw ioError("read lock", lockPath, error);
  }
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    const buffer = Buffer.alloc(256);
    const length = fs.readSync(fd, buffer, 0, buffer.length, 0);
    const [pid, host, token] = buffer.toString("utf8", 0, length).trim().split(" ");
    return {
      pid: Number(pid),
      host: host ?? "",
      token: token ?? "",
      ino: stat.ino,
      mtimeMs: Number(stat.mtimeMs),
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** A holder writes its content right after creating the file; an empty lock older than this is dead. */
const EMPTY_LOCK_GRACE_MS = 1_000;

function isStale(holder: LockInfo, settings: LockSettings): boolean {
  const age = Date.now() - holder.mtimeMs;
  if (holder.token === "") return age > Math.min(EMPTY_LOCK_GRACE_MS, settings.staleMs);
  if (
    holder.host === HOST &&
    Number.isInteger(holder.pid) &&
    holder.pid > 0 &&
    !processAlive(holder.pid)
  ) {
    return true;
  }
  return age > settings.staleMs;
}

/** Whether `pid` runs on this host; a zombie (killed, not yet reaped) counts as dead. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return errnoCode(error) === "EPERM";
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Removes the lock judged stale, and only that one. Returns whether it did. The lock is renamed
 * aside first (of two takers-over only one rename succeeds); if what was moved is not the very
 * lock judged — same inode *and* same token, since a freed inode number is reused at once — it is
 * linked back.
 */
export function takeOver(ctx: WriteContext, lockPath: string, judged: LockInfo): boolean {
  const { fs } = ctx;
  const aside = `${lockPath}.stale-${randomBytes(6).toString("hex")}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw ioError("take over lock", lockPath, error);
  }
  let removed = true;
  try {
    const moved = readLock(ctx, aside);
    if (moved === null || moved.ino !== judged.ino || moved.token !== judged.token) {
      removed = false;
      // Another waiter replaced the stale lock between our read and our rename: give it back.
      try {
        fs.linkSync(aside, lockPath);
      } catch {
        // Someone holds the lock path again; the pre-rename check covers the overlap.
      }
    }
  } finally {
    try {
      fs.unlinkSync(aside);
    } catch {
      // Left for the sweep.
    }
  }
  return removed;
}
