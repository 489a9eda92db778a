/**
 * Generative tests (fast-check, fixed seeds): the validators and the JSON codec never throw and
 * agree with `JSON.parse` where they should, the codec round-trips tokens exactly, the merge keeps
 * every field it does not own, and the id / working-dir rules hold for any input.
 * A failure prints its seed and path; reruns are deterministic.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeRecord } from "../src/core/decode.js";
import { idProblem, isValidId } from "../src/core/ids.js";
import {
  type JsonObject,
  type JsonValue,
  jsonEqual,
  LosslessNumber,
  parseJson,
  parseJsonBytes,
  stringifyJson,
} from "../src/core/json.js";
import { toPlain } from "../src/core/plain.js";
import {
  DATA_FIELDS,
  KNOWN_DATA_FIELDS,
  KNOWN_TOP_FIELDS,
  minSchemaVersion,
  type SkipReason,
  validateRecord,
  workingDirProblem,
} from "../src/core/schema.js";
import { makeRecord, readFixture, tempRegistry } from "./helpers.js";

const SEED = 42;
/** Fixed seed (reruns are deterministic) and the failing assertion in the report. */
const runs = (numRuns: number) => ({ seed: SEED, numRuns, includeErrorInReport: true });

const SKIP_REASONS: ReadonlySet<SkipReason> = new Set<SkipReason>([
  "not-regular-file",
  "too-large",
  "invalid-utf8",
  "bom",
  "invalid-json",
  "duplicate-key",
  "not-an-object",
  "missing-schema-version",
  "older-schema",
  "newer-schema",
  "invalid-field",
  "empty-field",
  "invalid-stem",
  "id-mismatch",
  "unsafe-working-dir",
]);

const PARSE_REASONS: ReadonlySet<string> = new Set(["invalid-utf8", "bom", "invalid-json"]);

const jsonParseOk = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** What the byte-level parser should decide, computed with the platform's own decoder. */
const bytesShouldParse = (bytes: Uint8Array): boolean => {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return false;
  try {
    return jsonParseOk(strictUtf8.decode(bytes));
  } catch {
    return false;
  }
};

/** Checks the documented shape of a parse result; returns whether it succeeded. */
function assertParseShape(result: ReturnType<typeof parseJson>): boolean {
  if (result.ok) {
    assert.ok(Array.isArray(result.duplicateKeys));
    return true;
  }
  assert.ok(PARSE_REASONS.has(result.reason), `unexpected reason ${result.reason}`);
  assert.equal(typeof result.message, "string");
  assert.ok(result.message.length > 0);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Number tokens JavaScript cannot round-trip, next to ordinary ones. */
const SPECIAL_TOKENS = [
  "0",
  "-0",
  "1.0",
  "1E5",
  "1e5",
  "1E+5",
  "1e-7",
  "2.50",
  "0.1",
  "-0.0",
  "18446744073709551615",
  "12345678901234567890",
  "9007199254740993",
  "-9007199254740993",
  "1.7976931348623157e309",
  "5e-324",
  "1e+21",
  "100000000000000000000",
];

const tokenArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SPECIAL_TOKENS),
  fc.integer().map(String),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.stringMatching(/^-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,8})?([eE][+-]?[0-9]{1,3})?$/),
);

const numberArb: fc.Arbitrary<LosslessNumber> = tokenArb.map((t) => new LosslessNumber(t));

const textArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 }),
  fc.constantFrom("", "café 🚀", '"quoted"', "back\\slash", "line\nbreak", "\u0000\u001f\u007f"),
);

const keyArb = fc.oneof(
  textArb,
  fc.constantFrom("__proto__", "constructor", "toString", "0", "10", "1.5", "", "hasOwnProperty"),
);

const leafArb: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  textArb,
  numberArb,
);

/** A lossless JSON tree: Maps in insertion order, numbers as tokens. */
const treeArb: fc.Arbitrary<JsonValue> = fc.letrec<{
  tree: JsonValue;
  array: JsonValue[];
  object: JsonObject;
}>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("tree"), { maxLength: 4 }),
  object: fc
    .uniqueArray(fc.tuple(keyArb, tie("tree")), { selector: (entry) => entry[0], maxLength: 4 })
    .map((entries) => new Map(entries)),
})).tree;

