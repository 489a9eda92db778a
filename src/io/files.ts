/**
 * Reading one registry entry without trusting it: never follows a symlink (O_NOFOLLOW, and the
 * directory entry type is checked first), never blocks on a FIFO (O_NONBLOCK), never reads more
 * than the size limit. Writing one: the atomic recipe of SPEC §5. Moving one: a rename between
 * the trees, or a hard link when the target must not be replaced.
 *
 * Concurrency: none of these take locks; callers serialize mutations of one id. A reader sees a
 * file's old bytes or its new bytes, never a mix, because every write is a rename.
 */

import { execFileSync } from "node:child_process";
import type { Stats } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { RegistryError } from "../core/errors.js";
import { constants, errnoCode, type FsOps } from "./fs.js";
import { randomHex } from "./random.js";

export type EntryRead =
  | { kind: "absent" }
  | { kind: "not-regular-file" }
  | { kind: "too-large"; size: number }
  /**
   * The entry is there but the file system would not let it be read (`EACCES`, `EPERM`, `EIO` …):
   * a fact about that one file, reported as a skip, never a failed listing.
   */
  | { kind: "unreadable"; errno: string; op: "open" | "stat" | "read"; detail: string }
  | { kind: "bytes"; bytes: Buffer; identity: FileIdentity };

/**
 * Errors that say the process, not the file, is in trouble (out of descriptors or memory): they
 * fail the operation (`IO`) instead of marking one healthy file unreadable after another.
 */
const PROCESS_ERRORS: ReadonlySet<string> = new Set(["EMFILE", "ENFILE", "ENOMEM"]);

/** The `unreadable` outcome for `error`, or a thrown `IO` error when the process is at fault. */
export function unreadable(
  op: "open" | "stat" | "read",
  path: string,
  error: unknown,
): Extract<EntryRead, { kind: "unreadable" }> {
  const errno = errnoCode(error);
  if (errno === undefined || PROCESS_ERRORS.has(errno)) throw ioError(op, path, error);
  const detail = error instanceof Error ? error.message : String(error);
  return { kind: "unreadable", errno, op, detail };
}

/** The human message for an unreadable entry: names the errno (the fix depends on it). */
export function describeUnreadableEntry(entry: { errno: string; op: string }): string {
  return `could not be read (${entry.errno} at ${entry.op})`;
}

/** Enough of a file's stat to tell whether it was replaced since it was read. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Set by the kernel on every change, never by a program: what makes cached reads exact. */
  ctimeMs: number;
}

const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * With `scratch`, the bytes returned are a view of it, valid until its next use: a listing reads
 * thousands of files through one buffer instead of allocating one per file.
 *
 * Never throws for a fact about the file itself: a file that cannot be opened, stat'ed or read
 * (`EACCES`, `EPERM`, `EIO`, `EINVAL` …) is `unreadable` with its errno. Only errors that are the
 * process's (out of descriptors or memory) are thrown, as `IO`.
 */
