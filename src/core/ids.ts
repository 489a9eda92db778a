/**
 * Record ids become file names, so every id is checked before any path is built
 * (the original wrote `../../x` outside its root). Allowed: 1–128 of `A-Z a-z 0-9 . _ -`,
 * not starting or ending with `.`, and not a Windows device name before the first `.`.
 */

import { RegistryError } from "./errors.js";

const MAX_ID_LENGTH = 128;

const ID_PATTERN = /^[A-Za-z0-9_-](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_-])?$/;
const DEVICE_NAME = /^(?:CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])$/i;

/** Why `id` is not a valid record id, or `null` when it is. */
export function idProblem(id: unknown): string | null {
  if (typeof id !== "string") return "an id must be a string";
  if (id.length === 0) return "an id must not be empty";
  if (id.length > MAX_ID_LENGTH) return `an id must be at most ${MAX_ID_LENGTH} characters`;
  if (!ID_PATTERN.test(id)) {
    if (id.startsWith(".")) return "an id must not start with '.'";
    if (id.endsWith(".")) return "an id must not end with '.'";
    return "an id may only contain A-Z a-z 0-9 . _ -";
  }
  const dot = id.indexOf(".");
  const device = dot < 0 ? id : id.slice(0, dot);
  if (device.length <= 4 && DEVICE_NAME.test(device))
    return `'${device}' is a reserved device name on Windows`;
  return null;
}

/**
 * Whether `id` is a valid record id (docs/FORMAT.md, "Ids"): 1–128 of `A-Z a-z 0-9 . _ -`, not
 * starting or ending with `.`, and not a Windows device name before the first `.`. Every
 * operation checks ids itself (`INVALID_ID`); this is for checking one early.
 */
export function isValidId(id: unknown): id is string {
  return idProblem(id) === null;
}

/** Throws `INVALID_ID` unless `id` is valid; returns it typed as a string. */
export function checkId(id: unknown): string {
  const problem = idProblem(id);
  if (problem !== null) {
    throw new RegistryError("INVALID_ID", `invalid id ${JSON.stringify(id)}: ${problem}`, { id });
  }
  return id as string;
}
