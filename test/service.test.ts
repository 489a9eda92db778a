import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { RegistryError, RegistryService } from "../src/index.js";
import { slugify } from "../src/service.js";
import { makeRecord, namesIn, tempRegistry } from "./helpers.js";

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  assert.rejects(
    promise,
    (error: unknown) => error instanceof RegistryError && error.code === code,
  );

async function setup(t: Parameters<typeof tempRegistry>[0], now = 1_800_000_000_000) {
  const { registry, root, dir } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  const service = new RegistryService(registry, {
    version: "9.9.9",
    home: join(dir, "home"),
    now: () => now,
  });
  return { registry, root, dir, service, base: registry.agentsBase };
}

describe("RegistryService", () => {
  test("listNamedAgents: newest launch first, then id; exact definition filter; limits", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("b", { last_launched_at_ms: 5 }));
    await registry.upsert(makeRecord("a", { last_launched_at_ms: 5 }));
    await registry.upsert(makeRecord("c", { last_launched_at_ms: 9, definition_id: "gemini" }));
    await registry.upsert(makeRecord("d", { last_launched_at_ms: 1 }));
    const ids = (records: { data: { instance_id: string } }[]) =>
      records.map((r) => r.data.instance_id);
    assert.deepEqual(ids(await service.listNamedAgents()), ["c", "a", "b", "d"]);
    assert.deepEqual(ids(await service.listNamedAgents({ definitionId: "gemini" })), ["c"]);
    assert.deepEqual(ids(await service.listNamedAgents({ definitionId: "gem" })), []);
    assert.deepEqual(ids(await service.listNamedAgents({ limit: 2 })), ["c", "a"]);
    assert.equal((await service.listNamedAgents({ limit: 0 })).length, 4);
    await rejectsWith(service.listNamedAgents({ limit: -1 }), "INVALID_ARGUMENT");
    await rejectsWith(service.listNamedAgents({ limit: 1.5 }), "INVALID_ARGUMENT");
  });

  test("listNamedAgents follows changes between calls (its sort is reused only for the same records)", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("a", { last_launched_at_ms: 1 }));
    await registry.upsert(makeRecord("b", { last_launched_at_ms: 2 }));
    const first = await service.listNamedAgents();
    assert.deepEqual(
      first.map((r) => r.data.instance_id),
      ["b", "a"],
    );
    await registry.update("a", (r) => ({ ...r, data: { ...r.data, last_launched_at_ms: 3 } }));
    assert.deepEqual(
      (await service.listNamedAgents()).map((r) => r.data.instance_id),
      ["a", "b"],
    );
    await registry.retire("a");
    assert.deepEqual(
      (await service.listNamedAgents()).map((r) => r.data.instance_id),
      ["b"],
    );
  });

  test("listNamedAgents: absent limit means 200, and at most 1000", async (t) => {
    const { registry, service } = await setup(t);
    await registry.importRecords(
      Array.from({ length: 1005 }, (_, i) => ({ record: makeRecord(`r${i}`) })),
    );
    assert.equal((await service.listNamedAgents()).length, 200);
    assert.equal((await service.listNamedAgents({ limit: 5000 })).length, 1000);
  });

  test("continueAgent records the launch and resolves the working dir", async (t) => {
    const { registry, service, base } = await setup(t, 2_000_000_000_000);
    await registry.upsert(makeRecord("aaa", { session_id: "held" }));
    fs.mkdirSync(join(base, "aaa-wd"));
    const result = await service.continueAgent("aaa", { version: "1.2.3" });
    assert.equal(result.workingDir, fs.realpathSync(join(base, "aaa-wd")));
    assert.equal(result.record.data.last_launched_at_ms, 2_000_000_000_000);
    assert.equal(result.record.data.last_launched_by_version, "1.2.3");
    assert.equal(
      result.record.data.session_id,
      "held",
      "a held session id is never replaced by nothing",
    );
    const again = await service.continueAgent("aaa", { sessionId: "new" });
    assert.equal(again.record.data.session_id, "new");
    assert.equal(again.record.data.last_launched_by_version, "9.9.9");
  });

  test("continueAgent uses source_agents_base when the record has one", async (t) => {
    const { registry, service, dir } = await setup(t);
    const otherBase = join(dir, "channel-agents");
    fs.mkdirSync(join(otherBase, "aaa-wd"), { recursive: true });
    await registry.upsert(makeRecord("aaa", { source_agents_base: otherBase }));
    assert.equal(
      (await service.continueAgent("aaa")).workingDir,
      fs.realpathSync(join(otherBase, "aaa-wd")),
    );
  });

  test("continueAgent: unknown agent, missing dir, and a dir escaping its base through a symlink", async (t) => {
    const { registry, service, base, dir } = await setup(t);
    await rejectsWith(service.continueAgent("nope"), "AGENT_NOT_FOUND");
    await rejectsWith(service.continueAgent("../x"), "INVALID_ID");
    await registry.upsert(makeRecord("aaa"));
    await rejectsWith(service.continueAgent("aaa"), "WORKING_DIR_MISSING");
    fs.writeFileSync(join(base, "aaa-wd"), "a file, not a directory");
    await rejectsWith(service.continueAgent("aaa"), "WORKING_DIR_MISSING");
    fs.rmSync(join(base, "aaa-wd"));
    fs.mkdirSync(join(dir, "elsewhere"));
    fs.symlinkSync(join(dir, "elsewhere"), join(base, "aaa-wd"));
    const before = fs.readFileSync(join(registry.root, "aaa.json"));
    await rejectsWith(service.continueAgent("aaa"), "WORKING_DIR_ESCAPES");
    assert.deepEqual(
      fs.readFileSync(join(registry.root, "aaa.json")),
      before,
      "a refused continue records nothing",
    );
    await registry.retire("aaa");
    await rejectsWith(service.continueAgent("aaa"), "AGENT_NOT_FOUND");
  });

  test("a symlink that stays inside the base is fine", async (t) => {
    const { registry, service, base } = await setup(t);
    fs.mkdirSync(join(base, "real-dir"));
    fs.symlinkSync(join(base, "real-dir"), join(base, "aaa-wd"));
    await registry.upsert(makeRecord("aaa"));
    assert.equal(
      (await service.continueAgent("aaa")).workingDir,
      fs.realpathSync(join(base, "real-dir")),
    );
  });

  test("forget, restore, rename and delete act on every record of the agent", async (t) => {
    const { registry, service, base } = await setup(t);
    await registry.upsert(makeRecord("agent-1", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    fs.mkdirSync(join(base, "agent-1-wd"));
    assert.equal(await service.renameAgent("agent-1", "Maks"), 2);
    assert.equal(await service.forgetAgent("agent-1"), 2);
    await rejectsWith(service.forgetAgent("agent-1"), "AGENT_NOT_FOUND");
    await rejectsWith(service.renameAgent("agent-1", "x"), "AGENT_NOT_FOUND");
    assert.deepEqual(
      (await service.listRetired()).map((r) => r.data.instance_name),
      ["Maks", "Maks"],
    );
    assert.equal(await service.restoreAgent("agent-1"), 2);
    await rejectsWith(service.restoreAgent("agent-1"), "CONFLICT");
    await rejectsWith(service.restoreAgent("ghost"), "AGENT_NOT_FOUND");
    await rejectsWith(service.renameAgent("agent-1", " "), "INVALID_NAME");
    assert.equal(await service.deleteAgent("agent-1"), 2);
    await rejectsWith(service.deleteAgent("agent-1"), "AGENT_NOT_FOUND");
    assert.ok(fs.existsSync(join(base, "agent-1-wd")), "the working dir is never deleted");
  });

  test("createAgent: UUID, slugged working dir created under the base, -2/-3 on clashes", async (t) => {
    const { registry, service, base } = await setup(t);
    const first = await service.createAgent({
      name: "Live Log!",
      definitionId: "claude-code",
      memoryId: "m",
    });
    assert.match(first.record.data.instance_id, /^[0-9a-f-]{36}$/);
    assert.equal(first.record.data.working_dir, "live-log");
    assert.equal(first.record.data.source_agents_base, base);
    assert.equal(first.record.data.memory_id, "m");
    assert.equal(first.record.data.created_by_version, "9.9.9");
    assert.equal(first.record.schema_version, 3);
    assert.ok(fs.statSync(join(base, "live-log")).isDirectory());
    fs.mkdirSync(join(base, "live-log-2"));
    const second = await service.createAgent({ name: "live log", definitionId: "gemini" });
    assert.equal(second.record.data.working_dir, "live-log-3");
    // A retired record still owns its name, even when its directory is gone.
    await registry.upsert(makeRecord("old", { working_dir: "solo" }));
    await registry.retire("old");
    assert.equal(
      (await service.createAgent({ name: "Solo", definitionId: "x" })).record.data.working_dir,
      "solo-2",
    );
    await rejectsWith(service.createAgent({ name: "", definitionId: "x" }), "INVALID_NAME");
    await rejectsWith(service.createAgent({ name: "x", definitionId: "" }), "INVALID_ARGUMENT");
  });

  test("slugs are safe working dirs", () => {
    assert.equal(slugify("Live Log 821"), "live-log-821");
    assert.equal(slugify("../../etc"), "etc");
    assert.equal(slugify("日本"), "agent");
    assert.equal(slugify("Ünïcödé"), "unicode");
    assert.ok(slugify("x".repeat(300)).length <= 64);
  });

  test("resolveAgent: by id, by unique name, ambiguous names list candidates, never a guess", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("a1", { instance_name: "twin", last_launched_at_ms: 1 }));
    await registry.upsert(makeRecord("a2", { instance_name: "twin", last_launched_at_ms: 2 }));
    await registry.upsert(makeRecord("a3", { instance_name: "solo" }));
    assert.equal((await service.resolveAgent("a1")).data.instance_id, "a1");
    assert.equal((await service.resolveAgent("solo")).data.instance_id, "a3");
    await assert.rejects(service.resolveAgent("twin"), (error: unknown) => {
      assert.ok(error instanceof RegistryError && error.code === "AMBIGUOUS_NAME");
      assert.deepEqual(
        (error.data.candidates as { id: string }[]).map((c) => c.id),
        ["a2", "a1"],
      );
      return true;
    });
    await rejectsWith(service.resolveAgent("nobody"), "AGENT_NOT_FOUND");
    await registry.retire("a3");
    assert.equal((await service.resolveAgent("solo", "retired")).data.instance_id, "a3");
  });

  test("resolveAgent in either tree finds a Trash agent by a name that is not a valid id", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("a1", { instance_name: "my agent!" }));
    await registry.retire("a1");
    assert.equal((await service.resolveAgent("my agent!", "either")).data.instance_id, "a1");
    // Neither a name in either tree nor a valid id; then a valid id that matches nothing.
    await rejectsWith(service.resolveAgent("nobody!", "either"), "INVALID_ID");
    await rejectsWith(service.resolveAgent("nobody", "either"), "AGENT_NOT_FOUND");
  });

  test("doctor reports every kind of problem with a fix and changes nothing unless asked", async (t) => {
    const { registry, service, root, dir } = await setup(t);
    await registry.upsert(makeRecord("both"));
    await registry.retire("both");
    fs.copyFileSync(join(root, "retired", "both.json"), join(root, "both.json"));
    fs.writeFileSync(join(root, "corrupt.json"), "{ not json");
    const old = new Date(Date.now() - 3_600_000);
    fs.writeFileSync(join(root, ".tmp-x.1.abc"), "partial");
    fs.utimesSync(join(root, ".tmp-x.1.abc"), old, old);
    const dbDir = join(dir, "home", "versions", "0.1.0", "data", "db");
    fs.mkdirSync(dbDir, { recursive: true });
    fs.writeFileSync(join(dbDir, "objects.db"), "");
    const before = namesIn(root);

    const report = await service.doctor();
    const kinds = report.problems.map((p) => `${p.kind}:${p.subject}`).sort();
    assert.deepEqual(kinds, [
      "in-both-trees:both",
      "migration-incomplete:.migrated_from_sqlite",
      "skipped-file:corrupt.json",
      "stale-file:.tmp-x.1.abc",
      "working-dir-missing:both",
    ]);
    for (const problem of report.problems)
      assert.ok(problem.fix.length > 0 && !problem.fix.includes("\n"));
    assert.deepEqual(namesIn(root), before, "doctor changes nothing");

    const fixed = await service.doctor({ fix: true });
    assert.deepEqual(fixed.fixed, [".tmp-x.1.abc"]);
    assert.ok(!fixed.problems.some((p) => p.kind === "stale-file"));
    assert.deepEqual(
      namesIn(root),
      before.filter((name) => name !== ".tmp-x.1.abc"),
    );
  });

  test("doctor on a healthy registry finds nothing", async (t) => {
    const { registry, service, base } = await setup(t);
    await registry.upsert(makeRecord("ok"));
    fs.mkdirSync(join(base, "ok-wd"));
    assert.deepEqual((await service.doctor()).problems, []);
  });
});
