/**
 * The record format (SPEC §2) and the validation contract every read applies (§4).
 * Validation works on the lossless tree so that token-level rules (`1.0` is not an integer,
 * 2^53 is out of range) are decided on what the file says, not on what JavaScript rounds it to.
 */

import { idProblem } from "./ids.js";
import { type JsonObject, type JsonValue, LosslessNumber } from "./json.js";
import { fromPlain, NotJsonError, type PlainValue, setOwn, toPlain } from "./plain.js";

/** The oldest `schema_version` this package reads; older records are skipped (`older-schema`). */
export const MIN_SUPPORTED_SCHEMA = 1;
/** The newest `schema_version` this package reads; newer records are skipped (`newer-schema`). */
export const MAX_SUPPORTED_SCHEMA = 3;
/** Files larger than this (1 MiB) are never read or merged, and no write produces one. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** The Rust original reads `schema_version` as a u32: anything larger is not a version. */
const MAX_SCHEMA_TOKEN = 0xffff_ffff;

/**
 * Why a reader skipped a file, or why a record is not valid: one code per rule of
 * docs/FORMAT.md, "What a reader skips" (docs/ERRORS.md, "Skip reasons", explains each).
 */
export type SkipReason =
  | "not-regular-file"
  | "unreadable"
  | "too-large"
  | "invalid-utf8"
  | "bom"
  | "invalid-json"
  | "duplicate-key"
  | "not-an-object"
  | "missing-schema-version"
  | "older-schema"
  | "newer-schema"
  | "invalid-field"
  | "empty-field"
  | "invalid-stem"
  | "id-mismatch"
  | "unsafe-working-dir";

/** One broken rule of a record. */
export interface ValidationIssue {
  /** Which rule. */
  reason: SkipReason;
  /** The rule and what was found, for people. */
  message: string;
  /** The offending field (`schema_version`, `data.working_dir` …) when there is one. */
  field?: string;
}

/**
 * The `data` object of a record: one agent (docs/FORMAT.md, "Record"; docs/record.schema.json).
 * Absent optional fields are read as `null`.
 */
export interface NamedAgentData {
  /** The agent's id, equal to the file's stem: 1–128 of `A-Z a-z 0-9 . _ -` ({@link isValidId}). */
  instance_id: string;
  /** The name people see and type; not empty. */
  instance_name: string;
  /** The agent definition it was launched from; not empty. */
  definition_id: string;
  /** The identity it runs as, if any. */
  identity_id: string | null;
  /** The memory it uses, if any. */
  memory_id: string | null;
  /** The session to resume, if any. Since schema 2. */
  session_id: string | null;
  /** The working directory: a safe path relative to `source_agents_base` (or the agents base). */
  working_dir: string;
  /** The absolute agents base `working_dir` is relative to; `null`: the reader's own. Since schema 3. */
  source_agents_base: string | null;
  /** Creation time, milliseconds since the Unix epoch. */
  created_at_ms: number;
  /** Last launch time, milliseconds since the Unix epoch: the dropdown's newest-first order. */
  last_launched_at_ms: number;
  /** The version of the program that created the record; may be empty. */
  created_by_version: string;
  /** The version of the program that last launched the agent; may be empty. */
  last_launched_by_version: string;
  /** Fields written by other (newer) versions, kept as they are. */
  [unknown: string]: PlainValue | undefined;
}

/**
 * A valid record as read: the contents of `<id>.json`. Records a listing returns are frozen and
 * shared; copy one to change it, or use `Registry.update`.
 */
export interface NamedAgentRecord {
  /** The record's format version, {@link MIN_SUPPORTED_SCHEMA} to {@link MAX_SUPPORTED_SCHEMA}. */
  schema_version: number;
  /** The agent. */
  data: NamedAgentData;
  /** Top-level fields written by other (newer) versions, kept as they are. */
  [unknown: string]: PlainValue | NamedAgentData | undefined;
}

/** What `upsert` accepts: optional fields may be left out; `schema_version` is stamped. */
export type RecordInput = {
  schema_version?: number;
  data: Omit<NamedAgentData, "identity_id" | "memory_id" | "session_id" | "source_agents_base"> &
    Partial<
      Pick<NamedAgentData, "identity_id" | "memory_id" | "session_id" | "source_agents_base">
    >;
  [unknown: string]: unknown;
};

type FieldKind = "required-string" | "string" | "optional-string" | "timestamp";

/** Known `data` fields in the canonical order of a fresh file. */
export const DATA_FIELDS: ReadonlyArray<readonly [keyof NamedAgentData & string, FieldKind]> = [
  ["instance_id", "required-string"],
  ["instance_name", "required-string"],
  ["definition_id", "required-string"],
  ["identity_id", "optional-string"],
  ["memory_id", "optional-string"],
  ["session_id", "optional-string"],
  ["working_dir", "required-string"],
  ["source_agents_base", "optional-string"],
  ["created_at_ms", "timestamp"],
  ["last_launched_at_ms", "timestamp"],
  ["created_by_version", "string"],
  ["last_launched_by_version", "string"],
];

