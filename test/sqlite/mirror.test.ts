import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import Database from "better-sqlite3";
import {
  type Logger,
  type Registry,
  SqliteInstanceStore,
  type SqliteInstanceStoreOptions,
} from "../../src/index.js";
import { makeRecord, namesIn } from "../helpers.js";
import { agentsBase, dbPathIn, makeHome, openRegistry, registryRoot } from "./home.js";

const VERSION = "0.40.1";

/** This version's store at `<home>/versions/<VERSION>/data/db/objects.db`, closed at the end. */
function openStore(
  t: TestContext,
  home: string,
  options: Partial<SqliteInstanceStoreOptions> = {},
): SqliteInstanceStore {
  const path = dbPathIn(home, `versions/${VERSION}`);
  mkdirSync(dirname(path), { recursive: true });
  const store = SqliteInstanceStore.open(path, { version: VERSION, ...options });
  t.after(() => store.close());
  return store;
}

/** Home, registry and a mirroring store. */
async function setup(t: TestContext, options: Partial<SqliteInstanceStoreOptions> = {}) {
  const home = makeHome(t);
  const registry = await openRegistry(home);
  const store = openStore(t, home, { registry, ...options });
  return { home, registry, store, root: registryRoot(home), base: agentsBase(home) };
}

/** A logger that remembers every call. */
function recordingLogger() {
  const calls: Array<{ level: keyof Logger; details: object; message: string }> = [];
  const at =
    (level: keyof Logger) =>
    (details: object, message: string): void => {
      calls.push({ level, details, message });
    };
  const logger: Logger = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
  return { logger, calls };
}

const named = (base: string, name: string, extra: Record<string, string | number> = {}) => ({
  definition_id: "claude-code",
  instance_name: name,
  working_directory: join(base, `${name}-wd`),
  started_at: 1_747_061_640_000,
  created_at: 1_747_049_400_000,
  ...extra,
});

const nameOf = async (registry: Registry, id: string) =>
  (await registry.get(id))?.data.instance_name;

const retiredRecord = (root: string, id: string) =>
  JSON.parse(readFileSync(join(root, "retired", `${id}.json`), "utf8"));

