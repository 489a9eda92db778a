/**
 * Cross-process record locks: `<root>/.lock-<id>`, holding `<pid> <host> <token>`, taken by
 * hard-linking the registry's holder file (`<root>/.lockholder-<token>`, created once with that
 * content) to the lock name: link(2) fails with EEXIST as O_EXCL does, but creates no inode, which
 * on some machines costs more than the fsyncs of the write it protects. Where hard links are not
 * supported, the lock file is created with O_EXCL instead. A holder refreshes the file's mtime
 * (the holder file's: every lock it holds is that one inode) while it holds the lock; a waiter
 * treats the lock as stale when its holder is a dead process on this host (checked at once) or
 * the mtime is older than `staleMs` (a holder on another host, a recycled pid). Waits are bounded
 * and end in `LOCK_TIMEOUT`.
 *
 * Taking over a stale lock renames it aside first, so of two waiters only one removes it; the
 * remaining race (a waiter that judged the old lock stale moves the new holder's lock aside) is
 * put right by linking it back, and backed by the registry's check before every rename.
 */

import { type BigIntStats, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { RegistryError } from "../core/errors.js";
import { ioError, type WriteContext } from "./files.js";
import { constants, errnoCode } from "./fs.js";
import { randomHex } from "./random.js";

export const LOCK_PREFIX = ".lock-";
/** Not a `.lock-` name: no record id can make a lock name collide with a holder file. */
export const HOLDER_PREFIX = ".lockholder-";

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
  /**
   * `ours`: `<pid> <host> <token>` as every holder writes it; `empty`: not written yet (or its
   * writer died first); `foreign`: anything else (a newer format, or junk); `unreadable`: the
   * file could not be read (another user's, EIO) and is judged by its lstat alone.
   */
  content: "ours" | "empty" | "foreign" | "unreadable";
}

/**
 * The one file every lock of a registry links to. Created at the first lock and kept open until
 * `close()` or the process's exit remove it (a dead process's is swept like its locks). One per
 * `Registry`: its in-process mutex then guarantees that a lock name linked to this inode is the
 * current holder's, never an earlier acquisition's.
 */
export class LockHolder {
  private file: HolderFile | null = null;
  /** False once the file system refused a hard link: locks are then created with O_EXCL. */
  private linkable = true;

  constructor(
    private readonly ctx: WriteContext,
    private readonly dir: string,
  ) {}

  /**
   * Takes `lockPath` by linking the holder file to it: null when the name is taken,
   * "unsupported" when this file system may not do hard links (the caller then creates the file).
   */
  tryLink(lockPath: string, settings: LockSettings): HeldLock | null | "unsupported" {
    if (!this.linkable) return "unsupported";
    for (let attempt = 0; ; attempt++) {
      const file = this.open();
      const { fs } = this.ctx;
      try {
        // A fresh mtime before the link: an idle holder file's is old, and the new lock must not
        // look stale to a waiter on another host.
        const now = new Date();
        fs.futimesSync(file.fd, now, now);
        fs.linkSync(file.path, lockPath);
        file.held++;
        return heldLock(this.ctx, lockPath, file, settings, () => {
          file.held--;
          if (file.held === 0 && file.retired) closeQuietly(this.ctx, file.fd);
        });
      } catch (error) {
        const code = errnoCode(error);
        if (code === "EEXIST") return null;
        // The holder file was swept or deleted under us: make a new one.
        if (code === "ENOENT" && attempt === 0) {
          this.discard();
          continue;
        }
        // Maybe a file system without hard links (EPERM is also what an immutable directory
        // says): the caller tries O_EXCL, and calls linksUnsupported() if that works.
        if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EMLINK") {
          return "unsupported";
        }
        throw ioError("link lock", lockPath, error);
      }
    }
  }

  /** Links failed where creating the lock file worked: stop trying links. */
  linksUnsupported(): void {
    this.linkable = false;
  }

  private open(): HolderFile {
    if (this.file) return this.file;
    const token = randomHex(8);
    const path = join(this.dir, `${HOLDER_PREFIX}${token}`);
    // The random name cannot exist: null here would be a broken random source.
    const created = createLockFile(this.ctx, path, token);
    if (!created) throw ioError("create lock holder", path, new Error("EEXIST"));
    this.file = { ...created, path, token, held: 0, retired: false };
    removeAtExit(this.ctx, path);
    return this.file;
  }

  /** Removes the holder file and closes its descriptor; a later lock makes a new one. */
  close(): void {
    const file = this.file;
    if (!file) return;
    try {
      const current = this.ctx.fs.lstatSync(file.path, { throwIfNoEntry: false });
      if (current && current.ino === file.ino && current.dev === file.dev) {
        this.ctx.fs.unlinkSync(file.path);
      }
    } catch {
      // Left for the sweep, which removes a holder file once its process is gone.
    }
    this.discard();
  }

  /**
   * Forgets the file. Its descriptor stays open while locks linked to it are held: their
   * heartbeats write through it, and a closed number could be reused by another file.
   */
  private discard(): void {
    const file = this.file;
    if (!file) return;
    file.retired = true;
    if (file.held === 0) closeQuietly(this.ctx, file.fd);
    holderFilesToRemove.delete(file.path);
    this.file = null;
  }
}