export const KNOWN_DATA_FIELDS: ReadonlySet<string> = new Set(DATA_FIELDS.map(([name]) => name));
/** DATA_FIELDS with each field's name in messages, built once rather than per record. */
export const FIELD_CHECKS = DATA_FIELDS.map(
  ([name, kind]) => [name, kind, `data.${name}`] as const,
);
export const KNOWN_TOP_FIELDS: ReadonlySet<string> = new Set(["schema_version", "data"]);

/**
 * The lowest schema that can express `data` — 3 if `source_agents_base` is set, else 2 if
 * `session_id` is set, else 1: writers stamp this, not the maximum, so older readers keep every
 * record that uses no newer feature.
 */
export function minSchemaVersion(data: {
  session_id?: string | null;
  source_agents_base?: string | null;
}): 1 | 2 | 3 {
  if (data.source_agents_base != null) return 3;
  if (data.session_id != null) return 2;
  return 1;
}

export type SchemaVersionCheck =
  | { ok: true; version: number }
  | { ok: false; issue: ValidationIssue };

const NON_NEGATIVE_INTEGER = /^(?:0|[1-9][0-9]*)$/;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * Reads `schema_version` the way every writer must before touching a file: only a
 * non-negative integer token up to 2^32−1 is a version; `1.0`, `"1"`, `-1`, `1e0` are not.
 */
export function checkSchemaVersion(top: JsonObject): SchemaVersionCheck {
  const token = top.get("schema_version");
  const field = "schema_version";
  if (token === undefined) {
    return {
      ok: false,
      issue: { reason: "missing-schema-version", field, message: "schema_version is missing" },
    };
  }
  if (!(token instanceof LosslessNumber) || !NON_NEGATIVE_INTEGER.test(token.value)) {
    return {
      ok: false,
      issue: {
        reason: "missing-schema-version",
        field,
        message: `schema_version is not a non-negative integer (found ${describe(token)})`,
      },
    };
  }
  const version = token.value.length > 10 ? Number.POSITIVE_INFINITY : Number(token.value);
  if (version > MAX_SCHEMA_TOKEN) {
    return {
      ok: false,
      issue: {
        reason: "missing-schema-version",
        field,
        message: `schema_version ${token.value} is larger than 2^32-1 and is not a version`,
      },
    };
  }
  if (version < MIN_SUPPORTED_SCHEMA) {
    return {
      ok: false,
      issue: {
        reason: "older-schema",
        field,
        message: `schema_version ${version} is older than the oldest supported (${MIN_SUPPORTED_SCHEMA})`,
      },
    };
  }
  if (version > MAX_SUPPORTED_SCHEMA) {
    return {
      ok: false,
      issue: {
        reason: "newer-schema",
        field,
        message: `schema_version ${version} is newer than this reader supports (${MAX_SUPPORTED_SCHEMA}); written by a newer version`,
      },
    };
  }
  return { ok: true, version };
}

function describe(value: JsonValue): string {
  if (value === null) return "null";
  if (value instanceof LosslessNumber) return value.value;
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "an array";
  if (value instanceof Map) return "an object";
  return String(value);
}

const DRIVE_PREFIX = /^[A-Za-z]:/;
/** One segment that starts with a letter, digit, `_` or `-`: never `.`, `..`, a drive or a separator. */
const SIMPLE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
/** Segments Windows would collapse to `..` (trailing dots and spaces are stripped there). */
const DOTS_ONLY = /^\.\.[. ]*$/;

/**
 * Why `workingDir` is not a safe relative path, or `null`. Both `/` and `\` are separators on
 * every platform: a record written on Windows must not escape its base when read on Unix
 * (the original let `..\..\sneaky` through there).
 */
