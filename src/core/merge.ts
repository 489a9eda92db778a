/**
 * Decisions about writing one record, made on bytes already read: whether an existing file may
 * be written at all, the merge that keeps every field this version does not own exactly as it
 * was (tokens, key order, nesting), and the patch that `update` applies. Pure: the I/O layer
 * reads and writes, this module decides.
 */

import { RegistryError } from "./errors.js";
import { checkId } from "./ids.js";
import {
  type JsonObject,
  type JsonValue,
  jsonEqual,
  LosslessNumber,
  MAX_DEPTH,
  parseJsonBytes,
  stringifyJson,
} from "./json.js";
import {
  fromPlain,
  isPlainObject,
  NotJsonError,
  objectToPlain,
  plainEqual,
  TooDeepError,
} from "./plain.js";
import {
  checkSchemaVersion,
  DATA_FIELDS,
  MAX_FILE_BYTES,
  minSchemaVersion,
  type NamedAgentRecord,
  type RecordInput,
  type SkipReason,
  validateTree,
} from "./schema.js";

/** Why a write was refused. `unparseable` covers every decoding failure; `detail` says which. */
export type RefusalReason =
  | "unparseable"
  | "not-regular-file"
  | "too-large"
  | "missing-schema-version"
  | "older-schema"
  | "newer-schema"
  | "retired"
  | "absent";

/**
 * What `upsert` and `update` did: `created`, `updated`, `unchanged` (the merge equals the file,
 * nothing written), or `skipped` — a refusal, which is an outcome, not an error: the file is left
 * byte-for-byte as it was (docs/FORMAT.md, "Writes").
 */
export type UpsertOutcome =
  | { status: "created" | "updated" | "unchanged" }
  | { status: "skipped"; reason: RefusalReason; detail?: SkipReason; message: string };

export type Refusal = Extract<UpsertOutcome, { status: "skipped" }>;

export interface PreparedRecord {
  id: string;
  tree: JsonObject;
  record: NamedAgentRecord;
  text: string;
}

/**
 * Validates and normalises a caller's record: `INVALID_ID` for an id that cannot be a file
 * name (checked before anything else), `INVALID_RECORD` for anything else that is wrong. Every
 * known field is present in the result (absent optional ones as `null`) in canonical order,
 * followed by the caller's unknown fields; `schema_version` is stamped as `minSchemaVersion`.
 */
export function prepareRecord(input: RecordInput): PreparedRecord {
  if (!isPlainObject(input) || !isPlainObject(input.data)) {
    throw new RegistryError("INVALID_RECORD", "a record must be an object with a `data` object", {
      issues: [{ reason: "invalid-field", field: "data", message: "data must be an object" }],
    });
  }
  const id = checkId(input.data.instance_id);
  const given = input.data as Record<string, unknown>;
  try {
    const data: JsonObject = new Map();
    for (const [name, kind] of DATA_FIELDS) {
      const value = given[name];
      if (value !== undefined) data.set(name, fromPlain(value, `data.${name}`));
      else if (kind === "optional-string") data.set(name, null);
    }
    for (const key of Object.keys(given)) {
      if (!data.has(key) && given[key] !== undefined)
        data.set(key, fromPlain(given[key], `data.${key}`));
    }
    const tree: JsonObject = new Map<string, JsonValue>([
      ["schema_version", schemaToken(data)],
      ["data", data],
    ]);
    for (const key of Object.keys(input)) {
      const value = input[key];
      if (!tree.has(key) && value !== undefined) tree.set(key, fromPlain(value, key));
    }
    const validation = validateTree(id, tree);
    if (!validation.ok) {
      const first = validation.issues[0];
      throw new RegistryError("INVALID_RECORD", `invalid record ${id}: ${first?.message}`, {
        id,
        issues: validation.issues,
      });
    }
    return { id, tree, record: validation.record, text: readableText(id, tree) };
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    if (error instanceof TooDeepError) throw tooLarge(id, error.message);
    throw new RegistryError("INVALID_RECORD", `invalid record ${id}: ${error.message}`, {
      id,
      issues: [{ reason: "invalid-field", field: error.path, message: error.message }],
    });
  }
}

