/**
 * A private, throwaway directory under the OS temp dir (`serve --demo`'s registry): made fresh by
 * `mkdtemp` (mode 0700, a name nobody else holds), planted with files the registry itself would
 * never write, and removed as a whole. One process owns it; nothing here locks.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ioError } from "./files.js";

/** A new directory `<os temp dir>/<prefix>XXXXXX`, readable only by this user. */
export function makeScratchDir(prefix: string): string {
  try {
    // mkdtemp creates it 0700: the demo's token file lives inside.
    return mkdtempSync(join(tmpdir(), prefix));
  } catch (error) {
    throw ioError("create a directory in", tmpdir(), error);
  }
}

/** Writes a new file with exactly `text`, not atomically: for files meant to be broken. */
export function plantFile(path: string, text: string): void {
  try {
    writeFileSync(path, text, { flag: "wx", mode: 0o600 });
  } catch (error) {
    throw ioError("create", path, error);
  }
}

/** Removes `dir` and everything in it; `IO` naming `dir` when that fails. */
export function removeScratchDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    throw ioError("remove", dir, error);
  }
}