interface HolderFile {
  fd: number;
  path: string;
  dev: number;
  ino: number;
  token: string;
  /** Locks linked to it and not released yet. */
  held: number;
  /** Replaced or closed: its descriptor closes with its last lock. */
  retired: boolean;
}

const holderFilesToRemove = new Map<string, WriteContext>();
let exitHookInstalled = false;

function removeAtExit(ctx: WriteContext, path: string): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const [file, { fs }] of holderFilesToRemove) {
        try {
          fs.unlinkSync(file);
        } catch {
          // Left for the next sweep: the pid in it is dead by then.
        }
      }
    });
  }
  holderFilesToRemove.set(path, ctx);
}

export async function acquireLock(
  ctx: WriteContext,
  lockPath: string,
  id: string,
  settings: LockSettings,
  holderFile?: LockHolder,
): Promise<HeldLock> {
  const started = Date.now();
  let token: string | undefined;
  let delay = 2;
  let holder: LockInfo | null = null;
  for (;;) {
    const linked = holderFile ? holderFile.tryLink(lockPath, settings) : "unsupported";
    if (linked === "unsupported") {
      token ??= randomHex(8);
      const created = tryCreate(ctx, lockPath, token, settings);
      if (created) {
        holderFile?.linksUnsupported();
        return created;
      }
    } else if (linked) {
      return linked;
    }
    // Something that is not a lock file (a FIFO, a directory, a symlink) fails at once: no
    // holder will ever remove it, so waiting could only end in a misleading LOCK_TIMEOUT.
    holder = readLock(ctx, lockPath, id);
    // A takeover that did not remove the lock (another waiter's, or the lock was not the one
    // judged) waits like any other: the loop never spins without a sleep or a deadline.
    if (holder !== null && isStale(holder, settings) && takeOver(ctx, lockPath, holder)) continue;
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
  const file = createLockFile(ctx, lockPath, token);
  return file && heldLock(ctx, lockPath, file, settings, () => closeQuietly(ctx, file.fd));
}

/**
 * Creates `path` with O_EXCL holding `<pid> <host> <token>`, pinned by its open descriptor (while
 * it is open the inode cannot be reused: the same inode at a lock path is ours). Null when it
 * exists; a half-made file is removed rather than left as a lock nobody holds.
 */
function createLockFile(
  ctx: WriteContext,
  path: string,
  token: string,
): { fd: number; dev: number; ino: number } | null {
  const { fs } = ctx;
  let fd: number;
  try {
    fd = fs.openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return null;
    throw ioError("create lock", path, error);
  }
  let step = "write lock";
  try {
    fs.writeSync(fd, `${process.pid} ${HOST} ${token}\n`);
    step = "stat lock";
    const stat = fs.fstatSync(fd);
    return { fd, dev: stat.dev, ino: stat.ino };
  } catch (error) {
    closeQuietly(ctx, fd);
    try {
      fs.unlinkSync(path);
    } catch {
      // Judged by age by the next waiter, then swept.
    }
    throw ioError(step, path, error);
  }
}

/**
 * A held lock: refreshes the inode's mtime until released; releasing unlinks the lock name only
 * while it is still our inode (not when it was taken over while we were stalled).
 */
function heldLock(
  ctx: WriteContext,
  lockPath: string,
  file: { fd: number; dev: number; ino: number },
  settings: LockSettings,
  /** After the lock name is gone: closes a lock file's own descriptor, or counts a link's. */
  onReleased: () => void,
): HeldLock {
  const { fs } = ctx;
  const heartbeat = setInterval(
    () => {
      try {
        const now = new Date();
        fs.futimesSync(file.fd, now, now);
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
        if (current && current.ino === file.ino && current.dev === file.dev)
          fs.unlinkSync(lockPath);
      } catch (error) {
        if (errnoCode(error) !== "ENOENT") throw ioError("remove lock", lockPath, error);
      } finally {
        onReleased();
      }
    },
  };
}

function closeQuietly(ctx: WriteContext, fd: number): void {
  try {
    ctx.fs.closeSync(fd);
  } catch {
    // Closing cannot fail in a way that matters here.
  }
}

/** What can be found at a lock path that is not a lock file. */
export type OddKind = "directory" | "fifo" | "socket" | "device" | "symlink" | "other";

export type LockEntry =
  | { kind: "absent" }
  | { kind: "lock"; info: LockInfo }
  /** Not a regular file: no lock of any version is ever that, and waiting never removes it. */
  | { kind: "odd"; what: OddKind };

/** What a holder writes: `<pid> <host> <token>\n` (a host name has no spaces). */
const LOCK_CONTENT = /^[1-9][0-9]* \S* [0-9a-f]+\n?$/;

const LOCK_READ_FLAGS =
  constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Reads the lock at `lockPath` without trusting what is there: never follows a symlink
 * (O_NOFOLLOW), never blocks on a FIFO (O_NONBLOCK), never reads from anything but a regular
 * file (fstat first). A lock file this process may not read (another user's, EACCES) or that
 * fails to read (EIO) is judged by its lstat alone: unknown holder, stale by age.
 */
export function inspectLock(ctx: WriteContext, lockPath: string): LockEntry {
  const { fs } = ctx;
  let fd: number;
  try {
    fd = fs.openSync(lockPath, LOCK_READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { kind: "absent" };
    return byLstat(ctx, lockPath, error);
  }
  try {
    const stat = fs.fstatSync(fd, { bigint: true });
    if (!stat.isFile()) return { kind: "odd", what: oddKind(stat) };
    const buffer = Buffer.alloc(256);
    let length: number;
    try {
      length = fs.readSync(fd, buffer, 0, buffer.length, 0);
    } catch (error) {
      return byLstat(ctx, lockPath, error);
    }
    const text = buffer.toString("utf8", 0, length);
    const [pid, host, token] = text.trim().split(" ");
    const info: LockInfo = {
      pid: Number(pid),
      host: host ?? "",
      token: token ?? "",
      ino: stat.ino,
      mtimeMs: Number(stat.mtimeMs),
      content: length === 0 ? "empty" : LOCK_CONTENT.test(text) ? "ours" : "foreign",
    };
    return { kind: "lock", info };
  } catch (error) {
    throw ioError("read lock", lockPath, error);
  } finally {
    closeQuietly(ctx, fd);
  }
}

/**
 * The lock at `lockPath` as `LockInfo`, or null when there is none; `INVALID_LOCK` when the path
 * holds something that is not a lock file.
 */
function readLock(ctx: WriteContext, lockPath: string, id?: string): LockInfo | null {
  const entry = inspectLock(ctx, lockPath);
  if (entry.kind === "absent") return null;
  if (entry.kind === "odd") throw invalidLock(lockPath, entry.what, id);
  return entry.info;
}

function invalidLock(lockPath: string, what: OddKind, id?: string): RegistryError {
  return new RegistryError(
    "INVALID_LOCK",
    `cannot lock ${id ?? lockPath}: ${lockPath} is a ${what}, not a lock file; ` +
      "nothing was written (agentmux-registry doctor names the fix)",
    { path: lockPath, kind: what, ...(id === undefined ? {} : { id }) },
  );
}

/** What an lstat says about a lock path whose open or read failed with `cause`. */
function byLstat(ctx: WriteContext, lockPath: string, cause: unknown): LockEntry {
  let stat: BigIntStats | undefined;
  try {
    stat = ctx.fs.lstatSync(lockPath, { bigint: true, throwIfNoEntry: false });
  } catch {
    throw ioError("read lock", lockPath, cause);
  }
  if (stat === undefined) return { kind: "absent" };
  if (!stat.isFile()) return { kind: "odd", what: oddKind(stat) };
  // Unreadable but a file: an unknown holder (empty host: never judged by pid), stale by age.
  // The token stands in for its content, so a takeover still removes only this very file.
  return {
    kind: "lock",
    info: {
      pid: Number.NaN,
      host: "",
      token: `unreadable-${stat.ino}-${stat.mtimeMs}`,
      ino: stat.ino,
      mtimeMs: Number(stat.mtimeMs),
      content: "unreadable",
    },
  };
}

/** What a non-regular entry is, from its `lstat`. */
export function oddKind(stat: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): OddKind {
  if (stat.isDirectory()) return "directory";
  if (stat.isFIFO()) return "fifo";
  if (stat.isSocket()) return "socket";
  if (stat.isSymbolicLink()) return "symlink";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "device";
  return "other";
}

/**
 * Whether two reads are of the same lock: same inode and same token — or, for a lock that cannot
 * be read, same inode and mtime (a reused inode number belongs to a file made since, with a newer
 * mtime).
 */
function sameLock(a: LockInfo, b: LockInfo): boolean {
  if (a.ino !== b.ino) return false;
  if (a.content === "unreadable" || b.content === "unreadable") return a.mtimeMs === b.mtimeMs;
  return a.token === b.token;
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
  const aside = `${lockPath}.stale-${randomHex(6)}`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw ioError("take over lock", lockPath, error);
  }
  let removed = true;
  try {
    const entry = inspectLock(ctx, aside);
    const moved = entry.kind === "lock" ? entry.info : null;
    if (moved === null || !sameLock(moved, judged)) {
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