/** Interesting single-character edits of a valid record's text. */
const EDIT_CHARS = [
  "{",
  "}",
  "[",
  "]",
  '"',
  ",",
  ":",
  "\\",
  "0",
  "-",
  ".",
  "e",
  "+",
  " ",
  "\n",
  "\u0000",
  "\ud800",
  "\ufeff",
  "a",
  "n",
  "t",
];

type Edit = { kind: "insert" | "delete" | "replace"; at: number; char: string };

const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom("insert", "delete", "replace"),
  at: fc.nat(),
  char: fc.oneof(
    fc.constantFrom(...EDIT_CHARS),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
});

function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = text;
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : edit.at % (out.length + 1);
    if (edit.kind === "insert") out = out.slice(0, at) + edit.char + out.slice(at);
    else if (edit.kind === "delete") out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + edit.char + out.slice(at + 1);
  }
  return out;
}

type ByteEdit = { kind: "insert" | "delete" | "replace"; at: number; byte: number };

const byteEditArb: fc.Arbitrary<ByteEdit> = fc.record({
  kind: fc.constantFrom("insert", "delete", "replace"),
  at: fc.nat(),
  byte: fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xef, 0xf0, 0xff),
  ),
});

function applyByteEdits(bytes: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  const out = [...bytes];
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : edit.at % (out.length + 1);
    if (edit.kind === "insert") out.splice(at, 0, edit.byte);
    else if (edit.kind === "delete") out.splice(at, 1);
    else out.splice(at, 1, edit.byte);
  }
  return Uint8Array.from(out);
}

const BASE_TEXTS = [
  readFixture("registry", "v1_with_future_fields.json").toString("utf8"),
  readFixture("rust-written", "v1-with-future-fields.before.json").toString("utf8"),
  readFixture("rust-written", "v3-fresh.json").toString("utf8"),
];
const BASE_STEMS = ["v1_with_future_fields", "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001"];

/** Deep equality that ignores key order (LosslessNumbers compared by token). */
function sameIgnoringOrder(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof LosslessNumber || b instanceof LosslessNumber) {
    return a instanceof LosslessNumber && b instanceof LosslessNumber && a.value === b.value;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => sameIgnoringOrder(item, b[i]))
    );
  }
  if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
    const aKeys = Object.keys(a).sort();
    const bKeys = Object.keys(b).sort();
    return (
      aKeys.length === bKeys.length &&
      aKeys.every(
        (key, i) =>
          key === bKeys[i] &&
          sameIgnoringOrder(
            (a as Record<string, unknown>)[key],
            (b as Record<string, unknown>)[key],
          ),
      )
    );
  }
  return false;
}