export function readEntry(fs: FsOps, path: string, maxBytes: number, scratch?: Buffer): EntryRead {
  let fd: number;
  try {
    fd = fs.openSync(path, READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { kind: "absent" };
    // ELOOP (EMLINK on BSD): the name is a symlink (O_NOFOLLOW); EISDIR/ENXIO: a directory or a
    // socket; EOPNOTSUPP: a socket on some systems.
    if (
      code === "ELOOP" ||
      code === "EISDIR" ||
      code === "ENXIO" ||
      code === "EMLINK" ||
      code === "EOPNOTSUPP"
    ) {
      return { kind: "not-regular-file" };
    }
    return unreadable("open", path, error);
  }
  try {
    let stat: Stats;
    try {
      stat = fs.fstatSync(fd);
    } catch (error) {
      return unreadable("stat", path, error);
    }
    if (!stat.isFile()) return { kind: "not-regular-file" };
    const size = Number(stat.size);
    if (size > maxBytes) return { kind: "too-large", size };
    // Stop at the size fstat gave rather than reading until a 0-byte read: that extra syscall was
    // a tenth of a cold listing. A file rewritten in place meanwhile has a new identity, so what
    // was read here is never trusted past its next stat.
    const buffer =
      scratch && scratch.length >= size ? scratch.subarray(0, size) : Buffer.allocUnsafe(size);
    let length = 0;
    try {
      while (length < size) {
        const n = fs.readSync(fd, buffer, length, size - length, null);
        if (n === 0) break;
        length += n;
      }
    } catch (error) {
      return unreadable("read", path, error);
    }
    return {
      kind: "bytes",
      bytes: buffer.subarray(0, length),
      identity: identityOf(stat),
    };
  } finally {
    // A failed close (EIO on a network file system) loses nothing: the bytes were read.
    closeQuietly(fs, fd);
  }
}

/** Whether a directory entry of that name exists, whatever it is (a dangling symlink counts). */
export function entryExists(fs: FsOps, path: string): boolean {
  try {
    // No exception for the common "absent": building one costs more than the syscall.
    return fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw ioError("stat", path, error);
  }
}

export type EntryKind = "absent" | "file" | "other";

export function entryKind(fs: FsOps, path: string): EntryKind {
  try {
    return fs.lstatSync(path).isFile() ? "file" : "other";
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return "absent";
    throw ioError("stat", path, error);
  }
}

export interface WriteContext {
  fs: FsOps;
  platform: NodeJS.Platform;
  /** Waits between Windows rename retries; injectable so tests need not wait. */
  sleep: (ms: number) => Promise<void>;
  /**
   * Flushes every dirty file of the file system holding `dir` (syncfs(2)); false where the
   * platform has no such call, and bulk writes then fsync file by file.
   */
  syncFileSystem?: (dir: string) => boolean;
}

/**
 * syncfs(2) through coreutils' `sync --file-system` (Node has no binding): one call makes a whole
 * batch of new files durable, where an fsync per file costs a journal commit each.
 */
export function syncFileSystemWithCoreutils(dir: string): boolean {
  if (process.platform !== "linux") return false;
  try {
    execFileSync("sync", ["--file-system", dir], { stdio: "ignore", timeout: 120_000 });
    return true;
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw ioError("sync file system of", dir, error);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The prefix that marks our temp files; hidden, and the name never ends in `.json`. */
export const TEMP_PREFIX = ".tmp-";

/** Thrown when the target is no longer the file that was read: the caller re-reads and retries. */
export class TargetChanged extends Error {
  constructor(readonly target: string) {
    super(`${target} changed while it was being written`);
  }
}

/** What a write expects to replace: the identity read, or nothing at all. */
export type Expected = FileIdentity | "absent";

export function currentIdentity(fs: FsOps, path: string): Expected {
  try {
    const stat = fs.lstatSync(path, { throwIfNoEntry: false });
    return stat === undefined ? "absent" : identityOf(stat);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return "absent";
    throw ioError("stat", path, error);
  }
}

/**
 * The identity of a directory, following a symlink: a registry root (or `retired/`) may be a
 * link to the real directory, and the link's own identity never changes when files are added to
 * the directory it leads to. `absent` when there is no directory.
 */
export function directoryIdentity(fs: FsOps, path: string): Expected {
  try {
    const stat = fs.statSync(path, { throwIfNoEntry: false });
    return stat === undefined ? "absent" : identityOf(stat);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return "absent";
    throw ioError("stat", path, error);
  }
}

/**
 * Numbers, not bigints: a bigint stat costs half as much again, and listing 10,000 files is one
 * stat each. Times keep sub-microsecond precision, far finer than any file system's clock tick.
 */
function identityOf(stat: Stats): FileIdentity {
  return {
    dev: stat.dev,
    ino: stat.ino,
    size: stat.size,
    mtimeMs: stat.mtimeMs,
    ctimeMs: stat.ctimeMs,
  };
}

export function sameIdentity(a: Expected, b: Expected): boolean {
  if (a === "absent" || b === "absent") return a === b;
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs
  );
}

/** `sameIdentity` against a fresh stat, without building an identity: the listing's hot path. */
export function statMatches(stat: Stats, identity: FileIdentity): boolean {
  return (
    stat.ino === identity.ino &&
    stat.size === identity.size &&
    stat.mtimeMs === identity.mtimeMs &&
    stat.ctimeMs === identity.ctimeMs &&
    stat.dev === identity.dev
  );
}

/**
 * Atomic replace: exclusive-create a hidden temp file beside the target (mode 0600), write every
 * byte, fsync it, check the target is still what was read (`expected`: a writer that ignores our
 * locks turns into a retry, not a lost update), rename it over the target, fsync the directory.
 * On any failure before the rename the temp is unlinked and the target is untouched.
 */
export async function writeFileAtomic(
  ctx: WriteContext,
  target: string,
  text: string,
  expected: Expected,
): Promise<void> {
  const { fs } = ctx;
  const dir = dirname(target);
  const temp = tempNameFor(target);
  const bytes = Buffer.from(text, "utf8");
  let fd: number | undefined;
  let stage = "create temp file for";
  try {
    fd = fs.openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    stage = "write";
    let written = 0;
    while (written < bytes.length) {
      written += fs.writeSync(fd, bytes, written, bytes.length - written);
    }
    stage = "fsync";
    fs.fsyncSync(fd);
    stage = "close";
    const toClose = fd;
    fd = undefined;
    fs.closeSync(toClose);
    if (!sameIdentity(currentIdentity(fs, target), expected)) throw new TargetChanged(target);
    stage = "rename onto";
    await renameWithRetry(ctx, temp, target);
    stage = "done";
  } catch (error) {
    throw error instanceof TargetChanged ? error : ioError(stage, target, error);
  } finally {
    if (fd !== undefined) closeQuietly(fs, fd);
    if (stage !== "done") unlinkQuietly(fs, temp);
  }
  fsyncDirectory(ctx, dir);
}

/**
 * Renames, retrying on Windows where an antivirus or indexer briefly holding the target makes
 * rename fail with EPERM/EACCES/EBUSY. Bounded (about 2 s), and never falls back to an
 * in-place write, which could leave a torn file.
 */
async function renameWithRetry(ctx: WriteContext, from: string, to: string): Promise<void> {
  const retryable = ctx.platform === "win32" ? WINDOWS_RETRYABLE : NONE;
  let waited = 0;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      ctx.fs.renameSync(from, to);
      return;
    } catch (error) {
      if (!retryable.has(errnoCode(error) ?? "") || waited >= RENAME_RETRY_BUDGET_MS) throw error;
      await ctx.sleep(delay);
      waited += delay;
    }
  }
}

