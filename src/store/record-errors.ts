/**
 * The `INVALID_FILE` errors of the store: an entry that is not a readable regular file, or a
 * record file that is not valid, each naming why.
 */

import { RegistryError } from "../core/errors.js";
import { MAX_FILE_BYTES, type SkipReason } from "../core/schema.js";
import { describeUnreadableEntry, type EntryRead } from "../io/files.js";

export function describeUnreadable(
  entry: { kind: "not-regular-file" } | { kind: "too-large"; size: number },
): string {
  return entry.kind === "too-large"
    ? `larger than ${MAX_FILE_BYTES} bytes (${entry.size} bytes)`
    : "not a regular file (directory, symlink or device)";
}

/** `INVALID_FILE` for an entry that is not a readable regular file, naming why. */
export function invalidEntry(
  file: string,
  entry: Exclude<EntryRead, { kind: "absent" } | { kind: "bytes" }>,
): RegistryError {
  if (entry.kind !== "unreadable") return invalidFile(file, entry.kind, describeUnreadable(entry));
  return new RegistryError(
    "INVALID_FILE",
    `${file} is not a valid record: ${describeUnreadableEntry(entry)}: ${entry.detail}`,
    { file, reason: "unreadable", errno: entry.errno, op: entry.op },
  );
}

export function invalidFile(file: string, reason: SkipReason, message: string): RegistryError {
  return new RegistryError("INVALID_FILE", `${file} is not a valid record: ${message}`, {
    file,
    reason,
  });
}