/** Compact JSON text of a tree (the on-disk layout need not be canonical). */
function compact(value: JsonValue): string {
  if (value instanceof LosslessNumber) return value.value;
  if (Array.isArray(value)) return `[${value.map(compact).join(",")}]`;
  if (value instanceof Map) {
    return `{${[...value].map(([k, v]) => `${JSON.stringify(k)}:${compact(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------

describe("validators never throw", () => {
  test("validateRecord returns a result for any value and any stem", () => {
    const anyValue = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withSparseArray: true,
      withTypedArray: true,
      stringUnit: "binary",
    });
    const stemArb = fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("aaa", "CON", ".x"));
    fc.assert(
      fc.property(stemArb, fc.oneof(anyValue, fc.jsonValue()), (stem, value) => {
        const result = validateRecord(stem, value);
        if (result.ok) {
          assert.equal(result.record.data.instance_id, stem);
        } else {
          assert.ok(result.issues.length > 0);
          for (const issue of result.issues) assert.ok(SKIP_REASONS.has(issue.reason));
        }
      }),
      runs(1500),
    );
  });

  test("validateRecord returns a result when one field of a valid record is replaced by anything", () => {
    const fieldArb = fc.constantFrom(
      "schema_version",
      "data",
      "extra",
      ...DATA_FIELDS.map(([name]) => `data.${name}`),
    );
    fc.assert(
      fc.property(
        fieldArb,
        fc.oneof(fc.anything({ withBigInt: true, withSparseArray: true }), fc.jsonValue()),
        (field, value) => {
          const record = structuredClone(makeRecord("aaa")) as Record<string, unknown>;
          if (field.startsWith("data.")) {
            (record.data as Record<string, unknown>)[field.slice(5)] = value;
          } else {
            record[field] = value;
          }
          const result = validateRecord("aaa", record);
          if (!result.ok)
            for (const issue of result.issues) assert.ok(SKIP_REASONS.has(issue.reason));
        },
      ),
      runs(1000),
    );
  });

  test("parseJson never throws on any string and agrees with JSON.parse on acceptance", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.string({ unit: fc.constantFrom(...EDIT_CHARS) }),
        ),
        (text) => {
          assert.equal(assertParseShape(parseJson(text)), jsonParseOk(text));
        },
      ),
      runs(2000),
    );
  });

  test("parseJson never throws on mutations of a valid record's text and agrees with JSON.parse", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BASE_TEXTS),
        fc.array(editArb, { minLength: 1, maxLength: 4 }),
        (base, edits) => {
          const text = applyEdits(base, edits);
          assert.equal(assertParseShape(parseJson(text)), jsonParseOk(text));
        },
      ),
      runs(2000),
    );
  });

  test("parseJsonBytes never throws on any bytes and accepts exactly BOM-less UTF-8 JSON", () => {
    const baseBytes = BASE_TEXTS.map((text) => new Uint8Array(Buffer.from(text, "utf8")));
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(fc.constantFrom(...baseBytes), fc.array(byteEditArb, { minLength: 1, maxLength: 4 }))
        .map(([base, edits]) => applyByteEdits(base, edits)),
      fc.constantFrom(
        new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
        new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]),
        new Uint8Array([0x22, 0xc0, 0xaf, 0x22]),
      ),
    );
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        assert.equal(assertParseShape(parseJsonBytes(bytes)), bytesShouldParse(bytes));
      }),
      runs(2000),
    );
  });

  test("decodeRecord never throws and only accepts a record whose instance_id is the stem", () => {
    const baseBytes = BASE_TEXTS.map((text) => new Uint8Array(Buffer.from(text, "utf8")));
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc
        .tuple(fc.constantFrom(...baseBytes), fc.array(byteEditArb, { minLength: 1, maxLength: 3 }))
        .map(([base, edits]) => applyByteEdits(base, edits)),
      fc
        .tuple(fc.constantFrom(...BASE_TEXTS), fc.array(editArb, { minLength: 1, maxLength: 3 }))
        .map(([base, edits]) => new Uint8Array(Buffer.from(applyEdits(base, edits), "utf8"))),
    );
    const stemArb = fc.oneof(fc.constantFrom(...BASE_STEMS), fc.string({ unit: "binary" }));
    fc.assert(
      fc.property(stemArb, bytesArb, (stem, bytes) => {
        const decoded = decodeRecord(stem, bytes);
        if (decoded.ok) assert.equal(decoded.record.data.instance_id, stem);
        else assert.ok(SKIP_REASONS.has(decoded.issue.reason));
      }),
      runs(2000),
    );
  });

  test("nesting deeper than 512 levels is invalid-json, never a stack overflow", () => {
    assert.ok(parseJson(`${"[".repeat(512)}${"]".repeat(512)}`).ok);
    assert.ok(parseJson(`${'{"a":'.repeat(511)}{}${"}".repeat(511)}`).ok);
    for (const text of [
      `${"[".repeat(513)}${"]".repeat(513)}`,
      "[".repeat(200_000),
      '{"a":'.repeat(200_000),
      `${"[".repeat(200_000)}${"]".repeat(200_000)}`,
    ]) {
      const parsed = parseJson(text);
      assert.equal(parsed.ok, false);
      assert.equal(parsed.ok === false && parsed.reason, "invalid-json");
    }
    const deep = Buffer.from(`{"schema_version":1,"data":${"[".repeat(100_000)}}`);
    const decoded = decodeRecord("aaa", deep);
    assert.equal(decoded.ok === false && decoded.issue.reason, "invalid-json");
  });

  test("the unmutated base texts are valid records (so the mutation tests start from valid input)", () => {
    const first = BASE_TEXTS[0] as string;
    const second = BASE_TEXTS[1] as string;
    assert.ok(decodeRecord("v1_with_future_fields", Buffer.from(first)).ok);
    assert.ok(decodeRecord("7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001", Buffer.from(second)).ok);
  });
});