const WINDOWS_RETRYABLE: ReadonlySet<string> = new Set(["EPERM", "EACCES", "EBUSY"]);
const NONE: ReadonlySet<string> = new Set();
const RENAME_RETRY_BUDGET_MS = 2000;

/**
 * Makes a rename or unlink in `dir` durable. Windows cannot open a directory for fsync, and some
 * file systems answer EINVAL/ENOTSUP: there the rename is as durable as the platform allows.
 */
export function fsyncDirectory(ctx: WriteContext, dir: string): void {
  if (ctx.platform === "win32") return;
  let fd: number;
  try {
    fd = ctx.fs.openSync(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
  } catch (error) {
    throw ioError("open directory", dir, error);
  }
  try {
    ctx.fs.fsyncSync(fd);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "EINVAL" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") {
      throw ioError("fsync directory", dir, error);
    }
  } finally {
    closeQuietly(ctx.fs, fd);
  }
}

/**
 * Moves `from` to `to`. With `replace`, a rename (an existing `to` is replaced). Without, `to`
 * is never replaced: a hard link fails with EEXIST when `to` appeared meanwhile (even from a
 * writer that ignores our locks); file systems without hard links fall back to rename after a
 * check. Returns false when `to` already existed.
 */
export async function moveEntry(
  ctx: WriteContext,
  from: string,
  to: string,
  replace: boolean,
): Promise<boolean> {
  try {
    if (replace) {
      await renameWithRetry(ctx, from, to);
    } else if (!linkNoReplace(ctx, from, to)) {
      return false;
    }
  } catch (error) {
    throw ioError("move", from, error);
  }
  fsyncDirectory(ctx, dirname(to));
  if (dirname(to) !== dirname(from)) fsyncDirectory(ctx, dirname(from));
  return true;
}

/**
 * Gives `from` the name `to` unless `to` exists. With `unlinkSource`, `from` loses its old name
 * (a move); without, the caller removes it. File systems without hard links fall back to a
 * check and a rename, which callers make safe with the record lock.
 */
function linkNoReplace(ctx: WriteContext, from: string, to: string, unlinkSource = true): boolean {
  try {
    ctx.fs.linkSync(from, to);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") {
      throw error;
    }
    if (entryExists(ctx.fs, to)) return false;
    ctx.fs.renameSync(from, to);
    return true;
  }
  if (unlinkSource) ctx.fs.unlinkSync(from);
  return true;
}

/**
 * Whether `a` and `b` are two names of one file — what an `unretire` interrupted between its link
 * and its unlink leaves. `rename(2)` between them would do nothing and report success.
 */
export function sameFile(fs: FsOps, a: string, b: string): boolean {
  const first = currentIdentity(fs, a);
  const second = currentIdentity(fs, b);
  return (
    first !== "absent" &&
    second !== "absent" &&
    first.dev === second.dev &&
    first.ino === second.ino
  );
}

/** Removes `path` if it is there; returns whether it was. Directories are never removed. */
export function removeEntry(ctx: WriteContext, path: string): boolean {
  try {
    if (ctx.fs.lstatSync(path).isDirectory()) return false;
    ctx.fs.unlinkSync(path);
    return true;
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return false;
    throw ioError("unlink", path, error);
  }
}

export function ensureDirectory(fs: FsOps, path: string): void {
  makeDirectories(fs, path);
}

