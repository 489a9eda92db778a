import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { LosslessNumber, RegistryError } from "../src/index.js";
import { makeRecord, namesIn, tempRegistry } from "./helpers.js";

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(
    promise,
    (error: unknown) => error instanceof RegistryError && error.code === code,
  );

const withUnknown = (text: string) =>
  text
    .replace(
      '"schema_version": 1,',
      '"schema_version": 1,\n  "top": {"big": 18446744073709551615, "f": 1.0},',
    )
    .replace(
      '"last_launched_by_version": "0.1.0"',
      '"last_launched_by_version": "0.1.0",\n    "e": 1E5, "10": "ten"',
    );

describe("update(id, change)", () => {
  test("the change sees unknown fields; numbers JavaScript cannot hold are LosslessNumbers", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const file = join(root, "aaa.json");
    writeFileSync(file, withUnknown(readFileSync(file, "utf8")));
    let seen: Record<string, unknown> | undefined;
    await registry.update("aaa", (record) => {
      seen = record;
      return record;
    });
    const top = seen?.top as { big: unknown; f: unknown };
    assert.ok(top.big instanceof LosslessNumber);
    assert.equal(String(top.big), "18446744073709551615");
    assert.equal(String(top.f), "1.0");
    assert.ok(seen);
    assert.equal((seen.data as Record<string, unknown>)["10"], "ten");
  });

  test("an unchanged record is not rewritten; fields the change did not touch keep their bytes", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const file = join(root, "aaa.json");
    const original = withUnknown(readFileSync(file, "utf8"));
    writeFileSync(file, original);
    assert.deepEqual(await registry.update("aaa", (r) => r), { status: "unchanged" });
    assert.equal(readFileSync(file, "utf8"), original);
    assert.deepEqual(
      await registry.update("aaa", (r) => {
        r.data.last_launched_at_ms = 7;
        return r;
      }),
      { status: "updated" },
    );
    const after = readFileSync(file, "utf8");
    assert.match(after, /"big": 18446744073709551615,\n {4}"f": 1\.0/);
    assert.match(after, /"e": 1E5,\n {4}"10": "ten"/);
    assert.match(after, /"last_launched_at_ms": 7,/);
  });

  test("a change may add, alter and remove unknown fields; new keys are appended", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.update("aaa", (r) => ({
      ...r,
      extra: [1, 2],
      data: { ...r.data, tags: ["x"] },
    }));
    await registry.update("aaa", (r) => {
      delete r.extra;
      r.data.tags = ["x", "y"];
      r.data.exact = new LosslessNumber("12345678901234567890");
      return r;
    });
    const record = await registry.get("aaa");
    assert.equal(record?.extra, undefined);
    assert.deepEqual(record?.data.tags, ["x", "y"]);
    assert.equal(String(record?.data.exact), "12345678901234567890");
    assert.deepEqual(Object.keys(record?.data ?? {}).slice(-2), ["tags", "exact"]);
  });

  test("schema_version is restamped from the result", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.update("aaa", (r) => ({ ...r, data: { ...r.data, session_id: "s-1" } }));
    assert.equal((await registry.get("aaa"))?.schema_version, 2);
    await registry.update("aaa", (r) => ({
      ...r,
      schema_version: 1,
      data: { ...r.data, source_agents_base: "/base" },
    }));
    assert.equal((await registry.get("aaa"))?.schema_version, 3);
  });

  test("an async change works", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.update("aaa", async (r) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      r.data.instance_name = "later";
      return r;
    });
    assert.equal((await registry.get("aaa"))?.data.instance_name, "later");
  });

  test("a result that is not a valid record for the same id is INVALID_RECORD and writes nothing", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const before = readFileSync(join(root, "aaa.json"));
    const changes = [
      (r: Record<string, unknown>) => ({
        ...r,
        data: { ...(r.data as object), instance_id: "bbb" },
      }),
      (r: Record<string, unknown>) => ({
        ...r,
        data: { ...(r.data as object), working_dir: "../x" },
      }),
      (r: Record<string, unknown>) => ({
        ...r,
        data: { ...(r.data as object), instance_name: "" },
      }),
      (r: Record<string, unknown>) => ({
        ...r,
        data: { ...(r.data as object), extra: Number.NaN },
      }),
      () => null,
      () => [1],
    ];
    for (const change of changes) {
      await rejectsWith(registry.update("aaa", change as never), "INVALID_RECORD");
    }
    assert.deepEqual(readFileSync(join(root, "aaa.json")), before);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("a file that parses but is not a valid record is INVALID_FILE", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const text = JSON.stringify({
      ...makeRecord("aaa"),
      data: { ...makeRecord("aaa").data, working_dir: "/abs" },
    });
    writeFileSync(join(root, "aaa.json"), text);
    await rejectsWith(
      registry.update("aaa", (r) => r),
      "INVALID_FILE",
    );
    assert.equal(readFileSync(join(root, "aaa.json"), "utf8"), text);
  });

  test("a missing record is skipped/absent; a retired one skipped/retired", async (t) => {
    const { registry } = await tempRegistry(t);
    const absent = await registry.update("aaa", (r) => r);
    assert.equal(absent.status === "skipped" && absent.reason, "absent");
    await registry.upsert(makeRecord("aaa"));
    await registry.retire("aaa");
    const retired = await registry.update("aaa", (r) => r);
    assert.equal(retired.status === "skipped" && retired.reason, "retired");
  });

  test("a change that is not a function is INVALID_ARGUMENT", async (t) => {
    const { registry } = await tempRegistry(t);
    await rejectsWith(registry.update("aaa", 5 as never), "INVALID_ARGUMENT");
  });

  test("concurrent updates of one id in one process lose nothing", async (t) => {
    const { registry } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        registry.update("aaa", async (r) => {
          await new Promise((resolve) => setImmediate(resolve));
          const tags = (r.data.tags as string[] | undefined) ?? [];
          return { ...r, data: { ...r.data, tags: [...tags, `m${i}`] } };
        }),
      ),
    );
    const tags = (await registry.get("aaa"))?.data.tags as string[];
    assert.equal(tags.length, 20);
  });
});

