/**
 * Decoding a record file: `decodeRecord` (bytes to a validated record, never throws) and its fast
 * path `decodeCommonRecord`, which reads the common file with `JSON.parse` and hands anything it
 * cannot prove it reads exactly to the careful, lossless path of `schema.ts`.
 */

import { idProblem } from "./ids.js";
import { decodeText, MAX_DEPTH, parseJson } from "./json.js";
import { setOwn } from "./plain.js";
import {
  DATA_FIELDS,
  FIELD_CHECKS,
  KNOWN_DATA_FIELDS,
  MAX_SUPPORTED_SCHEMA,
  MIN_SUPPORTED_SCHEMA,
  type NamedAgentRecord,
  type ValidationIssue,
  validateTree,
  workingDirProblem,
} from "./schema.js";

export type DecodedRecord =
  | { ok: true; record: NamedAgentRecord }
  | { ok: false; issue: ValidationIssue };

/** Decodes and validates the bytes of `<stem>.json`. Never throws. */
export function decodeRecord(stem: string, bytes: Uint8Array): DecodedRecord {
  const text = decodeText(bytes);
  if (typeof text !== "string")
    return { ok: false, issue: { reason: text.reason, message: text.message } };
  const common = decodeCommonRecord(stem, text);
  if (common !== null) return { ok: true, record: common };
  const parsed = parseJson(text);
  if (!parsed.ok) return { ok: false, issue: { reason: parsed.reason, message: parsed.message } };
  const validation = validateTree(stem, parsed.value, parsed.duplicateKeys);
  if (validation.ok) return validation;
  return { ok: false, issue: validation.issues[0] as ValidationIssue };
}

/**
 * The common case — a valid record whose text `JSON.parse` reads exactly as the lossless parser
 * does — at about a third of the cost; `null` for anything else, which then takes the careful
 * path and gets its exact report. `JSON.parse` differs from the lossless tree only in:
 * - numbers: `textColons` rules out every token it would change;
 * - repeated keys (the last silently wins): ruled out by counting, since the text's colons equal
 *   its keys plus the colons inside its strings, and a repeated key or a string lost to one
 *   only makes the text's count larger than the parsed tree's (a `\u` escape could add a colon
 *   the text lacks, so a text with one takes the careful path);
 * - key order: it moves integer-like keys first, so any key starting with a digit is refused;
 * - depth: it has no limit, so the count refuses anything deeper than MAX_DEPTH.
 */
export function decodeCommonRecord(stem: string, text: string): NamedAgentRecord | null {
  if (text.includes("\\u")) return null;
  const expectedColons = textColons(text);
  if (Number.isNaN(expectedColons)) return null;
  let top: unknown;
  try {
    top = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(top)) return null;
  const version = top.schema_version;
  const data = top.data;
  if (
    typeof version !== "number" ||
    version < MIN_SUPPORTED_SCHEMA ||
    version > MAX_SUPPORTED_SCHEMA ||
    !isObject(data)
  ) {
    return null;
  }
  // Colons of the parsed tree, counted as it is walked (see parsedColons).
  let colons = 0;
  let known = 0;
  for (const [name, kind] of FIELD_CHECKS) {
    const value = data[name];
    if (value === undefined) {
      if (kind !== "optional-string") return null;
    } else {
      known++;
      if (kind === "timestamp") {
        if (!Number.isSafeInteger(value)) return null;
      } else if (typeof value === "string") {
        if (kind === "required-string" && value.length === 0) return null;
        colons += colonCount(value);
      } else if (kind !== "optional-string" || value !== null) {
        return null;
      }
    }
  }
  if (data.instance_id !== stem || idProblem(stem) !== null) return null;
  if (workingDirProblem(data.working_dir as string) !== null) return null;
  const dataKeys = Object.keys(data);
  colons += dataKeys.length;
  if (dataKeys.length > known) {
    for (const key of dataKeys) {
      if (!KNOWN_DATA_FIELDS.has(key)) colons += keyColons(key) + parsedColons(data[key], 3);
    }
  }
  const topKeys = Object.keys(top);
  colons += topKeys.length;
  for (const key of topKeys) {
    if (key !== "schema_version" && key !== "data")
      colons += keyColons(key) + parsedColons(top[key], 2);
  }
  if (colons !== expectedColons) return null;
  // What a fresh file of either writer has: the known fields first, in their order. Anything
  // else is rebuilt in the order the careful path gives.
  if (!startsWithKnownFields(dataKeys)) top.data = inKnownOrder(data, dataKeys);
  return top as NamedAgentRecord;
}

