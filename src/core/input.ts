/**
 * Checks for values a person typed (CLI, HTTP, the page) before they become part of a record.
 * The library's `upsert` does not apply them: files written by other programs keep whatever they
 * hold, and the edges escape it when they print. These keep new input plain and bounded, so a
 * name can neither disguise text on a terminal nor grow a record past what readers accept.
 */

import { RegistryError } from "./errors.js";

/** Longest agent name, in characters (code points). */
export const MAX_NAME_LENGTH = 256;
/** Longest definition, identity, memory or session id a person may give. */
const MAX_FIELD_LENGTH = 1024;

/**
 * C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates: characters
 * that reorder or hide the text around them on a terminal or a page.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/** Why `text` cannot be used, or `null`. */
function textProblem(text: string, maxLength: number): string | null {
  const forbidden = FORBIDDEN.exec(text);
  if (forbidden) {
    const code = forbidden[0].codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0");
    return `holds the control or bidirectional character U+${code}`;
  }
  if ([...text].length > maxLength) return `is longer than ${maxLength} characters`;
  return null;
}

/** The name, trimmed; `INVALID_NAME` when it is empty, too long or holds a forbidden character. */
export function checkName(name: unknown): string {
  if (typeof name !== "string") throw new RegistryError("INVALID_NAME", "a name must be text", {});
  const trimmed = name.trim();
  if (trimmed === "") throw new RegistryError("INVALID_NAME", "a name must not be empty", {});
  const problem = textProblem(trimmed, MAX_NAME_LENGTH);
  if (problem) throw new RegistryError("INVALID_NAME", `the name ${problem}`, { name: trimmed });
  return trimmed;
}

/**
 * An id-like field a person gave (`definitionId`, `sessionId` …): `INVALID_ARGUMENT` when it is
 * empty, too long or holds a forbidden character. Not trimmed: ids are taken as given.
 */
export function checkField(value: string, field: string): string {
  if (value === "")
    throw new RegistryError("INVALID_ARGUMENT", `${field} must not be empty`, { field });
  const problem = textProblem(value, MAX_FIELD_LENGTH);
  if (problem) throw new RegistryError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
  return value;
}
