/**
 * Everything written must be readable (SPEC §5): no write path may produce a file the reader then
 * skips, and input from a person is trimmed, bounded and free of characters that disguise text.
 * Each refusal happens before anything touches the disk.
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MAX_NAME_LENGTH } from "../src/core/input.js";
import type { PlainValue } from "../src/core/plain.js";
import { MAX_FILE_BYTES, type RecordInput, RegistryError, RegistryService } from "../src/index.js";
import { realFs } from "../src/io/fs.js";
import { makeRecord, namesIn, tempRegistry } from "./helpers.js";

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });

/** `depth` arrays nested in each other around a number. */
function nested(depth: number): PlainValue {
  let value: PlainValue = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

async function setup(t: Parameters<typeof tempRegistry>[0], options = {}) {
  const { registry, root, dir } = await tempRegistry(t, options);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  const service = new RegistryService(registry, { version: "9.9.9", now: () => 1_800_000_000_000 });
  return { registry, root, dir, service, base: registry.agentsBase };
}

describe("writes stay within the read limits", () => {
  test("a record one byte over the size limit is RECORD_TOO_LARGE; one at the limit is written and listed", async (t) => {
    const { registry, root } = await setup(t);
    const withName = (id: string, name: string) => makeRecord(id, { instance_name: name });
    await registry.upsert(withName("probe", "x"));
    const probeBytes = fs.statSync(join(root, "probe.json")).size;
    await registry.hardDelete("probe");
    // ASCII names: the file grows by exactly one byte per character.
    const fits = "n".repeat(MAX_FILE_BYTES - probeBytes + 1);
    assert.equal((await registry.upsert(withName("probe", fits))).status, "created");
    assert.equal(fs.statSync(join(root, "probe.json")).size, MAX_FILE_BYTES);
    assert.deepEqual(
      (await registry.listActive()).map((r) => r.data.instance_id),
      ["probe"],
    );
    // Same id length as the probe, so one more character is one byte over.
    await rejectsWith(registry.upsert(withName("over5", `${fits}n`)), "RECORD_TOO_LARGE");
    // Multi-byte characters count as their UTF-8 bytes, not as characters.
    const wide = "é".repeat(Math.ceil(MAX_FILE_BYTES / 2));
    await rejectsWith(registry.upsert(withName("wide", wide)), "RECORD_TOO_LARGE");
    assert.deepEqual(namesIn(root), ["probe.json", "retired"]);
  });

  test("a merge that would cross the size limit is refused and leaves the file byte-identical", async (t) => {
    const { registry, root } = await setup(t);
    await registry.upsert({ ...makeRecord("aaa"), notes: "a".repeat(600_000) });
    const before = fs.readFileSync(join(root, "aaa.json"));
    // Alone, the new record is well within the limit; merged with what the file keeps, it is not.
    const next: RecordInput = { ...makeRecord("aaa"), extra: "b".repeat(600_000) };
    await rejectsWith(registry.upsert(next), "RECORD_TOO_LARGE");
    assert.deepEqual(fs.readFileSync(join(root, "aaa.json")), before);
    assert.equal((await registry.listActive()).length, 1);
  });

  test("update: a change that grows the record past the limit is refused, the file untouched", async (t) => {
    const { registry, root } = await setup(t);
    await registry.upsert(makeRecord("aaa"));
    const before = fs.readFileSync(join(root, "aaa.json"));
    const huge = "s".repeat(MAX_FILE_BYTES);
    await rejectsWith(
      registry.update("aaa", (r) => ({ ...r, data: { ...r.data, session_id: huge } })),
      "RECORD_TOO_LARGE",
    );
    assert.deepEqual(fs.readFileSync(join(root, "aaa.json")), before);
  });

  test("nesting: 512 levels in the file are written and read; 513 are RECORD_TOO_LARGE", async (t) => {
    const { registry, root } = await setup(t);
    // The top-level object is level 1 and `data` level 2: 510 arrays inside it reach 512.
    const deepest = { ...makeRecord("aaa"), data: { ...makeRecord("aaa").data, x: nested(510) } };
    assert.equal((await registry.upsert(deepest as RecordInput)).status, "created");
    assert.equal((await registry.listActive()).length, 1);
    const tooDeep = { ...makeRecord("bbb"), data: { ...makeRecord("bbb").data, x: nested(511) } };
    await rejectsWith(registry.upsert(tooDeep as RecordInput), "RECORD_TOO_LARGE");
    await rejectsWith(
      registry.update("aaa", (r) => ({ ...r, data: { ...r.data, y: nested(511) } })),
      "RECORD_TOO_LARGE",
    );
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("bulk import refuses an oversized record before writing any of the batch", async (t) => {
    const { registry, root } = await setup(t);
    await rejectsWith(
      registry.importRecords([
        { record: makeRecord("aaa") },
        { record: makeRecord("bbb", { instance_name: "n".repeat(MAX_FILE_BYTES) }) },
      ]),
      "RECORD_TOO_LARGE",
    );
    assert.deepEqual(namesIn(root), ["retired"]);
  });
});

describe("names and fields from a person", () => {
  const hostileNames = [
    "evil\u202Etxt.exe",
    "a\u2066b",
    "a\u2069b",
    "tab\there",
    "line\nbreak",
    "nul\u0000",
    "del\u007F",
    "c1\u0085",
    "   ",
    "",
    "n".repeat(MAX_NAME_LENGTH + 1),
    "n".repeat(100_000),
  ];

  test("create refuses a hostile or oversized name with INVALID_NAME and leaves nothing behind", async (t) => {
    const { service, root, base } = await setup(t);
    for (const name of hostileNames) {
      await rejectsWith(service.createAgent({ name, definitionId: "claude-code" }), "INVALID_NAME");
    }
    assert.deepEqual(namesIn(root), ["retired"]);
    assert.deepEqual(fs.readdirSync(base), []);
  });

  test("create trims the name and accepts the longest allowed one, counted in characters", async (t) => {
    const { service } = await setup(t);
    const padded = await service.createAgent({ name: "  livelog  ", definitionId: "claude-code" });
    assert.equal(padded.record.data.instance_name, "livelog");
    // 256 astral characters: 512 UTF-16 units, still 256 characters.
    const longest = "🦀".repeat(MAX_NAME_LENGTH);
    const created = await service.createAgent({ name: longest, definitionId: "claude-code" });
    assert.equal(created.record.data.instance_name, longest);
  });

  test("create refuses oversized or hostile ids with INVALID_ARGUMENT, before making a directory", async (t) => {
    const { service, root, base } = await setup(t);
    const huge = "x".repeat(2_000_000);
    for (const input of [
      { name: "a", definitionId: huge },
      { name: "a", definitionId: "" },
      { name: "a", definitionId: "claude\u202E" },
      { name: "a", definitionId: "claude-code", identityId: huge },
      { name: "a", definitionId: "claude-code", memoryId: "m\n" },
      { name: "a", definitionId: "claude-code", sessionId: huge },
    ]) {
      await rejectsWith(service.createAgent(input), "INVALID_ARGUMENT");
    }
    assert.deepEqual(namesIn(root), ["retired"]);
    assert.deepEqual(fs.readdirSync(base), []);
  });

  test("create removes the working directory it made when the record write fails", async (t) => {
    const failingWrites = {
      ...realFs,
      writeSync: (() => {
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      }) as typeof fs.writeSync,
    };
    const { service, root, dir } = await setup(t, { fs: failingWrites });
    await rejectsWith(service.createAgent({ name: "doomed", definitionId: "claude-code" }), "IO");
    assert.deepEqual(fs.readdirSync(join(dir, "agents")), []);
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  test("create removes the agents base too when it made it for a write that failed", async (t) => {
    const failingWrites = {
      ...realFs,
      writeSync: (() => {
        throw Object.assign(new Error("EIO: i/o error"), { code: "EIO" });
      }) as typeof fs.writeSync,
    };
    const { registry, dir } = await tempRegistry(t, { fs: failingWrites });
    const service = new RegistryService(registry, { version: "9.9.9" });
    await rejectsWith(service.createAgent({ name: "doomed", definitionId: "claude-code" }), "IO");
    assert.deepEqual(fs.readdirSync(dir), ["registry"]);
  });

  test("rename refuses a hostile or oversized name and changes nothing", async (t) => {
    const { registry, service, root } = await setup(t);
    await registry.upsert(makeRecord("aaa"));
    const before = fs.readFileSync(join(root, "aaa.json"));
    for (const name of hostileNames) {
      await rejectsWith(service.renameAgent("aaa", name), "INVALID_NAME");
    }
    assert.deepEqual(fs.readFileSync(join(root, "aaa.json")), before);
    assert.equal(await service.renameAgent("aaa", "  trimmed  "), 1);
    assert.equal((await registry.get("aaa"))?.data.instance_name, "trimmed");
  });

  test("continue refuses a huge or hostile session id and changes nothing", async (t) => {
    const { registry, service, root, base } = await setup(t);
    await registry.upsert(makeRecord("aaa", { source_agents_base: base }));
    fs.mkdirSync(join(base, "aaa-wd"));
    const before = fs.readFileSync(join(root, "aaa.json"));
    for (const sessionId of ["s".repeat(1_200_000), "s\u202E"]) {
      await rejectsWith(service.continueAgent("aaa", { sessionId }), "INVALID_ARGUMENT");
    }
    assert.deepEqual(fs.readFileSync(join(root, "aaa.json")), before);
    const continued = await service.continueAgent("aaa", { sessionId: "sess-1" });
    assert.equal(continued.record.data.session_id, "sess-1");
  });
});
