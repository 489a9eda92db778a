import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type RecordScope, RegistryError } from "../src/index.js";
import { makeRecord, namesIn, tempRegistry } from "./helpers.js";

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(
    promise,
    (error: unknown) => error instanceof RegistryError && error.code === code,
  );

describe("store (SPEC §13)", () => {
  test("create then list", async (t) => {
    const { registry } = await tempRegistry(t);
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
    const listed = await registry.listActive();
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.data.instance_id, "aaa");
    assert.equal(listed[0]?.data.session_id, null);
    assert.equal(listed[0]?.schema_version, 1);
  });

  test("update replaces known fields", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const outcome = await registry.upsert(
      makeRecord("aaa", { instance_name: "renamed", last_launched_at_ms: 5 }),
    );
    assert.deepEqual(outcome, { status: "updated" });
    const record = await registry.get("aaa");
    assert.equal(record?.data.instance_name, "renamed");
    assert.equal(record?.data.last_launched_at_ms, 5);
  });

  test("an identical upsert writes nothing and says unchanged", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const wrote: unknown[] = [];
    registry.on("wrote", (event) => wrote.push(event));
    const before = readFileSync(join(root, "aaa.json"));
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "unchanged" });
    assert.deepEqual(readFileSync(join(root, "aaa.json")), before);
    assert.equal(wrote.length, 0);
  });

  test("get of a missing id is null", async (t) => {
    const { registry } = await tempRegistry(t);
    assert.equal(await registry.get("nope"), null);
  });

  test("get sees active records, not retired ones", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.retire("aaa");
    assert.equal(await registry.get("aaa"), null);
    assert.equal(await registry.exists("aaa"), false);
    assert.equal(await registry.existsAnywhere("aaa"), true);
  });

  test("retire then unretire round-trips, the tombstone exists in between", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const bytes = readFileSync(join(root, "aaa.json"));
    assert.deepEqual(await registry.retire("aaa"), { moved: true });
    assert.ok(existsSync(join(root, "retired", "aaa.json")));
    assert.ok(!existsSync(join(root, "aaa.json")));
    assert.equal((await registry.listRetired()).length, 1);
    assert.deepEqual(await registry.unretire("aaa"), { moved: true });
    assert.ok(!existsSync(join(root, "retired", "aaa.json")));
    assert.deepEqual(readFileSync(join(root, "aaa.json")), bytes);
  });

  test("retire and unretire of an absent id are fine and say absent", async (t) => {
    const { registry } = await tempRegistry(t);
    assert.deepEqual(await registry.retire("ghost"), { moved: false, reason: "absent" });
    assert.deepEqual(await registry.unretire("ghost"), { moved: false, reason: "absent" });
  });

  test("retire replaces an older tombstone", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa", { instance_name: "old" }));
    await registry.retire("aaa");
    await registry
      .upsert({ ...makeRecord("aaa", { instance_name: "new" }) })
      .then((o) => assert.equal(o.status, "skipped"));
    writeFileSync(
      join(root, "aaa.json"),
      readFileSync(join(root, "retired", "aaa.json"), "utf8").replace('"old"', '"new"'),
    );
    assert.deepEqual(await registry.retire("aaa"), { moved: true });
    const retired = await registry.listRetired();
    assert.equal(retired[0]?.data.instance_name, "new");
  });

  test("unretire never replaces an active record", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa", { instance_name: "tomb" }));
    await registry.retire("aaa");
    await registry.unretire("aaa");
    await registry.retire("aaa");
    writeFileSync(
      join(root, "aaa.json"),
      `${JSON.stringify(makeRecord("aaa", { instance_name: "live" }), null, 2)}\n`,
    );
    const active = readFileSync(join(root, "aaa.json"));
    const tomb = readFileSync(join(root, "retired", "aaa.json"));
    assert.deepEqual(await registry.unretire("aaa"), { moved: false, reason: "active-exists" });
    assert.deepEqual(readFileSync(join(root, "aaa.json")), active);
    assert.deepEqual(readFileSync(join(root, "retired", "aaa.json")), tomb);
  });

  test("upsert never resurrects a retired id", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.retire("aaa");
    const outcome = await registry.upsert(makeRecord("aaa", { last_launched_at_ms: 9 }));
    assert.equal(outcome.status, "skipped");
    assert.equal(outcome.status === "skipped" && outcome.reason, "retired");
    assert.ok(!existsSync(join(root, "aaa.json")));
    const update = await registry.update("aaa", (r) => r);
    assert.equal(update.status === "skipped" && update.reason, "retired");
  });

  test("hard delete removes both trees", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.retire("aaa");
    await registry.upsert(makeRecord("aaa")).then((o) => assert.equal(o.status, "skipped"));
    writeFileSync(join(root, "aaa.json"), readFileSync(join(root, "retired", "aaa.json")));
    assert.equal(await registry.hardDelete("aaa"), 2);
    assert.ok(!existsSync(join(root, "aaa.json")));
    assert.ok(!existsSync(join(root, "retired", "aaa.json")));
    assert.equal(await registry.hardDelete("aaa"), 0);
  });

  test("hard delete by file key leaves a launch-keyed record; agent scope removes it, retired too", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-8", { definition_id: "agent-1" }));
    await registry.retire("launch-8");
    await registry.upsert(makeRecord("other", { definition_id: "agent-2" }));

    assert.equal(await registry.hardDeleteForAgent("agent-1", "file-key-only"), 1);
    assert.ok(existsSync(join(root, "launch-7.json")));

    assert.equal(await registry.hardDeleteForAgent("agent-1", "agent"), 2);
    assert.ok(!existsSync(join(root, "launch-7.json")));
    assert.ok(!existsSync(join(root, "retired", "launch-8.json")));
    assert.ok(existsSync(join(root, "other.json")));
  });

  test("agent scope also matches a record's own file key", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "template-x" }));
    assert.equal(await registry.hardDeleteForAgent("agent-1", "agent"), 1);
  });

  test("agent-scope delete of an unknown id returns 0", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("other"));
    assert.equal(await registry.hardDeleteForAgent("unknown", "agent"), 0);
  });

  test("a boolean or unknown scope is INVALID_ARGUMENT", async (t) => {
    const { registry } = await tempRegistry(t);
    for (const scope of [true, "all", undefined] as unknown as RecordScope[]) {
      await rejectsWith(registry.hardDeleteForAgent("aaa", scope), "INVALID_ARGUMENT");
      await rejectsWith(registry.retireForAgent("aaa", scope), "INVALID_ARGUMENT");
      await rejectsWith(registry.setInstanceNameForAgent("aaa", scope, "x"), "INVALID_ARGUMENT");
    }
  });

  test("retire/unretire for agent move every record and each keeps its file name", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("other", { definition_id: "agent-2" }));
    assert.equal(await registry.retireForAgent("agent-1", "agent"), 2);
    assert.deepEqual(namesIn(join(root, "retired")), ["agent-1.json", "launch-7.json"]);
    assert.deepEqual(namesIn(root), ["other.json", "retired"]);
    assert.equal(await registry.unretireForAgent("agent-1", "agent"), 2);
    assert.deepEqual(namesIn(root), ["agent-1.json", "launch-7.json", "other.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
  });

  test("rename for agent renames every active record, then returns 0; skips unnamed and retired", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-8", { definition_id: "agent-1" }));
    await registry.retire("launch-8");
    const unnamed = JSON.stringify(
      makeRecord("launch-9", { definition_id: "agent-1", instance_name: "" }),
    );
    writeFileSync(join(root, "launch-9.json"), unnamed);

    assert.equal(await registry.setInstanceNameForAgent("agent-1", "agent", "Maks"), 2);
    assert.equal(await registry.setInstanceNameForAgent("agent-1", "agent", "Maks"), 0);
    for (const record of await registry.listActive())
      assert.equal(record.data.instance_name, "Maks");
    assert.equal(readFileSync(join(root, "launch-9.json"), "utf8"), unnamed);
    const retired = await registry.listRetired();
    assert.equal(retired[0]?.data.instance_name, "name-launch-8");
    assert.ok(!existsSync(join(root, "launch-8.json")));
  });

  test("rename with file-key-only scope touches only that file", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    assert.equal(await registry.setInstanceNameForAgent("agent-1", "file-key-only", "Solo"), 1);
    assert.equal((await registry.get("launch-7"))?.data.instance_name, "name-launch-7");
    await rejectsWith(
      registry.setInstanceNameForAgent("agent-1", "file-key-only", ""),
      "INVALID_ARGUMENT",
    );
  });

  test("a v999 file is skipped and stays", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const text = '{"schema_version": 999, "data": {"instance_id": "zzz"}}';
    writeFileSync(join(root, "zzz.json"), text);
    const skipped: unknown[] = [];
    registry.on("skipped", (s) => skipped.push(s));
    assert.deepEqual(await registry.listActive(), []);
    assert.equal(skipped.length, 1);
    assert.equal((skipped[0] as { reason: string }).reason, "newer-schema");
    assert.equal(readFileSync(join(root, "zzz.json"), "utf8"), text);
  });

  test("unknown data.tags survives an update", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const text = readFileSync(join(root, "aaa.json"), "utf8").replace(
      '"last_launched_by_version": "0.1.0"',
      '"last_launched_by_version": "0.1.0",\n    "tags": ["a", {"deep": [1.0, 12345678901234567890]}]',
    );
    writeFileSync(join(root, "aaa.json"), text);
    await registry.upsert(makeRecord("aaa", { last_launched_at_ms: 42 }));
    const after = readFileSync(join(root, "aaa.json"), "utf8");
    assert.match(
      after,
      /"tags": \[\n {6}"a",\n {6}\{\n {8}"deep": \[\n {10}1\.0,\n {10}12345678901234567890\n/,
    );
    await registry.update("aaa", (r) => ({ ...r, data: { ...r.data, last_launched_at_ms: 43 } }));
    assert.equal(
      readFileSync(join(root, "aaa.json"), "utf8"),
      after.replace('"last_launched_at_ms": 42', '"last_launched_at_ms": 43'),
    );
  });

  for (const [name, text, reason] of [
    ["a corrupt file", "{ not json", "unparseable"],
    ["a v999 file", '{"schema_version": 999, "data": {"instance_id": "aaa"}}', "newer-schema"],
    [
      "a file with schema_version 4294967296",
      '{"schema_version": 4294967296, "data": {}}',
      "missing-schema-version",
    ],
    ["a file without schema_version", '{"data": {"instance_id": "aaa"}}', "missing-schema-version"],
    [
      'a file with schema_version "1"',
      '{"schema_version": "1", "data": {}}',
      "missing-schema-version",
    ],
    [
      "a file with schema_version 1.0",
      '{"schema_version": 1.0, "data": {}}',
      "missing-schema-version",
    ],
    ["a file with schema_version 0", '{"schema_version": 0, "data": {}}', "older-schema"],
    [
      "a file with a repeated key",
      '{"schema_version": 1, "x": 1, "x": 2, "data": {}}',
      "unparseable",
    ],
    ["a file with a BOM", '\ufeff{"schema_version": 1, "data": {}}', "unparseable"],
  ] as const) {
    test(`${name} is left byte-identical by upsert and update`, async (t) => {
      const { registry, root } = await tempRegistry(t);
      const file = join(root, "aaa.json");
      writeFileSync(file, text);
      const outcome = await registry.upsert(makeRecord("aaa"));
      assert.equal(outcome.status, "skipped");
      assert.equal(outcome.status === "skipped" && outcome.reason, reason);
      const updated = await registry.update("aaa", (r) => r);
      assert.equal(updated.status === "skipped" && updated.reason, reason);
      assert.equal(readFileSync(file, "utf8"), text);
      assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
    });
  }

  test("an over-large or non-regular existing entry is refused and left alone", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const big = `{"schema_version": 1, "pad": "${"x".repeat(1024 * 1024)}"}`;
    writeFileSync(join(root, "big.json"), big);
    assert.equal((await registry.upsert(makeRecord("big"))).status, "skipped");
    assert.equal(readFileSync(join(root, "big.json"), "utf8"), big);
    mkdirSync(join(root, "dir.json"));
    const outcome = await registry.upsert(makeRecord("dir"));
    assert.equal(outcome.status === "skipped" && outcome.reason, "not-regular-file");
    await rejectsWith(registry.get("dir"), "INVALID_FILE");
    await rejectsWith(registry.get("big"), "INVALID_FILE");
  });

  test("a symlinked record is never followed: listing skips it, upsert refuses it", async (t) => {
    const { registry, root, dir } = await tempRegistry(t);
    const outside = join(dir, "outside.json");
    const text = JSON.stringify(makeRecord("lnk"));
    writeFileSync(outside, text);
    symlinkSync(outside, join(root, "lnk.json"));
    const scan = await registry.scan();
    assert.deepEqual(scan.active, []);
    assert.deepEqual(
      scan.skipped.map((s) => [s.file, s.reason]),
      [["lnk.json", "not-regular-file"]],
    );
    const outcome = await registry.upsert(makeRecord("lnk", { instance_name: "changed" }));
    assert.equal(outcome.status === "skipped" && outcome.reason, "not-regular-file");
    assert.equal(readFileSync(outside, "utf8"), text);
    await rejectsWith(registry.retire("lnk"), "INVALID_FILE");
  });

  test("a file whose name differs from its instance_id is skipped", async (t) => {
    const { registry, root } = await tempRegistry(t);
    writeFileSync(join(root, "bbb.json"), JSON.stringify(makeRecord("aaa")));
    const scan = await registry.scan();
    assert.deepEqual(scan.active, []);
    assert.deepEqual(scan.skipped, [
      { file: "bbb.json", reason: "id-mismatch", message: scan.skipped[0]?.message },
    ]);
    await rejectsWith(registry.get("bbb"), "INVALID_FILE");
  });

  test("readme.txt and hidden files are ignored silently", async (t) => {
    const { registry, root } = await tempRegistry(t);
    writeFileSync(join(root, "readme.txt"), "hello");
    writeFileSync(join(root, ".registry-tmp-abc123.json"), "{ partial");
    writeFileSync(join(root, ".migrated_from_sqlite"), "migration_version: 2\n");
    await registry.upsert(makeRecord("aaa"));
    const scan = await registry.scan();
    assert.equal(scan.active.length, 1);
    assert.deepEqual(scan.skipped, []);
  });

  test("skipped files in retired/ are reported relative to the root", async (t) => {
    const { registry, root } = await tempRegistry(t);
    writeFileSync(join(root, "retired", "x.json"), "[]");
    const scan = await registry.scan();
    assert.deepEqual(
      scan.skipped.map((s) => [s.file, s.reason]),
      [["retired/x.json", "not-an-object"]],
    );
  });

  test("16 concurrent upserts of one id leave one valid record holding one of the 16 values", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const stamps = Array.from({ length: 16 }, (_, i) => 1_000 + i);
    const outcomes = await Promise.all(
      stamps.map((ms) => registry.upsert(makeRecord("aaa", { last_launched_at_ms: ms }))),
    );
    assert.equal(outcomes.filter((o) => o.status === "created").length, 1);
    const record = await registry.get("aaa");
    assert.ok(record && stamps.includes(record.data.last_launched_at_ms));
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("records and directories are created owner-only", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const { statSync } = await import("node:fs");
    assert.equal(statSync(join(root, "aaa.json")).mode & 0o777, 0o600);
    assert.equal(statSync(root).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, "retired")).mode & 0o777, 0o700);
  });
});