function startsWithKnownFields(keys: readonly string[]): boolean {
  return keys.length >= DATA_FIELDS.length && DATA_FIELDS.every(([name], i) => keys[i] === name);
}

function inKnownOrder(
  data: Record<string, unknown>,
  keys: readonly string[],
): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [name] of FIELD_CHECKS) record[name] = data[name] ?? null;
  for (const key of keys) if (!KNOWN_DATA_FIELDS.has(key)) setOwn(record, key, data[key]);
  return record;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The colons in `text`, or NaN when a value position (after `:`, `,` or `[`) holds a number
 * token `JSON.parse` might not reproduce exactly: a fraction, an exponent, `-0`, or 16 or more
 * digits. Positions inside strings are looked at too, which only sends a text down the careful
 * path. (A regular expression doing the same took a fifth of a record's decoding.)
 */
function textColons(text: string): number {
  let count = 0;
  for (let at = text.indexOf(":"); at >= 0; at = text.indexOf(":", at + 1)) {
    if (riskyNumberAt(text, at + 1)) return Number.NaN;
    count++;
  }
  // Array items follow `[` or `,`: only a text with a `[` can have any.
  const firstBracket = text.indexOf("[");
  if (firstBracket < 0) return count;
  for (let at = firstBracket; at >= 0; at = text.indexOf("[", at + 1)) {
    if (riskyNumberAt(text, at + 1)) return Number.NaN;
  }
  for (let at = text.indexOf(","); at >= 0; at = text.indexOf(",", at + 1)) {
    if (riskyNumberAt(text, at + 1)) return Number.NaN;
  }
  return count;
}

function riskyNumberAt(text: string, from: number): boolean {
  let at = from;
  let c = text.charCodeAt(at);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++at);
  if (c === 0x2d) {
    c = text.charCodeAt(++at);
    if (c === 0x30) return true;
  }
  const digitsFrom = at;
  while (c >= 0x30 && c <= 0x39) c = text.charCodeAt(++at);
  if (at === digitsFrom) return false;
  return at - digitsFrom >= 16 || c === 0x2e || c === 0x65 || c === 0x45;
}

function colonCount(text: string): number {
  let count = 0;
  for (let at = text.indexOf(":"); at >= 0; at = text.indexOf(":", at + 1)) count++;
  return count;
}

/**
 * The colons a text without repeated keys has for this `JSON.parse` result: one per key plus
 * those inside keys and strings. NaN (equal to nothing) when a container is deeper than
 * MAX_DEPTH or a key starts with a digit.
 */
function parsedColons(value: unknown, depth: number): number {
  if (typeof value === "string") return colonCount(value);
  if (typeof value !== "object" || value === null) return 0;
  if (depth > MAX_DEPTH) return Number.NaN;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += parsedColons(item, depth + 1);
    return count;
  }
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    count += 1 + keyColons(key) + parsedColons(object[key], depth + 1);
  }
  return count;
}

/** The colons inside a key, or NaN for a key starting with a digit (JSON.parse may move it). */
function keyColons(key: string): number {
  const first = key.charCodeAt(0);
  return first >= 0x30 && first <= 0x39 ? Number.NaN : colonCount(key);
}
