/**
 * docs/record.schema.json — the on-disk record as JSON Schema 2020-12, for editors and other
 * tools — against what the reader actually does: every fixture the reader reads validates, every
 * fixture it skips for a reason the schema can express fails, and on plain JSON values (where the
 * rules the schema cannot express do not arise) the schema and `validateRecord` agree exactly.
 */

import assert from "node:assert/strict";
import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { describe, test } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { type SkipReason, validateRecord } from "../src/index.js";
import { fixturePath, tempRegistry } from "./helpers.js";

const schema = JSON.parse(
  readFileSync(join(import.meta.dirname, "..", "docs", "record.schema.json"), "utf8"),
);
const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
const schemaAccepts = (value: unknown) => validate(value) === true;

/**
 * Files the reader skips although JSON Schema accepts them, with the rule it cannot express.
 * Each of these rules is named in the schema's top-level `description`.
 */
const BEYOND_THE_SCHEMA: Record<string, SkipReason> = {
  "skipped/id-mismatch.json": "id-mismatch", // data.instance_id equals the file's stem
  "skipped/duplicate-key.json": "duplicate-key", // JSON.parse keeps the last of repeated keys
  "skipped/schema-version-token.json": "missing-schema-version", // `1.0` is an integer to JSON Schema
  "skipped/created-at-exponent.json": "invalid-field", // so is `1.7470494E12`
};

/** Every `.json` under test/fixtures, as paths relative to it. */
function fixtureFiles(dir = fixturePath()): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return fixtureFiles(path);
    return entry.name.endsWith(".json") ? [relative(fixturePath(), path)] : [];
  });
}

/**
 * The name a fixture is read under: its own stem, except the Rust writer's files, which were
 * written as `<instance_id>.json` and are kept under descriptive names.
 */
function stemOf(file: string, text: string): string {
  if (file.startsWith("rust-written/")) return JSON.parse(text).data.instance_id;
  return basename(file, ".json");
}

describe("docs/record.schema.json against the fixtures", () => {
  const files = fixtureFiles();

  test("there are fixtures of every kind", () => {
    const dirs = new Set(files.map((file) => file.split("/")[0]));
    assert.deepEqual([...dirs].sort(), ["registry", "rust-written", "skipped"]);
    assert.ok(files.length >= 35, `${files.length} fixtures`);
  });

  for (const file of files) {
    test(file, async (t) => {
      const text = readFileSync(fixturePath(file), "utf8");
      const stem = stemOf(file, text);
      // What the reader does with the file, through the public API.
      const { registry, root } = await tempRegistry(t);
      copyFileSync(fixturePath(file), join(root, `${stem}.json`));
      const scan = await registry.scan();
      registry.close();
      const skipped = scan.skipped[0]?.reason;
      const accepted = schemaAccepts(JSON.parse(text));
      const errors = JSON.stringify(validate.errors);

      if (skipped === undefined) {
        assert.equal(scan.active.length, 1);
        assert.ok(accepted, `the reader reads it, so the schema must accept it: ${errors}`);
      } else if (file in BEYOND_THE_SCHEMA) {
        assert.equal(skipped, BEYOND_THE_SCHEMA[file]);
        assert.ok(accepted, "a rule beyond JSON Schema: the schema accepts it");
      } else {
        assert.ok(!accepted, `the reader skips it (${skipped}), so the schema must reject it`);
      }
      if (file.startsWith("skipped/")) assert.notEqual(skipped, undefined, "the reader skips it");
      else if (file !== "registry/v999_unknown_envelope.json") assert.equal(skipped, undefined);
    });
  }
});

// ---- The schema and validateRecord agree on plain JSON values --------------------------------