describe("the parser agrees with JSON.parse on valid JSON", () => {
  test("every fc.json() text parses, has no duplicates, and toPlain equals JSON.parse", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.json({ maxDepth: 5 }), fc.json({ maxDepth: 4, stringUnit: "binary" })),
        (text) => {
          const parsed = parseJson(text);
          assert.ok(parsed.ok, `rejected ${text}`);
          assert.deepEqual(parsed.duplicateKeys, []);
          // fc.json() numbers come from JSON.stringify, so they are canonical and become numbers.
          assert.ok(sameIgnoringOrder(toPlain(parsed.value), JSON.parse(text)));
        },
      ),
      runs(1500),
    );
  });

  test("the canonical text equals JSON.stringify(value, null, 2) plus one newline", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5, stringUnit: "binary" }), (value) => {
        const text = JSON.stringify(value);
        const parsed = parseJson(text);
        assert.ok(parsed.ok);
        assert.equal(stringifyJson(parsed.value), `${JSON.stringify(value, null, 2)}\n`);
      }),
      runs(1000),
    );
  });

  test("a repeated key is reported with its path; the last value wins as in JSON.parse", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom("a", "b", "c", "__proto__"), fc.jsonValue({ maxDepth: 2 })),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.boolean(),
        (entries, nest) => {
          const inner = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
          const text = nest ? `{"outer":${inner}}` : inner;
          const parsed = parseJson(text);
          assert.ok(parsed.ok);
          const keys = entries.map(([k]) => k);
          const repeated = keys.filter((k, i) => keys.indexOf(k) !== i);
          assert.deepEqual(
            parsed.duplicateKeys,
            repeated.map((k) => (nest ? ["outer", k] : [k])),
          );
          assert.ok(sameIgnoringOrder(toPlain(parsed.value), JSON.parse(text)));
        },
      ),
      runs(500),
    );
  });
});