/**
 * `mkdir -p` with owner-only modes, bounded by the path's depth: Node's recursive `mkdirSync`
 * spins forever where `mkdir` answers ENOENT under a parent that exists (`/proc/self/x`).
 * Returns the first directory it created (the top of what is new), or `undefined`.
 */
export function makeDirectories(fs: FsOps, path: string): string | undefined {
  const missing: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    let stat: Stats | undefined;
    try {
      stat = fs.statSync(dir, { throwIfNoEntry: false });
    } catch (error) {
      throw ioError("stat", dir, error);
    }
    if (stat !== undefined) {
      if (!stat.isDirectory()) {
        throw ioError(
          "create directory",
          path,
          Object.assign(new Error(`${dir} is not a directory`), { code: "ENOTDIR" }),
        );
      }
      break;
    }
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  let first: string | undefined;
  for (const dir of missing.reverse()) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      first ??= dir;
    } catch (error) {
      // Made meanwhile by another process: as good as made here, if it is a directory.
      if (errnoCode(error) !== "EEXIST" || !isDirectory(fs, dir)) {
        throw ioError("create directory", dir, error);
      }
    }
  }
  return first;
}

function isDirectory(fs: FsOps, path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface DirEntry {
  name: string;
  /** From the directory entry: symlinks are not regular files here. */
  isFile: boolean;
}

export function listDirectory(fs: FsOps, dir: string): DirEntry[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).map((entry) => ({
      name: entry.name,
      isFile: entry.isFile(),
    }));
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return [];
    throw ioError("list", dir, error);
  }
}

function closeQuietly(fs: FsOps, fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // The descriptor is gone either way; the error that matters is the one being reported.
  }
}

function unlinkQuietly(fs: FsOps, path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // ENOENT when the temp was never created; anything else is left for the stale-file sweep.
  }
}

export function ioError(op: string, path: string, cause: unknown): RegistryError {
  if (cause instanceof RegistryError) return cause;
  const errno = errnoCode(cause);
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RegistryError(
    "IO",
    `could not ${op} ${path}: ${detail}`,
    { op, path, errno },
    { cause },
  );
}

export interface NewFile {
  target: string;
  text: string;
}

/**
 * Creates many files that must not exist yet, durably, with far fewer flushes than one write at a
 * time: write every temp, make them all durable (one syncfs of the file system where available,
 * else an fsync per temp), then hard-link each to its target — which fails rather than replace a
 * file that appeared meanwhile — unlink the temps, and fsync each directory once. A crash leaves
 * each target absent or whole; leftover temps are swept. `onLinked` hears, in order, whether each
 * file was created. Descriptors are closed as soon as a temp is written: a batch of any size
 * holds at most one open.
 */
export async function createFilesExclusive(
  ctx: WriteContext,
  files: readonly NewFile[],
  onLinked: (index: number, created: boolean) => void,
): Promise<void> {
  const { fs } = ctx;
  const temps: string[] = [];
  const dirs = [...new Set(files.map((file) => dirname(file.target)))];
  let current = files[0]?.target ?? "";
  try {
    for (const file of files) {
      current = file.target;
      const temp = tempNameFor(file.target);
      const fd = fs.openSync(
        temp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o600,
      );
      temps.push(temp);
      try {
        const bytes = Buffer.from(file.text, "utf8");
        let written = 0;
        while (written < bytes.length)
          written += fs.writeSync(fd, bytes, written, bytes.length - written);
      } finally {
        fs.closeSync(fd);
      }
    }
    const synced = files.length === 0 || dirs.every((dir) => ctx.syncFileSystem?.(dir) === true);
    if (!synced) for (const temp of temps) fsyncPath(fs, temp);
    files.forEach((file, i) => {
      current = file.target;
      onLinked(i, linkNoReplace(ctx, temps[i] as string, file.target, false));
    });
  } catch (error) {
    throw ioError("create", current, error);
  } finally {
    for (const temp of temps) unlinkQuietly(fs, temp);
  }
  for (const dir of dirs) fsyncDirectory(ctx, dir);
}

/** fsync through a fresh descriptor (write access: Windows flushes only a writable handle). */
function fsyncPath(fs: FsOps, path: string): void {
  const fd = fs.openSync(path, constants.O_WRONLY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Random per process (made at its first write): names stay unique across processes and pid reuse. */
let processNonce: string | undefined;
let tempCounter = 0;

/** A counter, not fresh random bytes per write: those cost more than the write's rename. */
function tempNameFor(target: string): string {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  processNonce ??= randomHex(4);
  return `${dirname(target)}/${TEMP_PREFIX}${basename(target, ".json")}.${process.pid}.${processNonce}${tempCounter.toString(36)}`;
}