export function workingDirProblem(workingDir: string): string | null {
  // The common case, one plain name (a slug), needs none of the checks below.
  if (SIMPLE_NAME.test(workingDir)) return null;
  if (workingDir.length === 0) return "working_dir is empty";
  if (hasControlCharacter(workingDir)) return "working_dir contains a control character";
  if (workingDir.startsWith("/") || workingDir.startsWith("\\")) {
    return "working_dir is absolute (starts with a separator, or is a UNC or \\\\?\\ path)";
  }
  if (DRIVE_PREFIX.test(workingDir)) return "working_dir starts with a drive prefix";
  const segments = workingDir.split(/[\\/]/);
  if (segments.some((segment) => DOTS_ONLY.test(segment))) {
    return "working_dir contains a '..' segment";
  }
  if (segments.every((segment) => segment === "" || segment === ".")) {
    return "working_dir names the agents base itself";
  }
  return null;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export type TreeValidation =
  | { ok: true; record: NamedAgentRecord }
  | { ok: false; issues: ValidationIssue[] };

/**
 * Validates a parsed file (or a caller's record converted to a tree) against SPEC §4 rules 4–9.
 * `duplicateKeys` are the repeated-key paths the parser saw; only repeated known keys matter here.
 */
export function validateTree(
  stem: string,
  top: JsonValue,
  duplicateKeys: readonly string[][] = [],
): TreeValidation {
  const issues: ValidationIssue[] = [];
  for (const path of duplicateKeys) {
    const known =
      (path.length === 1 && KNOWN_TOP_FIELDS.has(path[0] as string)) ||
      (path.length === 2 && path[0] === "data" && KNOWN_DATA_FIELDS.has(path[1] as string));
    if (known) {
      issues.push({
        reason: "duplicate-key",
        field: path.join("."),
        message: `key ${path.join(".")} appears more than once`,
      });
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  if (!(top instanceof Map)) {
    return {
      ok: false,
      issues: [
        { reason: "not-an-object", message: `the top level is ${describe(top)}, not an object` },
      ],
    };
  }
  const version = checkSchemaVersion(top);
  if (!version.ok) return { ok: false, issues: [version.issue] };

  const data = top.get("data");
  if (!(data instanceof Map)) {
    const found = data === undefined ? "missing" : describe(data);
    return {
      ok: false,
      issues: [
        { reason: "invalid-field", field: "data", message: `data is ${found}, not an object` },
      ],
    };
  }

  const record: Record<string, unknown> = {};
  let known = 0;
  for (const [name, kind, field] of FIELD_CHECKS) {
    const value = data.get(name);
    if (value !== undefined) known++;
    switch (kind) {
      case "required-string":
      case "string":
        if (typeof value !== "string") {
          const found = value === undefined ? "missing" : describe(value);
          issues.push({
            reason: "invalid-field",
            field,
            message: `${field} must be a string (found ${found})`,
          });
        } else if (kind === "required-string" && value.length === 0) {
          issues.push({ reason: "empty-field", field, message: `${field} must not be empty` });
        } else {
          record[name] = value;
        }
        break;
      case "optional-string":
        if (value === undefined || value === null) record[name] = null;
        else if (typeof value === "string") record[name] = value;
        else
          issues.push({
            reason: "invalid-field",
            field,
            message: `${field} must be a string or null (found ${describe(value)})`,
          });
        break;
      case "timestamp":
        if (
          value instanceof LosslessNumber &&
          INTEGER.test(value.value) &&
          Number.isSafeInteger(Number(value.value))
        ) {
          record[name] = Number(value.value);
        } else {
          const found = value === undefined ? "missing" : describe(value);
          issues.push({
            reason: "invalid-field",
            field,
            message: `${field} must be an integer within ±(2^53-1) (found ${found})`,
          });
        }
        break;
    }
  }

  const stemProblem = idProblem(stem);
  if (stemProblem !== null) {
    issues.push({
      reason: "invalid-stem",
      message: `file name ${JSON.stringify(stem)} is not a valid id: ${stemProblem}`,
    });
  } else if (typeof record.instance_id === "string" && record.instance_id !== stem) {
    issues.push({
      reason: "id-mismatch",
      field: "data.instance_id",
      message: `data.instance_id ${JSON.stringify(record.instance_id)} differs from the file name ${JSON.stringify(stem)}`,
    });
  }
  if (typeof record.working_dir === "string") {
    const problem = workingDirProblem(record.working_dir);
    if (problem !== null)
      issues.push({ reason: "unsafe-working-dir", field: "data.working_dir", message: problem });
  }
  if (issues.length > 0) return { ok: false, issues };

  // Fields of newer versions, if any (counted: most records have none to look for).
  if (data.size > known) {
    for (const [key, member] of data) {
      if (!KNOWN_DATA_FIELDS.has(key)) setOwn(record, key, toPlain(member));
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, member] of top) {
    if (key === "schema_version") out[key] = version.version;
    else if (key === "data") out[key] = record;
    else setOwn(out, key, toPlain(member));
  }
  return { ok: true, record: out as NamedAgentRecord };
}

/** The result of {@link validateRecord}: the record as a reader would return it, or every issue. */
export type RecordValidation =
  | { ok: true; record: NamedAgentRecord }
  | { ok: false; issues: ValidationIssue[] };

/**
 * Validates a plain value (for example the output of `JSON.parse`) as the record stored in
 * `<stem>.json`, by the rules every read applies. Never throws.
 *
 * @param stem - the file name without `.json`, which `data.instance_id` must equal
 * @param value - the parsed file
 * @returns the record as a reader would return it, or every broken rule
 */
export function validateRecord(stem: string, value: unknown): RecordValidation {
  let tree: JsonValue;
  try {
    tree = fromPlain(value);
  } catch (error) {
    if (!(error instanceof NotJsonError)) throw error;
    return {
      ok: false,
      issues: [{ reason: "invalid-field", field: error.path, message: error.message }],
    };
  }
  return validateTree(stem, tree);
}
