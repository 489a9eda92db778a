/**
 * The listing's fast path (`decodeCommonRecord`, built on `JSON.parse`) against the careful one
 * (the lossless parser and `validateTree`): whenever the fast path answers, its record must be
 * the careful path's, key order, number tokens and `-0` included; and it must answer for the
 * files real writers produce, or it buys nothing.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeCommonRecord, decodeRecord } from "../src/core/decode.js";
import { LosslessNumber, parseJson, stringifyJson } from "../src/core/json.js";
import { fromPlain } from "../src/core/plain.js";
import { DATA_FIELDS, type NamedAgentRecord, validateTree } from "../src/core/schema.js";
import { makeRecord, readFixture } from "./helpers.js";

const SEED = 7;

/** The careful path alone: what `decodeRecord` returned before the fast path existed. */
function careful(stem: string, text: string): NamedAgentRecord | null {
  const parsed = parseJson(text);
  if (!parsed.ok) return null;
  const validation = validateTree(stem, parsed.value, parsed.duplicateKeys);
  return validation.ok ? validation.record : null;
}

/** Equal values with keys in the same order, tokens compared as tokens, `-0` apart from `0`. */
function sameRecord(a: unknown, b: unknown, path = ""): void {
  if (a instanceof LosslessNumber || b instanceof LosslessNumber) {
    assert.ok(a instanceof LosslessNumber && b instanceof LosslessNumber, `${path}: token`);
    assert.equal(a.value, b.value, path);
    return;
  }
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) {
    assert.ok(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`);
    return;
  }
  assert.equal(Array.isArray(a), Array.isArray(b), `${path}: array or object`);
  const aRecord = a as Record<string, unknown>;
  const bRecord = b as Record<string, unknown>;
  assert.deepEqual(Object.keys(aRecord), Object.keys(bRecord), `${path}: keys in order`);
  for (const key of Object.keys(aRecord)) sameRecord(aRecord[key], bRecord[key], `${path}.${key}`);
}

/** The fast path's contract on one text: silent, or exactly the careful answer. */
function check(stem: string, text: string): NamedAgentRecord | null {
  const fast = decodeCommonRecord(stem, text);
  if (fast !== null) {
    const reference = careful(stem, text);
    assert.ok(reference !== null, `fast path accepted what the careful path refuses: ${text}`);
    sameRecord(fast, reference);
  }
  return fast;
}

type Entry = [key: string, token: string];

/** Object text from entries, which may repeat a key, in one of the layouts writers use. */
function objectText(entries: readonly Entry[], layout: Layout, indent = ""): string {
  if (entries.length === 0) return "{}";
  const inner = `${indent}  `;
  const colon = layout === "compact" ? ":" : layout === "spaced" ? " : " : ": ";
  const members = entries.map(([key, value]) => `${JSON.stringify(key)}${colon}${value}`);
  return layout === "compact"
    ? `{${members.join(",")}}`
    : `{\n${members.map((member) => inner + member).join(",\n")}\n${indent}}`;
}

type Layout = "canonical" | "compact" | "spaced";

const tokenArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 2_000_000_000_000 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "-0",
      "1.0",
      "1e3",
      "1E3",
      "-5",
      "1747049400000.0",
      "9007199254740991",
      "9007199254740993",
      "1234567890123456",
    ),
  },
);

const stringArb = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "a:b",
      "x\u003ay",
      'quo"te',
      "back\\slash",
      "1.5",
      ": 1.0",
      "[1.0, 2]",
      "café 🚀",
    ),
  },
);

/** An unknown member's text: any JSON, nested, with risky numbers and colons. */
const unknownArb: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    tokenArb,
    stringArb.map((s) => JSON.stringify(s)),
    fc.constantFrom("null", "true", "false", '"\\u003a"', "[]", "{}"),
    fc.array(tie("value"), { maxLength: 3 }).map((items) => `[${items.join(", ")}]`),
    fc
      .array(fc.tuple(fc.oneof(stringArb, fc.constantFrom("7", "10", "__proto__")), tie("value")), {
        maxLength: 3,
      })
      .map((entries) => objectText(entries, "compact")),
  ),
})).value;

const unknownKeyArb = fc.oneof(
  fc.stringMatching(/^[a-z_]{1,10}$/),
  fc.constantFrom("0", "12", "2x", "a:b", "__proto__", "constructor", "instance_id", "data"),
);

const recordCase = fc.record({
  id: fc.oneof(fc.constant("agent-1"), fc.constant("a.b_c-9")),
  stemMatches: fc.oneof(
    { weight: 9, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  values: fc.record({
    instance_name: stringArb,
    definition_id: stringArb,
    identity_id: fc.option(stringArb, { nil: null }),
    session_id: fc.option(stringArb, { nil: null }),
    working_dir: fc.oneof(
      { weight: 9, arbitrary: stringArb },
      { weight: 1, arbitrary: fc.constantFrom("../up", "a/b", "/abs", "C:x") },
    ),
    created_at_ms: tokenArb,
    last_launched_at_ms: tokenArb,
  }),
  version: fc.oneof({ weight: 5, arbitrary: fc.constantFrom("1", "2", "3") }, tokenArb),
  drop: fc.oneof(
    {
      weight: 9,
      arbitrary: fc.subarray(["identity_id", "memory_id", "session_id", "source_agents_base"]),
    },
    { weight: 1, arbitrary: fc.constant(["instance_name"]) },
  ),
  shuffle: fc.boolean(),
  unknownData: fc.array(fc.tuple(unknownKeyArb, unknownArb), { maxLength: 3 }),
  unknownTop: fc.array(fc.tuple(unknownKeyArb, unknownArb), { maxLength: 2 }),
  repeat: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  layout: fc.constantFrom<Layout>("canonical", "compact", "spaced"),
});

describe("listing fast path", () => {
  test("answers only with exactly the careful path's record (generated records)", () => {
    let answered = 0;
    let valid = 0;
    fc.assert(
      fc.property(recordCase, fc.nat(), (c, salt) => {
        const tokens: Record<string, string> = {
          instance_id: JSON.stringify(c.id),
          instance_name: JSON.stringify(c.values.instance_name),
          definition_id: JSON.stringify(c.values.definition_id),
          identity_id: JSON.stringify(c.values.identity_id),
          memory_id: "null",
          session_id: JSON.stringify(c.values.session_id),
          working_dir: JSON.stringify(c.values.working_dir),
          source_agents_base: "null",
          created_at_ms: c.values.created_at_ms,
          last_launched_at_ms: c.values.last_launched_at_ms,
          created_by_version: '"0.1.0"',
          last_launched_by_version: '"0.2.0"',
        };
        const dropped: readonly string[] = c.drop;
        let data: Entry[] = DATA_FIELDS.filter(([name]) => !dropped.includes(name)).map(
          ([name]) => [name, tokens[name] as string],
        );
        if (c.shuffle)
          data = [...data.slice(salt % data.length), ...data.slice(0, salt % data.length)];
        data.push(...c.unknownData);
        let top: Entry[] = [["schema_version", c.version]];
        top.push(...c.unknownTop);
        if (c.repeat !== null) {
          // Repeat one key, known or not, with another value: a silent win for JSON.parse.
          const target = c.repeat % 2 === 0 ? data : top;
          const [key] = target[c.repeat % target.length] as Entry;
          target.push([key, key === "data" ? "{}" : '"again"']);
        }
        top = [...top.slice(0, 1), ["data", objectText(data, c.layout, "  ")], ...top.slice(1)];
        const text = `${objectText(top, c.layout)}\n`;
        const stem = c.stemMatches ? c.id : "other-id";
        if (check(stem, text) !== null) answered++;
        if (careful(stem, text) !== null) valid++;
      }),
      { seed: SEED, numRuns: 3000, includeErrorInReport: true },
    );
    // The generator is hostile (risky numbers, escapes, digit keys in unknown fields), yet a
    // fast path that declines nearly every valid record would buy nothing.
    assert.ok(valid > 500, `only ${valid} of 3000 generated records are valid`);
    assert.ok(answered * 5 > valid, `the fast path answered ${answered} of ${valid} valid records`);
  });

  test("answers for what our writer and the Rust original write", () => {
    const ours = stringifyJson(fromPlain(makeRecord("agent-1")));
    assert.ok(check("agent-1", ours), "a fresh record of ours");
    const rust = readFixture("rust-written", "v3-fresh.json").toString("utf8");
    const stem = (JSON.parse(rust) as NamedAgentRecord).data.instance_id;
    assert.ok(check(stem, rust), "a fresh record of the Rust original");
  });

  test("leaves every case JSON.parse would get wrong to the careful path", () => {
    const base = makeRecord("agent-1") as unknown as { data: Record<string, unknown> };
    const variant = (edit: (text: string) => string) => edit(`${JSON.stringify(base, null, 2)}\n`);
    const cases: Record<string, string> = {
      "a repeated known key": variant((t) =>
        t.replace('"definition_id"', '"instance_name": "x",\n    "definition_id"'),
      ),
      "a repeated key before a spaced colon": variant((t) =>
        t.replace('"definition_id": ', '"definition_id" : "y", "definition_id": '),
      ),
      "a repeated schema_version": variant((t) => t.replace("{", '{"schema_version": 2,')),
      "a fractional timestamp": variant((t) => t.replace("1747049400000", "1747049400000.0")),
      "an exponent timestamp": variant((t) => t.replace("1747049400000", "1.7470494e12")),
      "a negative zero": variant((t) =>
        t.replace('"definition_id"', '"extra": -0,\n    "definition_id"'),
      ),
      "a 17-digit unknown number": variant((t) =>
        t.replace('"definition_id"', '"extra": [1, 12345678901234567],\n    "definition_id"'),
      ),
      "integer-like unknown keys": variant((t) =>
        t.replace('"definition_id"', '"z": 1, "10": 2,\n    "definition_id"'),
      ),
      "a \\u escape": variant((t) => t.replace('"claude-code"', '"claude\\u002dcode"')),
      "a version written 1.0": variant((t) =>
        t.replace('"schema_version": 1', '"schema_version": 1.0'),
      ),
    };
    for (const [name, text] of Object.entries(cases)) {
      assert.equal(decodeCommonRecord("agent-1", text), null, name);
      const decoded = decodeRecord("agent-1", Buffer.from(text));
      const reference = careful("agent-1", text);
      assert.equal(decoded.ok, reference !== null, name);
      if (decoded.ok && reference) sameRecord(decoded.record, reference);
    }
  });

  test("refuses nesting deeper than the careful parser allows, without recursing into it", () => {
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const text = JSON.stringify(makeRecord("agent-1")).replace(
      '{"schema_version"',
      `{"x": ${deep}, "schema_version"`,
    );
    assert.equal(decodeCommonRecord("agent-1", text), null);
    assert.equal(decodeRecord("agent-1", Buffer.from(text)).ok, false);
  });
});
