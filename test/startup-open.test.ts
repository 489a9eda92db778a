/**
 * Opening without creating (`create: false`, what read-only commands use) and the paths a command
 * works on (`choosePaths`: the agents base follows an explicit root).
 */

import assert from "node:assert/strict";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isRegistryError, Registry, RegistryService } from "../src/index.js";
import { choosePaths } from "../src/io/paths.js";
import { makeRecord, tempDir } from "./helpers.js";

const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

/** `IO` naming the missing directory, with `errno: "ENOENT"`. */
const refusedFor = (dir: string) => (error: unknown) =>
  isRegistryError(error, "IO") &&
  error.data.errno === "ENOENT" &&
  error.data.path === dir &&
  error.message.includes(dir);

describe("Registry.open with create: false", { concurrency: true }, () => {
  test("a missing root is not created: it lists as empty, and every write fails naming it", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "typo", "registry");
    const registry = await Registry.open(root, { agentsBase: dir, create: false });
    assert.deepEqual(await registry.listActive(), []);
    assert.deepEqual(await registry.listRetired(), []);
    assert.deepEqual(await registry.scan(), { active: [], retired: [], skipped: [] });
    assert.equal(await registry.get("aaa"), null);
    assert.equal(await registry.existsAnywhere("aaa"), false);
    assert.deepEqual(registry.staleFiles(), []);
    assert.deepEqual(registry.oddEntries(), []);
    const refused = refusedFor(root);
    await assert.rejects(registry.upsert(makeRecord("aaa")), refused);
    await assert.rejects(
      registry.update("aaa", (record) => record),
      refused,
    );
    await assert.rejects(registry.retire("aaa"), refused);
    await assert.rejects(registry.unretire("aaa"), refused);
    await assert.rejects(registry.hardDelete("aaa"), refused);
    await assert.rejects(registry.retireForAgent("aaa", "agent"), refused);
    await assert.rejects(registry.importRecords([{ record: makeRecord("aaa") }]), refused);
    await assert.rejects(registry.writeMarker(".migrated_from_sqlite", "x"), refused);
    registry.close();
    assert.deepEqual(tree(dir), [], "nothing was created");
  });

  test("an existing root is read and written as usual; a missing retired/ is named", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    await (await Registry.open(root, { agentsBase: dir })).upsert(makeRecord("aaa"));
    const registry = await Registry.open(root, { agentsBase: dir, create: false });
    assert.deepEqual(
      (await registry.listActive()).map((record) => record.data.instance_id),
      ["aaa"],
    );
    assert.equal((await registry.upsert(makeRecord("bbb"))).status, "created");
    registry.close();

    const bare = join(dir, "bare");
    mkdirSync(bare);
    const half = await Registry.open(bare, { agentsBase: dir, create: false });
    await assert.rejects(half.upsert(makeRecord("ccc")), refusedFor(join(bare, "retired")));
    half.close();
    assert.deepEqual(tree(bare), []);
  });

  test("the default still creates the root and retired/", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    (await Registry.open(root, { agentsBase: dir })).close();
    assert.deepEqual(tree(dir), ["registry", join("registry", "retired")]);
  });
});

describe("RegistryService.open with create: false", { concurrency: true }, () => {
  test("listings are empty; creating an agent fails and leaves no working directory", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "typo", "registry");
    const agentsBase = join(dir, "agents");
    mkdirSync(agentsBase);
    const service = await RegistryService.open({ root, agentsBase, version: "t", create: false });
    assert.deepEqual(await service.listNamedAgents(), []);
    assert.deepEqual(await service.listRetired(), []);
    assert.deepEqual(await service.listLeases({ all: true }), []);
    const report = await service.doctor();
    assert.deepEqual([report.active, report.retired, report.problems], [0, 0, []]);
    await assert.rejects(
      service.createAgent({ name: "New", definitionId: "cc" }),
      refusedFor(root),
    );
    service.close();
    assert.deepEqual(tree(dir), ["agents"]);
  });
});

describe("choosePaths", () => {
  const userHome = "/u";
  const cases: [string, Parameters<typeof choosePaths>[0], Record<string, string>, string[]][] = [
    [
      "the defaults",
      {},
      {},
      ["/u/.agentmux/shared/agents/registry", "/u/.agentmux", "/u/.agentmux/agents"],
    ],
    [
      "AGENTMUX_HOME_OVERRIDE moves every default",
      {},
      { AGENTMUX_HOME_OVERRIDE: "/h" },
      ["/h/shared/agents/registry", "/h", "/h/agents"],
    ],
    [
      "--home moves every default",
      { home: "/h" },
      {},
      ["/h/shared/agents/registry", "/h", "/h/agents"],
    ],
    [
      "AGENTMUX_SHARED_DIR moves the root only",
      {},
      { AGENTMUX_SHARED_DIR: "/s" },
      ["/s/agents/registry", "/u/.agentmux", "/u/.agentmux/agents"],
    ],
    [
      "--root: the agents base is its parent",
      { root: "/r/registry" },
      {},
      ["/r/registry", "/u/.agentmux", "/r"],
    ],
    [
      "--root with --home: still the root's parent",
      { root: "/r/registry", home: "/h" },
      {},
      ["/r/registry", "/h", "/r"],
    ],
    [
      "--root with AGENTMUX_AGENTS_DIR: the variable",
      { root: "/r/registry" },
      { AGENTMUX_AGENTS_DIR: "/a" },
      ["/r/registry", "/u/.agentmux", "/a"],
    ],
    [
      "--root with --agents-base: the flag",
      { root: "/r/registry", agentsBase: "/b" },
      { AGENTMUX_AGENTS_DIR: "/a" },
      ["/r/registry", "/u/.agentmux", "/b"],
    ],
    [
      "AGENTMUX_AGENTS_DIR without --root",
      {},
      { AGENTMUX_AGENTS_DIR: "/a", AGENTMUX_HOME_OVERRIDE: "/h" },
      ["/h/shared/agents/registry", "/h", "/a"],
    ],
    [
      "an empty variable counts as unset",
      { root: "/r/registry" },
      { AGENTMUX_AGENTS_DIR: "" },
      ["/r/registry", "/u/.agentmux", "/r"],
    ],
  ];
  for (const [label, given, env, [root, home, agentsBase]] of cases) {
    test(label, () => {
      assert.deepEqual(choosePaths(given, env, userHome), { root, home, agentsBase });
    });
  }
});
