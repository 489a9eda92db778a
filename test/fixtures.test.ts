import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseJsonBytes, stringifyJson } from "../src/core/json.js";
import { fixturePath, readFixture, tempRegistry } from "./helpers.js";

const RUST_ID_V1 = "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001";
const RUST_ID_V3 = "9f0c2a4e-1111-4abc-8def-000000000001";

const rustFixtures = [
  ["v1-fresh.json", RUST_ID_V1, 1],
  ["v1-with-future-fields.before.json", RUST_ID_V1, 1],
  ["v1-with-future-fields.after-rust-merge.json", RUST_ID_V1, 1],
  ["v3-fresh.json", RUST_ID_V3, 3],
  ["v3-writer-v1-record.json", RUST_ID_V1, 1],
  ["v3-after-rust-merge.json", RUST_ID_V3, 3],
] as const;

describe("files written by the Rust original", () => {
  for (const [name, id, version] of rustFixtures) {
    test(`${name} loads`, async (t) => {
      const { registry, root } = await tempRegistry(t);
      copyFileSync(fixturePath("rust-written", name), join(root, `${id}.json`));
      const record = await registry.get(id);
      assert.equal(record?.schema_version, version);
      assert.equal(record?.data.instance_id, id);
      assert.deepEqual((await registry.scan()).skipped, []);
    });

    test(`${name} survives an update with everything the Rust writer kept`, async (t) => {
      const { registry, root } = await tempRegistry(t);
      const file = join(root, `${id}.json`);
      copyFileSync(fixturePath("rust-written", name), file);
      const before = parseJsonBytes(readFileSync(file));
      assert.ok(before.ok && before.value instanceof Map);
      const outcome = await registry.update(id, (r) => {
        r.data.last_launched_at_ms = 1_747_070_000_123;
        return r;
      });
      assert.deepEqual(outcome, { status: "updated" });
      const after = parseJsonBytes(readFileSync(file));
      assert.ok(after.ok && after.value instanceof Map);
      // Same keys in the same order at both levels, every value but the one changed identical.
      const expected = new Map(before.value);
      const data = new Map(expected.get("data") as Map<string, unknown>);
      data.set(
        "last_launched_at_ms",
        (after.value.get("data") as Map<string, unknown>).get("last_launched_at_ms"),
      );
      expected.set("data", data as never);
      assert.equal(stringifyJson(after.value), stringifyJson(expected));
      assert.match(readFileSync(file, "utf8"), /"last_launched_at_ms": 1747070000123/);
    });
  }

  test("our merge of the 'before' file keeps what the Rust merge kept, tokens exact", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const file = join(root, `${RUST_ID_V1}.json`);
    copyFileSync(fixturePath("rust-written", "v1-with-future-fields.before.json"), file);
    const rust = parseJsonBytes(
      readFixture("rust-written", "v1-with-future-fields.after-rust-merge.json"),
    );
    assert.ok(rust.ok && rust.value instanceof Map);
    const rustData = rust.value.get("data") as Map<string, unknown>;

    const record = await registry.get(RUST_ID_V1);
    assert.ok(record);
    const outcome = await registry.upsert({
      schema_version: 1,
      data: {
        ...record.data,
        last_launched_at_ms: 1_747_069_999_000,
        created_by_version: "0.33.821",
        last_launched_by_version: "0.33.821",
      },
    });
    assert.deepEqual(outcome, { status: "updated" });
    const ours = parseJsonBytes(readFileSync(file));
    assert.ok(ours.ok && ours.value instanceof Map);
    const ourData = ours.value.get("data") as Map<string, unknown>;
    for (const [key, value] of rustData) {
      assert.equal(
        stringifyJson(ourData.get(key) as never),
        stringifyJson(value as never),
        `data.${key}`,
      );
    }
    const ourTop = ours.value.get("future_top") as Map<string, unknown>;
    for (const [key, value] of rust.value.get("future_top") as Map<string, unknown>) {
      assert.equal(
        stringifyJson(ourTop.get(key) as never),
        stringifyJson(value as never),
        `future_top.${key}`,
      );
    }
    const text = readFileSync(file, "utf8");
    assert.match(text, /18446744073709551615/);
    assert.match(text, /"weight": 1\.0/);
    // We keep the file's own key order (the Rust writer re-sorts), and write the fields it omits.
    assert.ok(text.indexOf('"schema_version"') < text.indexOf('"future_top"'));
    assert.equal(ourData.get("session_id"), null);
    assert.equal(ourData.get("source_agents_base"), null);
  });

  test("a fresh file we write is byte-identical to the current Rust writer's", async (t) => {
    const { registry, root } = await tempRegistry(t);
    for (const name of ["v3-fresh.json", "v3-writer-v1-record.json"]) {
      const expected = readFileSync(fixturePath("rust-written", name), "utf8");
      const record = JSON.parse(expected);
      await registry.hardDelete(record.data.instance_id);
      await registry.upsert(record);
      assert.equal(
        readFileSync(join(root, `${record.data.instance_id}.json`), "utf8"),
        expected,
        name,
      );
    }
  });
});

describe("registry fixtures", () => {
  test("v1_minimal.json loads with absent optional fields as null", async (t) => {
    const { registry, root } = await tempRegistry(t);
    copyFileSync(fixturePath("registry", "v1_minimal.json"), join(root, "v1_minimal.json"));
    const record = await registry.get("v1_minimal");
    assert.equal(record?.data.identity_id, null);
    assert.equal(record?.data.session_id, null);
    assert.equal(record?.data.source_agents_base, null);
  });

  test("v1_with_future_fields.json loads and survives an update with its unknown fields intact", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const file = join(root, "v1_with_future_fields.json");
    copyFileSync(fixturePath("registry", "v1_with_future_fields.json"), file);
    const record = await registry.get("v1_with_future_fields");
    assert.deepEqual(record?.data.tags, ["pinned", "long-running"]);
    await registry.update("v1_with_future_fields", (r) => {
      r.data.last_launched_at_ms = 1_800_000_000_000;
      return r;
    });
    const text = readFileSync(file, "utf8");
    for (const fragment of [
      '"build": 12345678901234567890',
      '"weight": 1.0',
      '"ratio": 1E5',
      '"10": "ten"',
      "-0",
      "2.50",
      '"label": "café 🚀"',
      '"last_launched_at_ms": 1800000000000',
    ]) {
      assert.ok(text.includes(fragment), fragment);
    }
    assert.ok(text.indexOf('"written_by"') < text.indexOf('"data"'));
    assert.ok(text.indexOf('"10"') < text.indexOf('"b"'));
  });

  test("v999_unknown_envelope.json is skipped, reported and untouched", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const file = join(root, "v999_unknown_envelope.json");
    copyFileSync(fixturePath("registry", "v999_unknown_envelope.json"), file);
    const before = readFileSync(file);
    const scan = await registry.scan();
    assert.deepEqual(scan.active, []);
    assert.deepEqual(
      scan.skipped.map((s) => [s.file, s.reason]),
      [["v999_unknown_envelope.json", "newer-schema"]],
    );
    const outcome = await registry.update("v999_unknown_envelope", (r) => r);
    assert.equal(outcome.status === "skipped" && outcome.reason, "newer-schema");
    assert.deepEqual(readFileSync(file), before);
  });
});
