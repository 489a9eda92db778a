/**
 * The file-system primitives the registry uses, as one injectable object. Production passes
 * `node:fs`; tests pass a copy with one primitive replaced to inject a fault (ENOSPC at write,
 * EIO at fsync, EPERM at rename …) and check that nothing was lost.
 *
 * The registry calls these synchronously: each operation is one small syscall on a file of a few
 * hundred bytes, and a thread-pool hop per call would cost more than the call (see DECISIONS.md).
 */

import * as nodeFs from "node:fs";

/**
 * The synchronous `node:fs` calls a {@link Registry} makes. `RegistryOptions.fs` replaces them,
 * for example to inject faults in tests; the default is `node:fs` itself.
 */
export type FsOps = Pick<
  typeof nodeFs,
  | "openSync"
  | "closeSync"
  | "readSync"
  | "writeSync"
  | "fsyncSync"
  | "fstatSync"
  | "lstatSync"
  | "statSync"
  | "readdirSync"
  | "mkdirSync"
  | "renameSync"
  | "linkSync"
  | "unlinkSync"
  | "rmdirSync"
  | "futimesSync"
>;

export const realFs: FsOps = nodeFs;

export const { constants } = nodeFs;

/** The errno code of a Node system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