describe("ids are checked before any path is built", () => {
  const bad = [
    "../../x",
    "a/b",
    "a\\b",
    ".hidden",
    "trailing.",
    "CON",
    "con.json",
    "lpt9",
    "",
    "x".repeat(129),
    "a b",
    "a\u0000",
  ];
  for (const id of bad) {
    test(`${JSON.stringify(id.length > 20 ? `${id.slice(0, 10)}…` : id)} is INVALID_ID everywhere and writes nothing`, async (t) => {
      const { registry, dir } = await tempRegistry(t);
      const before = namesIn(dir);
      await rejectsWith(registry.upsert(makeRecord(id)), "INVALID_ID");
      await rejectsWith(registry.get(id), "INVALID_ID");
      await rejectsWith(registry.exists(id), "INVALID_ID");
      await rejectsWith(registry.existsAnywhere(id), "INVALID_ID");
      await rejectsWith(registry.retire(id), "INVALID_ID");
      await rejectsWith(registry.unretire(id), "INVALID_ID");
      await rejectsWith(registry.hardDelete(id), "INVALID_ID");
      await rejectsWith(
        registry.update(id, (r) => r),
        "INVALID_ID",
      );
      await rejectsWith(registry.hardDeleteForAgent(id, "agent"), "INVALID_ID");
      await rejectsWith(registry.setInstanceNameForAgent(id, "agent", "x"), "INVALID_ID");
      assert.deepEqual(namesIn(dir), before);
      assert.deepEqual(namesIn(join(dir, "registry")), ["retired"]);
    });
  }

  test("UUIDs, short ids and 128-char ids are valid", async (t) => {
    const { registry } = await tempRegistry(t);
    for (const id of [
      "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001",
      "aaa",
      "old-launch-id",
      "x".repeat(128),
      "CONSOLE",
      "a.b_c-d",
    ]) {
      assert.equal((await registry.upsert(makeRecord(id))).status, "created", id);
    }
  });
});