describe("stringifyJson round-trips", () => {
  test("parse(stringifyJson(tree)) is jsonEqual to tree, and stringify is a fixed point", () => {
    fc.assert(
      fc.property(treeArb, (tree) => {
        const text = stringifyJson(tree);
        assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"));
        const parsed = parseJson(text);
        assert.ok(parsed.ok, text);
        assert.deepEqual(parsed.duplicateKeys, []);
        assert.ok(jsonEqual(parsed.value, tree), text);
        assert.equal(stringifyJson(parsed.value), text);
        // Same tree from a compact rendering: layout never changes tokens.
        const fromCompact = parseJson(compact(tree));
        assert.ok(fromCompact.ok && jsonEqual(fromCompact.value, tree));
      }),
      runs(1000),
    );
  });

  test("every number token survives parse and stringify exactly", () => {
    for (const token of SPECIAL_TOKENS) {
      const parsed = parseJson(`{"x": ${token}, "y": [${token}]}`);
      assert.ok(parsed.ok);
      assert.equal(
        stringifyJson(parsed.value),
        `{\n  "x": ${token},\n  "y": [\n    ${token}\n  ]\n}\n`,
      );
    }
    fc.assert(
      fc.property(tokenArb, (token) => {
        const parsed = parseJson(token);
        assert.ok(parsed.ok, token);
        assert.equal(stringifyJson(parsed.value), `${token}\n`);
      }),
      runs(1000),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The merge keeps unknown content

type Entry = [string, JsonValue];

const unknownTopKeyArb = keyArb.filter((k) => !KNOWN_TOP_FIELDS.has(k));
const unknownDataKeyArb = keyArb.filter((k) => !KNOWN_DATA_FIELDS.has(k));

const nonEmptyText = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 10 }),
  fc.constantFrom("livelog-821", "café 🚀", "x"),
);
const optionalText = fc.option(nonEmptyText, { nil: null });
const safeWorkingDir = fc.constantFrom("livelog-821-0512a", "a/b", "w d", "ü/ñ");
const timestampArb = fc.integer({ min: 0, max: 2 ** 52 });

interface KnownValues {
  instance_name: string;
  definition_id: string;
  identity_id: string | null;
  memory_id: string | null;
  session_id: string | null;
  working_dir: string;
  source_agents_base: string | null;
  created_at_ms: number;
  last_launched_at_ms: number;
  created_by_version: string;
  last_launched_by_version: string;
}

const knownValuesArb: fc.Arbitrary<KnownValues> = fc.record({
  instance_name: nonEmptyText,
  definition_id: nonEmptyText,
  identity_id: optionalText,
  memory_id: optionalText,
  session_id: optionalText,
  working_dir: safeWorkingDir,
  source_agents_base: fc.option(fc.constantFrom("/home/u/.agentmux/agents", "C:\\agents"), {
    nil: null,
  }),
  created_at_ms: timestampArb,
  last_launched_at_ms: timestampArb,
  created_by_version: fc.string({ maxLength: 8 }),
  last_launched_by_version: fc.string({ maxLength: 8 }),
});

const uniqueEntries = (key: fc.Arbitrary<string>) =>
  fc.uniqueArray(fc.tuple(key, treeArb), { selector: (e) => e[0], maxLength: 5 });

const insertAt = (entries: Entry[], at: number, entry: Entry) => {
  entries.splice(at % (entries.length + 1), 0, entry);
};

const onDiskArb = fc.record({
  id: fc.oneof(fc.uuid(), fc.constantFrom("aaa", "old-launch-id", "a.b_c-d")),
  known: knownValuesArb,
  /** Optional fields written on disk (the others are left out, as an older writer does). */
  writeOptional: fc.record({
    identity_id: fc.boolean(),
    memory_id: fc.boolean(),
    session_id: fc.boolean(),
    source_agents_base: fc.boolean(),
  }),
  schemaVersion: fc.constantFrom(1, 2, 3),
  topUnknown: uniqueEntries(unknownTopKeyArb),
  dataUnknown: uniqueEntries(unknownDataKeyArb),
  positions: fc.array(fc.nat(), { minLength: 16, maxLength: 16 }),
  pretty: fc.boolean(),
  newKnown: knownValuesArb,
});

type OnDiskCase = typeof onDiskArb extends fc.Arbitrary<infer T> ? T : never;

function buildOnDisk(c: OnDiskCase): JsonObject {
  const data: Entry[] = [...c.dataUnknown];
  let p = 0;
  const position = () => c.positions[p++ % c.positions.length] ?? 0;
  for (const [name, kind] of DATA_FIELDS) {
    if (kind === "optional-string" && !c.writeOptional[name as keyof OnDiskCase["writeOptional"]])
      continue;
    const value = name === "instance_id" ? c.id : c.known[name as keyof KnownValues];
    const token: JsonValue =
      typeof value === "number" ? new LosslessNumber(String(value)) : (value as JsonValue);
    insertAt(data, position(), [name, token]);
  }
  const top: Entry[] = [...c.topUnknown];
  insertAt(top, position(), ["schema_version", new LosslessNumber(String(c.schemaVersion))]);
  insertAt(top, position(), ["data", new Map(data)]);
  return new Map(top);
}

const unknownEntries = (object: JsonObject, known: ReadonlySet<string>): Entry[] =>
  [...object].filter(([key]) => !known.has(key));

/**
 * Reads the file back and checks that every unknown field (top level and `data`) has its
 * original tokens, and that every key kept its place: the original keys in their original order,
 * followed by the known `data` fields that were not on disk, appended in canonical order
 * (`appendsMissing`; an update that did not touch them must not add them).
 */
function assertLayoutKept(file: string, original: JsonObject, appendsMissing: boolean): JsonObject {
  const parsed = parseJson(readFileSync(file, "utf8"));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.duplicateKeys, []);
  const top = parsed.value as JsonObject;
  assert.deepEqual([...top.keys()], [...original.keys()], "top-level key order");
  const before = unknownEntries(original, KNOWN_TOP_FIELDS);
  const after = unknownEntries(top, KNOWN_TOP_FIELDS);
  before.forEach(([key, value], i) => {
    assert.ok(jsonEqual(after[i]?.[1] ?? null, value), `top-level ${key} changed`);
  });
  const originalData = original.get("data") as JsonObject;
  const data = top.get("data") as JsonObject;
  const appended = appendsMissing
    ? DATA_FIELDS.map(([name]) => name).filter((name) => !originalData.has(name))
    : [];
  assert.deepEqual([...data.keys()], [...originalData.keys(), ...appended], "data key order");
  const dataBefore = unknownEntries(originalData, KNOWN_DATA_FIELDS);
  const dataAfter = unknownEntries(data, KNOWN_DATA_FIELDS);
  dataBefore.forEach(([key, value], i) => {
    assert.ok(jsonEqual(dataAfter[i]?.[1] ?? null, value), `data.${key} changed`);
  });
  return top;
}

function assertKnown(top: JsonObject, id: string, known: KnownValues): void {
  const data = top.get("data") as JsonObject;
  assert.equal(data.get("instance_id"), id);
  for (const [name] of DATA_FIELDS) {
    if (name === "instance_id") continue;
    const expected = known[name as keyof KnownValues];
    // An optional field an older writer left out reads as null.
    const actual = data.has(name) ? data.get(name) : null;
    if (typeof expected === "number") {
      assert.ok(actual instanceof LosslessNumber);
      assert.equal(actual.value, String(expected), name);
    } else {
      assert.equal(actual, expected, name);
    }
  }
  const schema = top.get("schema_version");
  assert.ok(schema instanceof LosslessNumber);
  assert.equal(schema.value, String(minSchemaVersion(known)));
}

const OPTIONAL_FIELDS = ["identity_id", "memory_id", "session_id", "source_agents_base"] as const;

describe("the merge keeps unknown content", () => {
  test("update and upsert keep every unknown field's tokens and order, and set the known fields", async (t) => {
    await fc.assert(
      fc.asyncProperty(onDiskArb, async (c) => {
        const { registry, root } = await tempRegistry(t);
        const file = path.join(root, `${c.id}.json`);
        const original = buildOnDisk(c);
        writeFileSync(file, c.pretty ? stringifyJson(original) : compact(original));

        // update: one known field changes, everything else is written back as it was.
        const launched = c.known.last_launched_at_ms + 1;
        const updated = await registry.update(c.id, (record) => {
          record.data.last_launched_at_ms = launched;
          return record;
        });
        assert.deepEqual(updated, { status: "updated" });
        const afterUpdate = assertLayoutKept(file, original, false);
        const expectedAfterUpdate: KnownValues = { ...c.known, last_launched_at_ms: launched };
        for (const name of OPTIONAL_FIELDS)
          if (!c.writeOptional[name]) expectedAfterUpdate[name] = null;
        assertKnown(afterUpdate, c.id, expectedAfterUpdate);

        // upsert: every known field is replaced, unknown ones survive.
        const next: KnownValues = { ...c.newKnown, instance_name: `${c.newKnown.instance_name}!` };
        const upserted = await registry.upsert({ data: { instance_id: c.id, ...next } });
        assert.deepEqual(upserted, { status: "updated" });
        const text = readFileSync(file, "utf8");
        assert.equal(stringifyJson((parseJson(text) as { value: JsonValue }).value), text);
        assertKnown(assertLayoutKept(file, original, true), c.id, next);

        // Readers see the unknown fields as plain values.
        const record = await registry.get(c.id);
        assert.ok(record);
        for (const [key, value] of unknownEntries(
          original.get("data") as JsonObject,
          KNOWN_DATA_FIELDS,
        )) {
          assert.ok(sameIgnoringOrder(record.data[key], toPlain(value)), `data.${key} read back`);
        }
      }),
      runs(40),
    );
  });
  test("a change that edits one nested unknown value keeps every other token and key in place", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const file = path.join(root, "aaa.json");
    const text = `{"__proto__":{"polluted":1.0},"schema_version":1,"10":[1E5,-0],"data":{"nested":{"10":"ten","b":[true,null,-0,2.50]},"instance_id":"aaa","instance_name":"n","definition_id":"d","working_dir":"w","created_at_ms":1,"last_launched_at_ms":2,"created_by_version":"","last_launched_by_version":"","constructor":18446744073709551615,"toString":"x","":{"":[]}}}`;
    writeFileSync(file, text);
    const outcome = await registry.update("aaa", (record) => {
      const nested = record.data.nested as { b: unknown[] };
      nested.b.push(3);
      return record;
    });
    assert.deepEqual(outcome, { status: "updated" });
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const expected = parseJson(text.replace("2.50]", "2.50,3]"));
    const actual = parseJson(readFileSync(file, "utf8"));
    assert.ok(expected.ok && actual.ok);
    assert.ok(jsonEqual(actual.value, expected.value), readFileSync(file, "utf8"));
  });
});