describe("mirror (SPEC §8, §13)", () => {
  test("a named instance writes a record (null identity and memory)", async (t) => {
    const { registry, store, root, base } = await setup(t);
    const result = await store.create("agent-1", {
      definition_id: "claude-code",
      instance_name: "livelog-821",
      working_directory: join(base, "livelog-821-0512a"),
      block_id: "block-1",
      status: "running",
      started_at: 1_747_061_640_000,
      created_at: 1_747_049_400_000,
    });
    assert.equal(result.ok, true);
    assert.equal(result.sqlChanges, 1);
    assert.deepEqual(result.mirror, { status: "mirrored", registryChanges: 1 });
    assert.equal(result.row.started_at, 1_747_061_640_000n);
    assert.deepEqual(await registry.get("agent-1"), {
      schema_version: 3,
      data: {
        instance_id: "agent-1",
        instance_name: "livelog-821",
        definition_id: "claude-code",
        identity_id: null,
        memory_id: null,
        session_id: null,
        working_dir: "livelog-821-0512a",
        source_agents_base: base,
        created_at_ms: 1_747_049_400_000,
        last_launched_at_ms: 1_747_061_640_000,
        created_by_version: VERSION,
        last_launched_by_version: VERSION,
      },
    });
    const text = readFileSync(join(root, "agent-1.json"), "utf8");
    assert.match(text, /"identity_id": null,\n\s+"memory_id": null,\n/);
    assert.deepEqual(namesIn(root), ["agent-1.json", "retired"]);
  });

  test("hide retires, unhide restores", async (t) => {
    const { registry, store, root, base } = await setup(t);
    await store.create("agent-1", named(base, "alpha"));
    const bytes = readFileSync(join(root, "agent-1.json"));
    // A legacy record keyed by a launch id belongs to the agent and goes with it.
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("other", { definition_id: "agent-2" }));

    assert.deepEqual(await store.setHidden("agent-1", true), {
      ok: true,
      sqlChanges: 1,
      mirror: { status: "mirrored", registryChanges: 2 },
    });
    assert.deepEqual(namesIn(root), ["other.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), ["agent-1.json", "launch-7.json"]);
    assert.equal(store.get("agent-1")?.display_hidden, 1n);
    assert.deepEqual(store.listNamed(), []);
    assert.equal(existsSync(join(root, "agent-1.json")), false);
    assert.deepEqual(readFileSync(join(root, "retired", "agent-1.json")), bytes);

    const shown = await store.setHidden("agent-1", false);
    assert.equal(shown.ok, true);
    assert.equal(shown.sqlChanges, 1);
    assert.deepEqual(shown.mirror, { status: "mirrored", registryChanges: 2 });
    assert.deepEqual(namesIn(root), ["agent-1.json", "launch-7.json", "other.json", "retired"]);
    assert.equal(store.get("agent-1")?.display_hidden, 0n);
    assert.equal(existsSync(join(root, "retired", "agent-1.json")), false);
    assert.deepEqual(readFileSync(join(root, "agent-1.json")), bytes);
    assert.equal(await nameOf(registry, "agent-1"), "alpha");
  });

  test("update refreshes the record", async (t) => {
    const { registry, store, root, base } = await setup(t);
    await store.create("agent-1", named(base, "alpha"));
    // A field written by a newer version survives the refresh (upsert merges).
    const path = join(root, "agent-1.json");
    writeFileSync(
      path,
      readFileSync(path, "utf8").replace('"data": {', '"data": {\n    "tags": ["keep"],'),
    );

    const result = await store.update("agent-1", {
      started_at: 1_800_000_000_000,
      session_id: "sess-42",
      identity_id: "agenta",
    });
    assert.deepEqual(result, {
      ok: true,
      sqlChanges: 1,
      mirror: { status: "mirrored", registryChanges: 1 },
    });
    const record = await registry.get("agent-1");
    assert.equal(record?.data.last_launched_at_ms, 1_800_000_000_000);
    assert.equal(record?.data.session_id, "sess-42");
    assert.equal(record?.data.identity_id, "agenta");
    assert.equal(record?.data.created_at_ms, 1_747_049_400_000);
    assert.deepEqual(record?.data.tags, ["keep"]);

    // A hidden row's refresh lands in its tombstone; it stays forgotten.
    await store.setHidden("agent-1", true);
    const hidden = await store.update("agent-1", { started_at: 1_900_000_000_000 });
    assert.equal(hidden.ok, true);
    assert.equal(hidden.mirror.status, "mirrored");
    assert.equal(existsSync(path), false);
    assert.equal(retiredRecord(root, "agent-1").data.last_launched_at_ms, 1_900_000_000_000);
  });

  test("delete removes the agent from both trees", async (t) => {
    const { registry, store, root, base } = await setup(t);
    await store.create("agent-1", named(base, "alpha"));
    await store.setHidden("agent-1", true);
    await registry.upsert(makeRecord("launch-7", { definition_id: "agent-1" }));
    await registry.upsert(makeRecord("launch-8", { definition_id: "agent-1" }));
    await registry.retire("launch-8");
    await registry.upsert(makeRecord("other", { definition_id: "agent-2" }));

    assert.deepEqual(await store.delete("agent-1"), {
      ok: true,
      sqlChanges: 1,
      mirror: { status: "mirrored", registryChanges: 3 },
    });
    assert.equal(store.get("agent-1"), null);
    assert.deepEqual(namesIn(root), ["other.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
    // A retry converges: nothing left anywhere, nothing acted.
    assert.deepEqual(await store.delete("agent-1"), {
      ok: false,
      sqlChanges: 0,
      mirror: { status: "mirrored", registryChanges: 0 },
    });
  });

  test("unnamed rows, continuation rows and workspaces outside both bases are not mirrored", async (t) => {
    const { home, store, root, base } = await setup(t, {
      ownAgentsDir: join("/nonexistent", "channels", "beta", "agents"),
    });
    const cases = [
      ["unnamed", { ...named(base, "x"), instance_name: "" }, "unnamed"],
      ["continuation", { ...named(base, "y"), parent_instance_id: "head-1" }, "continuation"],
      ["outside", { ...named(base, "z"), working_directory: "/srv/elsewhere/z" }, "unmappable"],
      ["bare-prefix", { ...named(base, "w"), working_directory: `${base}-old/w` }, "unmappable"],
      ["the-base", { ...named(base, "v"), working_directory: base }, "unmappable"],
      ["relative", { ...named(base, "u"), working_directory: "agents/u" }, "unmappable"],
      ["home", { ...named(base, "s"), working_directory: home }, "unmappable"],
    ] as const;
    for (const [id, fields, reason] of cases) {
      const result = await store.create(id, fields);
      assert.equal(result.ok, true, id);
      assert.equal(result.mirror.status, "not-mirrored", id);
      assert.equal(result.mirror.status === "not-mirrored" && result.mirror.reason, reason, id);
      // An update does not mirror them either.
      const updated = await store.update(id, { started_at: 1 });
      assert.equal(updated.mirror.status, "not-mirrored", id);
      assert.ok(store.get(id), id);
    }
    assert.deepEqual(namesIn(root), ["retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
  });

  test("a user path that merely contains an agents segment is not mirrored", async (t) => {
    const { home, store, root } = await setup(t, {
      ownAgentsDir: join(makeHome(t), "channels", "beta", "agents"),
    });
    for (const [id, workingDirectory] of [
      ["u1", "/home/u/projects/agents/foo"],
      ["u2", join(home, "projects", "agents", "foo")],
      ["u3", join(home, "channels", "other", "agents", "foo")],
    ] as const) {
      const result = await store.create(id, {
        instance_name: id,
        working_directory: workingDirectory,
      });
      assert.deepEqual(
        result.mirror.status === "not-mirrored" && result.mirror.reason,
        "unmappable",
        id,
      );
    }
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  // ── beyond the catalogue ──────────────────────────────────────────────────────────────────

  test("a row under the store's own agents dir is anchored there", async (t) => {
    const home = makeHome(t);
    const own = join(home, "channels", "beta", "agents");
    const registry = await openRegistry(home);
    const store = openStore(t, home, { registry, ownAgentsDir: own });
    await store.create("own", named(own, "own"));
    await store.create("global", named(agentsBase(home), "global"));
    assert.equal((await registry.get("own"))?.data.source_agents_base, own);
    assert.equal((await registry.get("own"))?.data.working_dir, "own-wd");
    assert.equal((await registry.get("global"))?.data.source_agents_base, agentsBase(home));
  });

  test("a row created hidden goes straight to the Trash", async (t) => {
    const { registry, store, root, base } = await setup(t);
    const result = await store.create("agent-1", { ...named(base, "alpha"), display_hidden: 1 });
    assert.equal(result.ok, true);
    assert.equal(result.mirror.status, "mirrored");
    assert.equal(await registry.get("agent-1"), null);
    assert.equal(retiredRecord(root, "agent-1").data.instance_name, "alpha");
  });

  test("hide, rename and delete of an agent known only through the registry still succeed", async (t) => {
    const { registry, store, root } = await setup(t);
    await registry.upsert(makeRecord("reg-only", { definition_id: "claude-code" }));

    assert.deepEqual(await store.setHidden("reg-only", true), {
      ok: true,
      sqlChanges: 0,
      mirror: { status: "mirrored", registryChanges: 1 },
    });
    assert.ok(existsSync(join(root, "retired", "reg-only.json")));

    const shown = await store.setHidden("reg-only", false);
    assert.equal(shown.ok, true);
    assert.equal(shown.sqlChanges, 0);
    assert.ok(existsSync(join(root, "reg-only.json")));

    const renamed = await store.rename("reg-only", "new name");
    assert.deepEqual(renamed, {
      ok: true,
      sqlChanges: 0,
      mirror: { status: "mirrored", registryChanges: 1 },
    });
    assert.equal(await nameOf(registry, "reg-only"), "new name");

    assert.deepEqual(await store.delete("reg-only"), {
      ok: true,
      sqlChanges: 0,
      mirror: { status: "mirrored", registryChanges: 1 },
    });
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  test("hide, rename and delete of an agent known nowhere are not ok", async (t) => {
    const { store } = await setup(t);
    const nothing = {
      ok: false,
      sqlChanges: 0,
      mirror: { status: "mirrored", registryChanges: 0 },
    };
    assert.deepEqual(await store.delete("ghost"), nothing);
    assert.deepEqual(await store.setHidden("ghost", true), nothing);
    assert.deepEqual(await store.setHidden("ghost", false), nothing);
    assert.deepEqual(await store.rename("ghost", "x"), nothing);
    const update = await store.update("ghost", { started_at: 5 });
    assert.equal(update.ok, false);
    assert.deepEqual(update.mirror, { status: "not-mirrored", reason: "absent" });
  });

  test("a mirror failure is reported and logged, and the SQL change stands", async (t) => {
    // With the root gone every registry call fails; with fsync failing only the writes do (a
    // hide or delete with nothing to move or remove never fsyncs).
    const faults = {
      "the registry root replaced by a file": {
        open: async (home: string) => {
          const registry = await openRegistry(home);
          rmSync(registryRoot(home), { recursive: true });
          writeFileSync(registryRoot(home), "not a directory\n");
          return registry;
        },
        failing: ["update", "rename", "hide", "delete"],
      },
      "fsync fails with EIO": {
        open: (home: string) =>
          openRegistry(home, {
            fs: {
              ...nodeFs,
              fsyncSync() {
                throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
              },
            },
          }),
        failing: ["update", "rename"],
      },
    };
    for (const [label, { open, failing }] of Object.entries(faults)) {
      await t.test(label, async (t) => {
        const home = makeHome(t);
        const registry = await open(home);
        const { logger, calls } = recordingLogger();
        const store = openStore(t, home, { registry, logger });

        const created = await store.create("agent-1", named(agentsBase(home), "alpha"));
        assert.equal(created.ok, true);
        assert.equal(created.sqlChanges, 1);
        assert.equal(created.mirror.status, "failed");
        assert.equal(created.mirror.status === "failed" && created.mirror.code, "IO");
        assert.ok(store.get("agent-1"), "the row stands");
        const errors = calls.filter((c) => c.level === "error");
        assert.equal(errors.length, 1);
        assert.deepEqual(errors[0]?.details, { code: "IO" });

        const statuses: Record<string, string> = {};
        for (const [op, run] of [
          ["update", () => store.update("agent-1", { started_at: 5 })],
          ["rename", () => store.rename("agent-1", "beta")],
          ["hide", () => store.setHidden("agent-1", true)],
          ["delete", () => store.delete("agent-1")],
        ] as const) {
          const result = await run();
          assert.equal(result.ok, true, op);
          assert.equal(result.sqlChanges, 1, op);
          statuses[op] =
            result.mirror.status === "failed"
              ? `failed ${result.mirror.code}`
              : result.mirror.status;
        }
        assert.equal(store.get("agent-1"), null, "the delete stands");
        assert.equal(calls.filter((c) => c.level === "error").length, 1 + failing.length);
        assert.deepEqual(
          statuses,
          Object.fromEntries(
            Object.keys(statuses).map((op) => [
              op,
              failing.includes(op) ? "failed IO" : "mirrored",
            ]),
          ),
        );
        const root = registryRoot(home);
        if (nodeFs.statSync(root).isDirectory()) {
          // Nothing half-written: no record, no temp or lock file left behind.
          assert.deepEqual(namesIn(root), ["retired"]);
          assert.deepEqual(namesIn(join(root, "retired")), []);
        }
      });
    }
  });

  test("a refresh that fails inside rename or unhide is reported as failed", async (t) => {
    // Neither has anything to move or rename in the registry (the record was lost), so the only
    // registry write is the refresh of the row (mirrorRow), and that write fails.
    const home = makeHome(t);
    const registry = await openRegistry(home, {
      fs: {
        ...nodeFs,
        fsyncSync() {
          throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
        },
      },
    });
    const { logger, calls } = recordingLogger();
    const store = openStore(t, home, { registry, logger });
    await store.create("agent-1", { ...named(agentsBase(home), "alpha"), display_hidden: 1 });
    calls.length = 0;

    const unhidden = await store.setHidden("agent-1", false);
    const renamed = await store.rename("agent-1", "beta");
    assert.equal(calls.filter((c) => c.level === "error").length, 2, "both failures were logged");
    assert.equal(unhidden.sqlChanges, 1);
    assert.equal(renamed.sqlChanges, 1);
    assert.deepEqual(
      { unhide: unhidden.mirror.status, rename: renamed.mirror.status },
      { unhide: "failed", rename: "failed" },
      "store.ts setHidden/rename drop the refresh's failed report and say mirrored",
    );
  });

  test("rename renames every active record of the agent and leaves retired ones", async (t) => {
    const { registry, store, root, base } = await setup(t);
    await store.create("agent-1", named(base, "old"));
    await registry.upsert(
      makeRecord("launch-7", { definition_id: "agent-1", instance_name: "old" }),
    );
    await registry.upsert(
      makeRecord("launch-8", { definition_id: "agent-1", instance_name: "old" }),
    );
    await registry.retire("launch-8");
    await registry.upsert(makeRecord("other", { definition_id: "agent-2", instance_name: "old" }));
    const otherBytes = readFileSync(join(root, "other.json"));

    assert.deepEqual(await store.rename("agent-1", "new"), {
      ok: true,
      sqlChanges: 1,
      mirror: { status: "mirrored", registryChanges: 2 },
    });
    assert.equal(store.get("agent-1")?.instance_name, "new");
    assert.equal(await nameOf(registry, "agent-1"), "new");
    assert.equal(await nameOf(registry, "launch-7"), "new");
    assert.equal(retiredRecord(root, "launch-8").data.instance_name, "old");
    assert.deepEqual(readFileSync(join(root, "other.json")), otherBytes);
    // The same name again changes nothing in the registry.
    const again = await store.rename("agent-1", "new");
    assert.deepEqual(again.mirror, { status: "mirrored", registryChanges: 0 });
  });

  test("without a registry the store works SQL-only", async (t) => {
    const home = makeHome(t);
    const store = openStore(t, home);
    const noRegistry = { status: "not-mirrored", reason: "no-registry" };
    const created = await store.create("agent-1", named(agentsBase(home), "alpha"));
    assert.equal(created.ok, true);
    assert.deepEqual(created.mirror, noRegistry);
    assert.deepEqual(await store.update("agent-1", { started_at: 9 }), {
      ok: true,
      sqlChanges: 1,
      mirror: noRegistry,
    });
    assert.equal(store.get("agent-1")?.started_at, 9n);
    assert.deepEqual(await store.rename("agent-1", "beta"), {
      ok: true,
      sqlChanges: 1,
      mirror: noRegistry,
    });
    assert.deepEqual(await store.setHidden("agent-1", true), {
      ok: true,
      sqlChanges: 1,
      mirror: noRegistry,
    });
    assert.deepEqual(await store.delete("agent-1"), {
      ok: true,
      sqlChanges: 1,
      mirror: noRegistry,
    });
    assert.deepEqual(await store.delete("agent-1"), {
      ok: false,
      sqlChanges: 0,
      mirror: noRegistry,
    });
    assert.equal(existsSync(join(home, "shared")), false);
  });

  test("the store keeps integers exact, lists named heads newest first, and runs in WAL mode", async (t) => {
    const { store, base, home } = await setup(t);
    await store.create("a", named(base, "a", { started_at: 10 }));
    await store.create("b", named(base, "b", { started_at: 30 }));
    await store.create("c", { ...named(base, "c"), display_hidden: true });
    await store.create("d", { ...named(base, "d"), instance_name: "" });
    await store.create("e", { ...named(base, "e"), parent_instance_id: "a" });
    await store.create("big", { ...named(base, "big"), ended_at: 2n ** 62n + 1n });
    assert.equal(store.get("big")?.ended_at, 2n ** 62n + 1n);
    assert.deepEqual(
      store.listNamed().map((r) => r.id),
      ["big", "b", "a"],
    );
    const peek = new Database(dbPathIn(home, `versions/${VERSION}`), { readonly: true });
    t.after(() => peek.close());
    assert.equal(peek.pragma("journal_mode", { simple: true }), "wal");
  });

  test("a registry refusal (a newer version's file) is reported, not a silent success", async (t) => {
    const { store, root, base } = await setup(t);
    const v999 = `{\n  "schema_version": 999,\n  "data": {}\n}\n`;
    writeFileSync(join(root, "agent-1.json"), v999);
    const result = await store.create("agent-1", named(base, "alpha"));
    assert.equal(readFileSync(join(root, "agent-1.json"), "utf8"), v999, "left intact");
    assert.equal(result.ok, true);
    assert.notEqual(result.mirror.status, "mirrored");
  });
});