/** Characters that matter to ids and working directories, plus a few ordinary ones. */
const pathChar = fc.constantFrom(
  ..."aZ09_-. /\\:C\t\u0000\u001f\u007f\u00e9".split(""),
  "..",
  "...",
  ".. ",
);
const pathString = fc.array(pathChar, { maxLength: 8 }).map((parts) => parts.join(""));
const idString = fc.oneof(
  fc.constantFrom(
    "ok",
    "CON",
    "con.txt",
    "Com1",
    "LPT9.x",
    "COM0",
    "nul-ish",
    ".a",
    "a.",
    "a".repeat(129),
  ),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,10}$/),
  pathString,
);
const integerish = fc.oneof(
  fc.integer(),
  fc.constantFrom(
    2 ** 53 - 1,
    -(2 ** 53 - 1),
    2 ** 53,
    -(2 ** 53),
    2 ** 60,
    0.5,
    -0,
    1_747_049_400_000,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const anyJson = fc.jsonValue({ maxDepth: 2 });
/** A field's value: usually of the right type, sometimes anything, sometimes absent. */
const field = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 6, arbitrary: good },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
const optionalString = fc.oneof(fc.constant(null), fc.string({ maxLength: 4 }));

const recordish = fc.record(
  {
    schema_version: field(fc.constantFrom(1, 2, 3, 0, 4, -1, 1.5, 2 ** 32, 2 ** 32 - 1)),
    data: field(
      fc.record(
        {
          instance_id: field(idString),
          instance_name: field(fc.string({ maxLength: 3 })),
          definition_id: field(fc.string({ maxLength: 3 })),
          identity_id: field(optionalString),
          memory_id: field(optionalString),
          session_id: field(optionalString),
          working_dir: field(pathString),
          source_agents_base: field(optionalString),
          created_at_ms: field(integerish),
          last_launched_at_ms: field(integerish),
          created_by_version: field(fc.string({ maxLength: 3 })),
          last_launched_by_version: field(fc.string({ maxLength: 3 })),
          tags: anyJson,
        },
        { requiredKeys: [] },
      ),
    ),
    future_top: anyJson,
  },
  { requiredKeys: [] },
);

/** Drops `undefined` members, as writing the value to a file would. */
const asWritten = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? "null");

describe("docs/record.schema.json agrees with validateRecord", () => {
  test("on any record-shaped JSON value, named as its instance_id", () => {
    fc.assert(
      fc.property(recordish, (generated) => {
        const value = asWritten(generated) as { data?: { instance_id?: unknown } };
        const id = value.data?.instance_id;
        const stem = typeof id === "string" ? id : "stem";
        const reader = validateRecord(stem, value);
        const verdict = reader.ok ? "ok" : reader.issues.map((issue) => issue.reason).join(",");
        assert.equal(
          schemaAccepts(value),
          reader.ok,
          `reader: ${verdict}; schema: ${JSON.stringify(validate.errors)}`,
        );
      }),
      { numRuns: 3000 },
    );
  });

  test("on a valid record with one field changed", () => {
    const base = {
      schema_version: 1,
      data: {
        instance_id: "ok",
        instance_name: "n",
        definition_id: "d",
        working_dir: "wd",
        created_at_ms: 0,
        last_launched_at_ms: 0,
        created_by_version: "",
        last_launched_by_version: "",
      },
    };
    const anyValue = fc.oneof(
      integerish,
      idString,
      pathString,
      optionalString,
      anyJson,
      fc.constant(undefined),
    );
    const known = [...Object.keys(base.data), "identity_id", "memory_id", "session_id"];
    fc.assert(
      fc.property(fc.constantFrom("schema_version", ...known), anyValue, (key, changed) => {
        const value = structuredClone(base) as Record<string, unknown> & typeof base;
        if (key === "schema_version") value.schema_version = changed as number;
        else (value.data as Record<string, unknown>)[key] = changed;
        const written = asWritten(value) as typeof base;
        const stem = typeof written.data.instance_id === "string" ? written.data.instance_id : "ok";
        assert.equal(
          schemaAccepts(written),
          validateRecord(stem, written).ok,
          `${key}: ${JSON.stringify(changed)}`,
        );
      }),
      { numRuns: 5000 },
    );
  });

  test("on working_dir and instance_id alone", () => {
    const record = (id: string, workingDir: string) => ({
      schema_version: 1,
      data: {
        instance_id: id,
        instance_name: "n",
        definition_id: "d",
        working_dir: workingDir,
        created_at_ms: 0,
        last_launched_at_ms: 0,
        created_by_version: "",
        last_launched_by_version: "",
      },
    });
    fc.assert(
      fc.property(pathString, (workingDir) => {
        const value = record("ok", workingDir);
        assert.equal(schemaAccepts(value), validateRecord("ok", value).ok, JSON.stringify(value));
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(idString, (id) => {
        const value = record(id, "wd");
        assert.equal(schemaAccepts(value), validateRecord(id, value).ok, JSON.stringify(id));
      }),
      { numRuns: 2000 },
    );
  });
});