// ---------------------------------------------------------------------------------------------
// Ids

const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
const DEVICES = /^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])$/i;

/** The rule of SPEC §3, written independently of the implementation. */
function specValidId(id: string): boolean {
  if (id.length < 1 || id.length > 128) return false;
  for (const c of id) if (!ID_CHARS.includes(c)) return false;
  if (id.startsWith(".") || id.endsWith(".")) return false;
  return !DEVICES.test(id.split(".")[0] ?? "");
}

const idCharArb = fc.constantFrom(...ID_CHARS);
const idLikeArb = fc.oneof(
  fc.string({ unit: idCharArb, minLength: 1, maxLength: 128 }),
  fc.string({ unit: idCharArb, minLength: 120, maxLength: 140 }),
  fc
    .tuple(
      fc.constantFrom(
        "CON",
        "con",
        "Prn",
        "AUX",
        "nul",
        "COM1",
        "com9",
        "LPT1",
        "lpt9",
        "COM0",
        "LPT10",
        "CONX",
        "xCON",
      ),
      fc.constantFrom("", ".", ".txt", ".a.b", "_", "1"),
    )
    .map(([device, suffix]) => device + suffix),
  fc.string({
    unit: fc.oneof(idCharArb, fc.constantFrom("/", "\\", "\u0000", " ", ":", "é")),
    maxLength: 20,
  }),
  fc.string({ unit: "binary", maxLength: 20 }),
);

