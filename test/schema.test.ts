import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeRecord } from "../src/core/decode.js";
import {
  MAX_SUPPORTED_SCHEMA,
  MIN_SUPPORTED_SCHEMA,
  minSchemaVersion,
  validateRecord,
} from "../src/index.js";
import { makeRecord } from "./helpers.js";

const reasonOf = (stem: string, value: unknown) => {
  const result = validateRecord(stem, value);
  return result.ok ? "ok" : result.issues[0]?.reason;
};

const decodeReason = (stem: string, text: string | Uint8Array) => {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const result = decodeRecord(stem, bytes);
  return result.ok ? "ok" : result.issue.reason;
};

const withData = (data: Record<string, unknown>) => {
  const record = makeRecord("aaa");
  return { ...record, data: { ...record.data, ...data } };
};

describe("schema (SPEC §13)", () => {
  test("supported range is 1..3", () => {
    assert.equal(MIN_SUPPORTED_SCHEMA, 1);
    assert.equal(MAX_SUPPORTED_SCHEMA, 3);
  });

  test("v1 happy path", () => {
    const result = validateRecord("aaa", makeRecord("aaa"));
    assert.ok(result.ok);
    assert.equal(result.record.data.identity_id, null);
    assert.equal(result.record.data.session_id, null);
    assert.equal(result.record.data.source_agents_base, null);
  });

  test("999 is an unsupported (newer) schema", () => {
    assert.equal(reasonOf("aaa", { ...makeRecord("aaa"), schema_version: 999 }), "newer-schema");
  });

  test("a stem that differs from instance_id is a mismatch", () => {
    assert.equal(reasonOf("bbb", makeRecord("aaa")), "id-mismatch");
  });

  test("a stem that is not an id is invalid-stem", () => {
    assert.equal(reasonOf("CON", withData({ instance_id: "CON" })), "invalid-stem");
  });

  for (const dir of [
    "/tmp/evil",
    "C:\\tmp\\evil",
    "c:evil",
    "\\\\server\\share",
    "\\\\?\\C:\\x",
    "../../sneaky",
    "..\\..\\sneaky",
    "a/../../b",
    "a\\..",
    ".",
    "./",
    ".//.",
    "a\u0000b",
    "a\nb",
    "a\u007f",
    "... /x",
  ]) {
    test(`working_dir ${JSON.stringify(dir)} is unsafe`, () => {
      assert.equal(reasonOf("aaa", withData({ working_dir: dir })), "unsafe-working-dir");
    });
  }

  for (const dir of ["livelog-821-0512a", "a/b", "./a", "a/./b", "a\\b", "a/", "..a", "a.."]) {
    test(`working_dir ${JSON.stringify(dir)} is safe`, () => {
      assert.equal(reasonOf("aaa", withData({ working_dir: dir })), "ok");
    });
  }

  test("empty name, definition or working dir is empty-field", () => {
    assert.equal(reasonOf("aaa", withData({ instance_name: "" })), "empty-field");
    assert.equal(reasonOf("aaa", withData({ definition_id: "" })), "empty-field");
    assert.equal(reasonOf("aaa", withData({ working_dir: "" })), "empty-field");
    assert.equal(reasonOf("", withData({ instance_id: "" })), "empty-field");
  });

  test("the version strings may be empty", () => {
    assert.equal(
      reasonOf("aaa", withData({ created_by_version: "", last_launched_by_version: "" })),
      "ok",
    );
  });

  test("minSchemaVersion is 1, 2 or 3 by the newest feature used", () => {
    assert.equal(minSchemaVersion({}), 1);
    assert.equal(minSchemaVersion({ session_id: null, source_agents_base: null }), 1);
    assert.equal(minSchemaVersion({ session_id: "s" }), 2);
    assert.equal(minSchemaVersion({ source_agents_base: "/base" }), 3);
    assert.equal(minSchemaVersion({ session_id: "s", source_agents_base: "/base" }), 3);
  });

  test("a v3 record with an unknown field parses and keeps it", () => {
    const result = validateRecord("aaa", {
      ...withData({ session_id: "s", source_agents_base: "/base", future: { x: [1] } }),
      schema_version: 3,
    });
    assert.ok(result.ok);
    assert.deepEqual(result.record.data.future, { x: [1] });
    assert.equal(result.record.data.source_agents_base, "/base");
  });

  test("wrong field types are invalid-field", () => {
    assert.equal(reasonOf("aaa", withData({ instance_name: 5 })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ identity_id: 5 })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ session_id: false })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ created_at_ms: "1" })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ created_at_ms: 1.5 })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ created_at_ms: 2 ** 53 })), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ created_at_ms: -(2 ** 53 - 1) })), "ok");
    assert.equal(reasonOf("aaa", withData({ created_by_version: null })), "invalid-field");
    assert.equal(reasonOf("aaa", { schema_version: 1, data: [] }), "invalid-field");
    assert.equal(reasonOf("aaa", { schema_version: 1 }), "invalid-field");
    assert.equal(reasonOf("aaa", withData({ weird: Number.NaN })), "invalid-field");
  });

  test("the top level must be an object", () => {
    assert.equal(reasonOf("aaa", [1]), "not-an-object");
    assert.equal(reasonOf("aaa", "x"), "not-an-object");
    assert.equal(reasonOf("aaa", null), "not-an-object");
  });

  test("validateRecord never throws on odd input", () => {
    for (const value of [undefined, () => 1, Symbol("x"), new Date(0), 10n, { data: new Map() }]) {
      assert.equal(validateRecord("aaa", value).ok, false);
    }
  });
});