describe("upsert with unknown fields from the caller", () => {
  test("a record read with get() and upserted back is unchanged", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const file = join(root, "aaa.json");
    writeFileSync(file, withUnknown(readFileSync(file, "utf8")));
    const record = await registry.get("aaa");
    assert.ok(record);
    assert.deepEqual(await registry.upsert(record), { status: "unchanged" });
  });

  test("a fresh file has every known field in canonical order, optional ones as null", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const input = makeRecord("aaa");
    delete input.data.identity_id;
    await registry.upsert({ ...input, data: { ...input.data, zzz: 1 } });
    const text = readFileSync(join(root, "aaa.json"), "utf8");
    assert.deepEqual(
      [...text.matchAll(/^ {4}"(\w+)"/gm)].map((m) => m[1]),
      [
        "instance_id",
        "instance_name",
        "definition_id",
        "identity_id",
        "memory_id",
        "session_id",
        "working_dir",
        "source_agents_base",
        "created_at_ms",
        "last_launched_at_ms",
        "created_by_version",
        "last_launched_by_version",
        "zzz",
      ],
    );
    assert.ok(text.startsWith('{\n  "schema_version": 1,\n  "data": {\n'));
    assert.ok(text.endsWith("}\n") && !text.endsWith("\n\n"));
  });

  test("an invalid record is INVALID_RECORD and nothing is written", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await rejectsWith(
      registry.upsert(makeRecord("aaa", { working_dir: "/etc" })),
      "INVALID_RECORD",
    );
    await rejectsWith(registry.upsert(makeRecord("aaa", { instance_name: "" })), "INVALID_RECORD");
    await rejectsWith(registry.upsert(makeRecord("aaa", { created_at_ms: 1.5 })), "INVALID_RECORD");
    await rejectsWith(registry.upsert({ data: null } as never), "INVALID_RECORD");
    // Everything written must be readable: a value nested deeper than a reader accepts is refused.
    let deep: unknown = 1;
    for (let i = 0; i < 600; i++) deep = [deep];
    await rejectsWith(registry.upsert({ ...makeRecord("aaa"), extra: deep }), "RECORD_TOO_LARGE");
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  test("the wrote event carries file, schema_version, fields and elapsed time", async (t) => {
    const { registry } = await tempRegistry(t);
    const events: Record<string, unknown>[] = [];
    registry.on("wrote", (event) => events.push({ ...event }));
    await registry.upsert(makeRecord("aaa", { session_id: "s" }));
    assert.equal(events.length, 1);
    assert.equal(events[0]?.file, "aaa.json");
    assert.equal(events[0]?.schema_version, 2);
    assert.equal(events[0]?.fields, 12);
    assert.equal(typeof events[0]?.elapsed_ms, "number");
  });

  test("the loaded event counts each tree read, null for a tree not read", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.upsert(makeRecord("bbb"));
    await registry.retire("bbb");
    writeFileSync(join(root, "bad.json"), "{");
    const events: Record<string, unknown>[] = [];
    registry.on("loaded", (event) => events.push({ ...event }));
    await registry.listActive();
    await registry.listRetired();
    await registry.scan();
    assert.deepEqual(
      events.map(({ slowest_file_ms, ...rest }) => {
        assert.equal(typeof slowest_file_ms, "number");
        return rest;
      }),
      [
        { active_count: 1, retired_count: null, skipped_count: 1 },
        { active_count: null, retired_count: 1, skipped_count: 0 },
        { active_count: 1, retired_count: 1, skipped_count: 1 },
      ],
    );
  });

  test("an injected logger hears about skips", async (t) => {
    const warnings: string[] = [];
    const noop = () => {};
    const logger = {
      debug: noop,
      info: noop,
      error: noop,
      warn: (_: object, message: string) => warnings.push(message),
    };
    const { registry, root } = await tempRegistry(t, { logger });
    writeFileSync(join(root, "bad.json"), "{");
    await registry.listActive();
    assert.equal(warnings.length, 1);
  });
});