function schemaToken(data: JsonObject): LosslessNumber {
  const present = (name: string) => {
    const value = data.get(name);
    return typeof value === "string" ? value : null;
  };
  const version = minSchemaVersion({
    session_id: present("session_id"),
    source_agents_base: present("source_agents_base"),
  });
  return new LosslessNumber(String(version));
}

export type WritableFile = { ok: true; top: JsonObject } | { ok: false; refusal: Refusal };

/**
 * Decides whether an existing file may be written over. Refused, and so left byte-for-byte
 * intact: anything that does not decode, has a repeated key, or whose `schema_version` is not
 * one this version writes (a newer version's file must never be downgraded).
 */
export function openForWrite(bytes: Uint8Array): WritableFile {
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) return refuse("unparseable", parsed.message, parsed.reason);
  if (parsed.duplicateKeys.length > 0) {
    const key = parsed.duplicateKeys[0]?.join(".");
    return refuse("unparseable", `key ${key} appears more than once`, "duplicate-key");
  }
  const top = parsed.value;
  if (!(top instanceof Map)) {
    return refuse("missing-schema-version", "the top level is not an object", "not-an-object");
  }
  const version = checkSchemaVersion(top);
  if (!version.ok) {
    return refuse(version.issue.reason as RefusalReason, version.issue.message);
  }
  return { ok: true, top };
}

function refuse(reason: RefusalReason, message: string, detail?: SkipReason): WritableFile {
  const refusal: Refusal = detail
    ? { status: "skipped", reason, detail, message }
    : { status: "skipped", reason, message };
  return { ok: false, refusal };
}

export type WritePlan = { kind: "unchanged" } | { kind: "write"; tree: JsonObject; text: string };

/**
 * Merges a prepared record into the tree on disk: every key of the record overwrites
 * (recursing one level into `data`, `null` included), every other key survives with its
 * token and position, new keys are appended.
 */
export function planMerge(onDisk: JsonObject, prepared: PreparedRecord): WritePlan {
  const merged: JsonObject = new Map(onDisk);
  for (const [key, value] of prepared.tree) {
    const existing = merged.get(key);
    if (key === "data" && existing instanceof Map && value instanceof Map) {
      const data: JsonObject = new Map(existing);
      for (const [field, fieldValue] of value) data.set(field, fieldValue);
      merged.set(key, data);
    } else {
      merged.set(key, value);
    }
  }
  return finish(prepared.id, onDisk, merged);
}

function finish(id: string, onDisk: JsonObject, next: JsonObject): WritePlan {
  if (jsonEqual(onDisk, next)) return { kind: "unchanged" };
  return { kind: "write", tree: next, text: readableText(id, next) };
}

/**
 * The record's file text, refused with `RECORD_TOO_LARGE` when a reader would skip the file it
 * makes (SPEC §5: everything written must be readable): over `MAX_FILE_BYTES`, or nested deeper
 * than `MAX_DEPTH`. A merge can cross the limits that the caller's record alone stays within.
 */
function readableText(id: string, tree: JsonObject): string {
  const text = stringifyJson(tree);
  // Every level of nesting costs at least its two brackets, and a character at most 3 UTF-8
  // bytes (a surrogate pair is 2 characters for 4 bytes): short texts need no closer look.
  if (text.length >= 2 * MAX_DEPTH && nestingDepth(tree) > MAX_DEPTH) {
    throw tooLarge(id, `it would nest deeper than ${MAX_DEPTH} levels`);
  }
  if (text.length * 3 > MAX_FILE_BYTES) {
    const bytes = utf8Length(text);
    if (bytes > MAX_FILE_BYTES) {
      throw tooLarge(id, `it would be ${bytes} bytes; readers skip files over ${MAX_FILE_BYTES}`, {
        bytes,
      });
    }
  }
  return text;
}

