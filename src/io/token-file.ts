/**
 * The per-install access token: created on first run (256 random bits), kept in the registry
 * root as `.service-token` with mode 0600 — readable only by the user who owns the registry.
 *
 * Creation is race-free: the token is written in full to a fresh temp file (exclusive create,
 * mode 0600) which is then hard-linked to `.service-token`; `link` never replaces a file, so
 * when several `serve` processes start at once exactly one wins and every loser reads the
 * winner's complete file. An existing token file is never replaced: one that other users could
 * read (mode & 0o077), that is not a regular file, or that holds no token is refused with the fix.
 *
 * node:fs is used directly (not the registry's marker files): those are replaced atomically (last
 * writer wins), and their mode is neither reported nor set.
 */

import * as fs from "node:fs";
import { join } from "node:path";
import { RegistryError } from "../core/errors.js";
import { ioError, TEMP_PREFIX } from "./files.js";
import { randomHex } from "./random.js";

export const TOKEN_FILE = ".service-token";
const TOKEN_PATTERN = /^[0-9a-f]{64}$/;
/** Temp files start with the registry's temp prefix, so `doctor --fix` sweeps a crashed one. */
const TEMP_NAME = `${TEMP_PREFIX}service-token.`;
const MAX_TOKEN_FILE_BYTES = 1024;

export function loadOrCreateToken(root: string): string {
  const path = join(root, TOKEN_FILE);
  // A loser of the creation race reads the winner's file on its next turn; more turns are only
  // needed if someone deletes the file meanwhile.
  for (let attempt = 0; attempt < 10; attempt++) {
    const existing = readTokenFile(path);
    if (existing !== null) return existing;
    const token = randomHex(32);
    if (createTokenFile(root, path, `${token}\n`)) return token;
  }
  throw new RegistryError(
    "IO",
    `could not create ${TOKEN_FILE}: it keeps disappearing; is another program deleting it?`,
    { op: "link", path: TOKEN_FILE, errno: "EEXIST" },
  );
}

/** The token in the file, `null` when there is no file; throws when the file is not usable. */
function readTokenFile(path: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(
      path,
      fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0),
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw refused(path, "not-regular-file", "is a symbolic link");
    throw ioError("open", path, error);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw refused(path, "not-regular-file", "is not a regular file");
    if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
      throw new RegistryError(
        "INVALID_FILE",
        `${path} can be read by other users (mode ${mode}), so anyone may have copied the token: ` +
          `delete it to get a new token on the next start (rm '${path}'), or, if nobody else ` +
          `can have read it, make it private (chmod 600 '${path}')`,
        { reason: "insecure-mode", path: TOKEN_FILE, mode },
      );
    }
    if (stat.size > MAX_TOKEN_FILE_BYTES) throw refused(path, "too-large", "is not a token file");
    const buffer = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_TOKEN_FILE_BYTES) break;
    }
    const text = buffer.subarray(0, length).toString("utf8").trim();
    if (!TOKEN_PATTERN.test(text)) throw refused(path, "invalid-token", "does not hold a token");
    return text;
  } catch (error) {
    if (error instanceof RegistryError) throw error;
    throw ioError("read", path, error);
  } finally {
    fs.closeSync(fd);
  }
}

/** Creates the token file unless one exists; returns whether this call created it. */
function createTokenFile(root: string, path: string, text: string): boolean {
  const temp = join(root, `${TEMP_NAME}${process.pid}.${randomHex(6)}`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(
      temp,
      fs.constants.O_WRONLY |
        fs.constants.O_CREAT |
        fs.constants.O_EXCL |
        (fs.constants.O_NOFOLLOW ?? 0),
      0o600,
    );
    // The mode given to open is filtered by the umask; 0600 is what the file must have.
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    try {
      fs.linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    }
    syncDirectory(root);
    return true;
  } catch (error) {
    throw ioError("create", path, error);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    try {
      fs.unlinkSync(temp);
    } catch {
      // Already gone, or left for `doctor --fix` (it starts with the temp prefix).
    }
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = fs.openSync(
      dir,
      fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0) | (fs.constants.O_NONBLOCK ?? 0),
    );
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every platform can fsync a directory; the token is recreated if it is ever lost.
  }
}

function refused(path: string, reason: string, what: string): RegistryError {
  return new RegistryError(
    "INVALID_FILE",
    `${path} ${what}: delete it to get a new token on the next start (rm '${path}')`,
    { reason, path: TOKEN_FILE },
  );
}