describe("id rules", () => {
  test("idProblem and isValidId follow SPEC §3 for any string", () => {
    fc.assert(
      fc.property(idLikeArb, (id) => {
        const valid = specValidId(id);
        assert.equal(isValidId(id), valid, JSON.stringify(id));
        assert.equal(idProblem(id) === null, valid);
        if (!valid) assert.equal(typeof idProblem(id), "string");
      }),
      runs(3000),
    );
  });

  test("an id with a separator, NUL or space, an empty one and one over 128 characters are invalid", () => {
    const bad = fc.oneof(
      fc
        .tuple(
          fc.string({ unit: idCharArb, maxLength: 10 }),
          fc.constantFrom("/", "\\", "\u0000", " "),
          fc.string({ unit: idCharArb, maxLength: 10 }),
        )
        .map(([a, sep, b]) => `a${a}${sep}${b}z`),
      fc.string({ unit: idCharArb, minLength: 129, maxLength: 300 }),
      fc.constant(""),
    );
    fc.assert(
      fc.property(bad, (id) => {
        assert.equal(isValidId(id), false, JSON.stringify(id));
        assert.notEqual(idProblem(id), null);
      }),
      runs(1000),
    );
    assert.equal(isValidId("a".repeat(128)), true);
    assert.equal(isValidId("a".repeat(129)), false);
  });

  test("a non-string is never a valid id", () => {
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== "string"),
        (value) => {
          assert.equal(isValidId(value), false);
        },
      ),
      runs(300),
    );
  });

  test("a valid id never contains a separator and always names a file directly in the root", () => {
    const validArb = fc.string({ unit: idCharArb, minLength: 1, maxLength: 128 }).filter(isValidId);
    fc.assert(
      fc.property(validArb, (id) => {
        assert.ok(!id.includes("/") && !id.includes("\\"));
        const posixRoot = "/srv/registry";
        const posixFile = path.posix.join(posixRoot, `${id}.json`);
        assert.equal(path.posix.dirname(posixFile), posixRoot);
        assert.equal(path.posix.basename(posixFile), `${id}.json`);
        const winRoot = "C:\\registry";
        const winFile = path.win32.join(winRoot, `${id}.json`);
        assert.equal(path.win32.dirname(winFile), winRoot);
        assert.equal(path.win32.basename(winFile), `${id}.json`);
        const root = path.resolve("registry-root");
        assert.equal(path.dirname(path.join(root, `${id}.json`)), root);
      }),
      runs(2000),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Working directories

const segmentArb = fc.oneof(
  fc.constantFrom(
    "..",
    ".",
    "",
    "a",
    "b c",
    "C:",
    "c:",
    "\\\\?\\",
    "\\\\",
    "...",
    ".. ",
    "..  .",
    " ..",
    "x:y",
    "UNC",
    "?",
    "con",
    "é",
    "~",
    "\u0000",
    "\u001f",
    "\u007f",
  ),
  fc.string({ unit: "grapheme-ascii", maxLength: 4 }),
);
const separatorArb = fc.constantFrom("/", "\\");
const workingDirArb = fc.oneof(
  fc
    .array(fc.tuple(segmentArb, separatorArb), { maxLength: 6 })
    .chain((parts) =>
      fc
        .boolean()
        .map(
          (trailing) =>
            parts.map(([seg, sep]) => seg + sep).join("") +
            (trailing || parts.length === 0 ? "" : "z"),
        ),
    ),
  fc
    .array(fc.tuple(segmentArb, separatorArb), { maxLength: 6 })
    .map((parts) => parts.map(([seg, sep], i) => (i === 0 ? seg : sep + seg)).join("")),
  fc.string({ unit: "binary", maxLength: 16 }),
);

const hasControl = (s: string) =>
  [...s].some((c) => (c.codePointAt(0) ?? 0) < 0x20 || c === "\u007f");

function assertInsideBase(s: string): void {
  const posix = path.posix.resolve("/base", s.replaceAll("\\", "/"));
  assert.ok(posix.startsWith("/base/"), `posix: ${JSON.stringify(s)} -> ${posix}`);
  const win = path.win32.resolve("C:\\base", s);
  assert.ok(win.startsWith("C:\\base\\"), `win32: ${JSON.stringify(s)} -> ${win}`);
  assert.ok(!hasControl(s));
}

describe("working-dir rules", () => {
  test("an accepted working dir stays strictly inside its base on POSIX and on Windows", () => {
    let accepted = 0;
    fc.assert(
      fc.property(workingDirArb, (s) => {
        if (workingDirProblem(s) !== null) return;
        accepted++;
        assertInsideBase(s);
      }),
      runs(5000),
    );
    // The generator must exercise the accepting branch, not only rejections.
    assert.ok(accepted > 200, `only ${accepted} accepted working dirs were generated`);
  });

  test("a '..' segment, a leading separator, a drive prefix or a control character is always rejected", () => {
    fc.assert(
      fc.property(workingDirArb, (s) => {
        const segments = s.split(/[\\/]/);
        const mustReject =
          segments.includes("..") ||
          s.startsWith("/") ||
          s.startsWith("\\") ||
          /^[A-Za-z]:/.test(s) ||
          hasControl(s) ||
          segments.every((seg) => seg === "" || seg === ".");
        if (mustReject) assert.notEqual(workingDirProblem(s), null, JSON.stringify(s));
      }),
      runs(5000),
    );
  });

  test("fixed examples: escapes and the base itself are rejected, plain relative paths accepted", () => {
    for (const bad of [
      "/tmp/evil",
      "C:\\tmp\\evil",
      "c:relative",
      "../../sneaky",
      "..\\..\\sneaky",
      "a/../../b",
      "a\\..\\..\\b",
      ".",
      "./",
      ".\\",
      "",
      "//",
      "\\\\server\\share",
      "\\\\?\\C:\\x",
      "a\u0000b",
      "a\nb",
      "a\u007fb",
    ]) {
      assert.notEqual(workingDirProblem(bad), null, JSON.stringify(bad));
    }
    for (const good of ["livelog-821-0512a", "a/b", "./a", "a/./b", "a\\b", "café 🚀"]) {
      assert.equal(workingDirProblem(good), null, JSON.stringify(good));
      assertInsideBase(good);
    }
  });
});