describe("decoding a file (SPEC §4)", () => {
  const valid = JSON.stringify(makeRecord("aaa"), null, 2);

  test("a valid file decodes", () => {
    assert.equal(decodeReason("aaa", valid), "ok");
  });

  test("schema_version must be a non-negative integer token", () => {
    for (const token of [
      "1.0",
      '"1"',
      "-1",
      "1e0",
      "1E0",
      "true",
      "null",
      "4294967296",
      "99999999999999999999",
    ]) {
      assert.equal(
        decodeReason("aaa", valid.replace('"schema_version": 1', `"schema_version": ${token}`)),
        "missing-schema-version",
        token,
      );
    }
    assert.equal(
      decodeReason("aaa", valid.replace('"schema_version": 1', '"schema_version": 0')),
      "older-schema",
    );
    assert.equal(
      decodeReason("aaa", valid.replace('"schema_version": 1', '"schema_version": 4294967295')),
      "newer-schema",
    );
    assert.equal(
      decodeReason("aaa", valid.replace('"schema_version": 1,', "")),
      "missing-schema-version",
    );
  });

  test("timestamps must be integer tokens within ±(2^53-1)", () => {
    for (const token of ["1.0", "1e3", "9007199254740992", "-9007199254740992", '"5"']) {
      assert.equal(
        decodeReason("aaa", valid.replace("1747049400000", token)),
        "invalid-field",
        token,
      );
    }
    assert.equal(decodeReason("aaa", valid.replace("1747049400000", "9007199254740991")), "ok");
  });

  test("invalid UTF-8, a BOM, bad JSON and deep nesting are reported with their own reasons", () => {
    assert.equal(decodeReason("aaa", Uint8Array.from([0x7b, 0xff, 0x7d])), "invalid-utf8");
    assert.equal(decodeReason("aaa", `\ufeff${valid}`), "bom");
    assert.equal(decodeReason("aaa", "{ not json"), "invalid-json");
    assert.equal(decodeReason("aaa", `${valid}x`), "invalid-json");
    assert.equal(decodeReason("aaa", ""), "invalid-json");
    assert.equal(
      decodeReason("aaa", valid.replace('"0.1.0"', `${"[".repeat(600)}${"]".repeat(600)}`)),
      "invalid-json",
    );
    assert.equal(
      decodeReason("aaa", `${"[".repeat(100_000)}${"]".repeat(100_000)}`),
      "invalid-json",
    );
  });

  test("nesting up to 512 levels is fine", () => {
    const deep511 = `${"[".repeat(510)}${"]".repeat(510)}`;
    assert.equal(
      decodeReason(
        "aaa",
        valid.replace('"weird"', "").replace('"0.1.0"', `"0.1.0", "deep": ${deep511}`),
      ),
      "ok",
    );
  });

  test("a repeated known key is duplicate-key; a repeated unknown key is tolerated when reading", () => {
    assert.equal(
      decodeReason(
        "aaa",
        valid.replace('"schema_version": 1,', '"schema_version": 1, "schema_version": 1,'),
      ),
      "duplicate-key",
    );
    assert.equal(
      decodeReason(
        "aaa",
        valid.replace('"instance_name":', '"instance_name": "x", "instance_name":'),
      ),
      "duplicate-key",
    );
    assert.equal(
      decodeReason(
        "aaa",
        valid.replace('"schema_version": 1,', '"schema_version": 1, "u": 1, "u": 2,'),
      ),
      "ok",
    );
  });
});
