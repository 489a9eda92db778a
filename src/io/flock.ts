/**
 * An exclusive BSD `flock(2)` on a lock file for the length of one call: the critical section of
 * a lease operation (SPEC §15), shared with AgentMux, whose Rust lease store takes the same lock
 * (`libc::flock`; on Windows fs-ext takes `LockFileEx`, as AgentMux does). POSIX record locks
 * (`fcntl`) would not exclude it on Linux.
 *
 * The lock file is opened create + write without truncating and is never deleted: a waiter holding
 * a descriptor of a deleted file would lock a different inode than a newcomer. Waiting polls with
 * `LOCK_NB` so that the event loop and the thread pool stay free (a blocking `flock` on the pool
 * would pin a thread for as long as another process holds the lock).
 */

import { createRequire } from "node:module";
import { RegistryError } from "../core/errors.js";
import { ioError } from "./files.js";
import { constants, errnoCode, type FsOps } from "./fs.js";

type FsExt = Pick<typeof import("fs-ext"), "flockSync">;

let fsExt: Promise<FsExt> | undefined;

/**
 * fs-ext is native: loaded on the first lease operation, never by commands that take none. It is
 * required, not `import()`ed: the bundled bin runs from a V8 code cache (src/cli/bin.ts), whose
 * script has no module loader for `import()`.
 */
function flockBinding(): Promise<FsExt> {
  fsExt ??= Promise.resolve().then(() => createRequire(import.meta.url)("fs-ext") as FsExt);
  return fsExt;
}

/** How long to wait for another process's critical section before giving up. */
export interface FileLockOptions {
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
}

const OPEN_FLAGS =
  constants.O_WRONLY |
  constants.O_CREAT |
  (constants.O_NOFOLLOW ?? 0) |
  // A FIFO planted at the lock path fails with ENXIO instead of blocking the open.
  (constants.O_NONBLOCK ?? 0);

/** Errnos an open gives when the lock path is not a regular file we may lock. */
const NOT_A_LOCK_FILE: ReadonlySet<string> = new Set(["ELOOP", "EMLINK", "EISDIR", "ENXIO"]);

/**
 * Runs `body` while holding the exclusive lock on `lockPath`; the lock is released (the
 * descriptor closed) when it settles. `LOCK_TIMEOUT` when another holder keeps it past the
 * timeout; `INVALID_LOCK` when the path holds a symlink, directory, FIFO or other non-file.
 */
export async function withFileLock<T>(
  fs: FsOps,
  lockPath: string,
  options: FileLockOptions,
  body: () => Promise<T> | T,
): Promise<T> {
  const fd = openLockFile(fs, lockPath);
  try {
    await lockExclusive(fd, lockPath, options);
    return await body();
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // The descriptor is gone either way, and with it the lock.
    }
  }
}

function openLockFile(fs: FsOps, lockPath: string): number {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, OPEN_FLAGS, 0o600);
  } catch (error) {
    if (NOT_A_LOCK_FILE.has(errnoCode(error) ?? "")) throw notALockFile(lockPath);
    throw ioError("open lock file", lockPath, error);
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw notALockFile(lockPath);
  } catch (error) {
    fs.closeSync(fd);
    throw error instanceof RegistryError ? error : ioError("stat lock file", lockPath, error);
  }
  return fd;
}

function notALockFile(lockPath: string): RegistryError {
  return new RegistryError(
    "INVALID_LOCK",
    `${lockPath} is not a lock file (a symlink, directory or other special file is in its place); remove it`,
    { path: lockPath },
  );
}

async function lockExclusive(fd: number, lockPath: string, options: FileLockOptions) {
  const binding = await flockBinding();
  const started = Date.now();
  for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
    try {
      binding.flockSync(fd, "exnb");
      return;
    } catch (error) {
      const code = errnoCode(error);
      if (code !== "EAGAIN" && code !== "EWOULDBLOCK") throw ioError("flock", lockPath, error);
    }
    if (Date.now() - started >= options.timeoutMs) {
      throw new RegistryError(
        "LOCK_TIMEOUT",
        `another process has held ${lockPath} for over ${options.timeoutMs} ms`,
        { path: lockPath, timeout_ms: options.timeoutMs },
      );
    }
    await options.sleep(delay);
  }
}