function tooLarge(id: string, detail: string, data: Record<string, unknown> = {}): RegistryError {
  return new RegistryError("RECORD_TOO_LARGE", `not writing ${id}: ${detail}`, { id, ...data });
}

/** Depth as the parser counts it: the top-level object is level 1. */
function nestingDepth(value: JsonValue): number {
  let deepest = 0;
  const children = value instanceof Map ? value.values() : Array.isArray(value) ? value : null;
  if (children === null) return 0;
  for (const child of children) deepest = Math.max(deepest, nestingDepth(child));
  return deepest + 1;
}

/** UTF-8 length without `Buffer` (the core imports nothing from Node). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

export interface UpdateStart {
  top: JsonObject;
  original: NamedAgentRecord;
}

/**
 * Validates the record about to be handed to an `update` change. A file that decodes but is
 * not a valid record is `INVALID_FILE`: the caller asked to patch something that is not there.
 */
export function startUpdate(id: string, top: JsonObject): UpdateStart {
  const validation = validateTree(id, top);
  if (!validation.ok) {
    const first = validation.issues[0];
    throw new RegistryError("INVALID_FILE", `${id}.json is not a valid record: ${first?.message}`, {
      id,
      reason: first?.reason,
      issues: validation.issues,
    });
  }
  return { top, original: objectToPlain(top) as unknown as NamedAgentRecord };
}

/** A fresh deep copy of the record for the caller's change to mutate freely. */
export function copyForChange(start: UpdateStart): NamedAgentRecord {
  return objectToPlain(start.top) as unknown as NamedAgentRecord;
}

/**
 * Applies what `change` returned: values it did not alter keep their exact on-disk tokens and
 * order; altered ones are re-encoded; removed keys go; new keys are appended. The result must be
 * a valid record for the same id (`INVALID_RECORD`), stamped with `minSchemaVersion`.
 */
export function planUpdate(id: string, start: UpdateStart, changed: unknown): WritePlan {
  if (!isPlainObject(changed)) {
    throw new RegistryError(
      "INVALID_RECORD",
      `the change for ${id} did not return a record object`,
      { id },
    );
  }
  let next: JsonValue;
  try {
    next = patch(start.top, start.original, changed, "");
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    if (error instanceof TooDeepError) throw tooLarge(id, error.message);
    throw new RegistryError("INVALID_RECORD", `invalid record ${id}: ${error.message}`, {
      id,
      issues: [{ reason: "invalid-field", field: error.path, message: error.message }],
    });
  }
  const tree = next as JsonObject;
  const data = tree.get("data");
  if (data instanceof Map) tree.set("schema_version", schemaToken(data));
  const validation = validateTree(id, tree);
  if (!validation.ok) {
    const first = validation.issues[0];
    throw new RegistryError("INVALID_RECORD", `invalid record ${id}: ${first?.message}`, {
      id,
      issues: validation.issues,
    });
  }
  return finish(id, start.top, tree);
}

function patch(node: JsonValue, before: unknown, after: unknown, path: string): JsonValue {
  if (plainEqual(before, after)) return node;
  if (node instanceof Map && isPlainObject(before) && isPlainObject(after)) {
    const out: JsonObject = new Map();
    for (const [key, child] of node) {
      const value = after[key];
      if (Object.hasOwn(after, key) && value !== undefined) {
        out.set(key, patch(child, before[key], value, join(path, key)));
      }
    }
    for (const key of Object.keys(after)) {
      const value = after[key];
      if (!node.has(key) && value !== undefined) out.set(key, fromPlain(value, join(path, key)));
    }
    return out;
  }
  if (Array.isArray(node) && Array.isArray(before) && Array.isArray(after)) {
    return after.map((item, i) =>
      i < node.length && i < before.length
        ? patch(node[i] as JsonValue, before[i], item, `${path}[${i}]`)
        : fromPlain(item, `${path}[${i}]`),
    );
  }
  return fromPlain(after, path);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}
