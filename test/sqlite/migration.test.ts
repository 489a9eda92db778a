import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import {
  type MigrateProgress,
  type MigrateStats,
  migrateFromSqliteOnce,
  type NamedAgentRecord,
  type Registry,
} from "../../src/index.js";
import { namesIn, tempDir } from "../helpers.js";
import {
  addDb,
  addFileAsDb,
  agentsBase,
  dbPathIn,
  garbage,
  holdDatabase,
  insertSql,
  makeHome,
  openRegistry,
  registryRoot,
  row,
  snapshot,
  sourceState,
} from "./home.js";

const MARKER = ".migrated_from_sqlite";

const ZERO: MigrateStats = {
  dbs_scanned: 0,
  dbs_skipped: 0,
  rows_seen: 0,
  records_written: 0,
  records_skipped_existing: 0,
  records_skipped_unmappable: 0,
  records_skipped_invalid: 0,
  complete: true,
  unreadable: [],
};

const stats = (partial: Partial<MigrateStats>): MigrateStats => ({ ...ZERO, ...partial });

const markerPath = (home: string) => join(registryRoot(home), MARKER);

const byId = (records: NamedAgentRecord[]) =>
  new Map(records.map((record) => [record.data.instance_id, record.data]));

const activeIds = async (registry: Registry) =>
  (await registry.listActive()).map((r) => r.data.instance_id);

const retiredIds = async (registry: Registry) =>
  (await registry.listRetired()).map((r) => r.data.instance_id);

async function migrate(home: string, registry?: Registry): Promise<MigrateStats> {
  return migrateFromSqliteOnce(home, registry ?? (await openRegistry(home)));
}

describe("migration (SPEC §9, §13)", () => {
  test("an empty home writes the marker and nothing else", async (t) => {
    const home = makeHome(t);
    const registry = await openRegistry(home);
    assert.deepEqual(await migrate(home, registry), ZERO);
    const root = registryRoot(home);
    assert.deepEqual(namesIn(root), [MARKER, "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
    const marker = readFileSync(markerPath(home), "utf8");
    assert.match(marker, /^migration_version: 2$/m);
    assert.match(marker, /^migrated_at_ms: \d+$/m);
    assert.match(marker, /^complete: true$/m);
    assert.match(marker, /^records_written: 0$/m);
    assert.ok(marker.endsWith("\n"));
    // Plain `key: value` lines, nothing else.
    for (const line of marker.trimEnd().split("\n")) assert.match(line, /^[a-z_]+: \S+$/);
  });

  test("a second run ignores a database added later", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.33.800", [row(home, "first")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 1, rows_seen: 1, records_written: 1 }),
    );
    const marker = readFileSync(markerPath(home));

    addDb(home, "versions/0.33.821", [row(home, "later")]);
    assert.deepEqual(await migrate(home, registry), ZERO);
    assert.deepEqual(await activeIds(registry), ["first"]);
    assert.deepEqual(readFileSync(markerPath(home)), marker);
  });

  test("one record per unique id", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "a"), row(home, "b")]);
    addDb(home, "versions/0.31.0", [row(home, "a"), row(home, "c")]);
    addDb(home, "channels/beta/versions/0.32.0", [row(home, "a"), row(home, "b")]);
    addDb(home, "dev/main", [row(home, "c"), row(home, "d")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 4, rows_seen: 8, records_written: 4 }),
    );
    assert.deepEqual(await activeIds(registry), ["a", "b", "c", "d"]);
    assert.deepEqual(namesIn(registryRoot(home)), [
      MARKER,
      "a.json",
      "b.json",
      "c.json",
      "d.json",
      "retired",
    ]);
  });

  test("each row is anchored on its own channel's agents dir", async (t) => {
    const home = makeHome(t);
    const stableAgents = join(home, "channels", "stable", "agents");
    const betaAgents = join(home, "channels", "beta", "agents");
    addDb(home, "channels/stable/versions/0.33.0", [
      row(home, "s1", { working_directory: join(stableAgents, "s1-wd") }),
    ]);
    addDb(home, "channels/beta/versions/0.34.0", [
      row(home, "b1", { working_directory: join(betaAgents, "nested", "b1-wd") }),
      // Another channel's agents dir is not this row's anchor.
      row(home, "b2", { working_directory: join(stableAgents, "b2-wd") }),
    ]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 3, records_written: 2, records_skipped_unmappable: 1 }),
    );
    const records = byId(await registry.listActive());
    assert.equal(records.get("s1")?.working_dir, "s1-wd");
    assert.equal(records.get("s1")?.source_agents_base, stableAgents);
    assert.equal(records.get("b1")?.working_dir, "nested/b1-wd");
    assert.equal(records.get("b1")?.source_agents_base, betaAgents);
    assert.equal(records.has("b2"), false);
  });

  test("a global workspace is anchored on the registry's agents base, even in a channel source", async (t) => {
    const home = makeHome(t);
    addDb(home, "channels/stable/versions/0.33.0", [
      row(home, "in-channel", { working_directory: join(agentsBase(home), "g1-wd") }),
    ]);
    addDb(home, "versions/0.30.0", [
      row(home, "top-level", { working_directory: join(agentsBase(home), "g2-wd") }),
      // A top-level `versions/*` source has no agents dir of its own.
      row(home, "channel-path", {
        working_directory: join(home, "channels", "stable", "agents", "x"),
      }),
    ]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 3, records_written: 2, records_skipped_unmappable: 1 }),
    );
    const records = byId(await registry.listActive());
    assert.equal(records.get("in-channel")?.working_dir, "g1-wd");
    assert.equal(records.get("in-channel")?.source_agents_base, agentsBase(home));
    assert.equal(records.get("top-level")?.working_dir, "g2-wd");
    assert.equal(records.get("top-level")?.source_agents_base, agentsBase(home));
  });

  test("a legacy marker re-runs once then settles", async (t) => {
    const legacyMarkers = {
      "no version line": "migrated_at: 1747049400000\nrecords_written: 3\n",
      "migration_version 1": "migration_version: 1\nmigrated_at_ms: 1747049400000\n",
    };
    for (const [label, text] of Object.entries(legacyMarkers)) {
      await t.test(label, async (t) => {
        const home = makeHome(t);
        addDb(home, "versions/0.33.0", [row(home, "a"), row(home, "b")]);
        const registry = await openRegistry(home);
        writeFileSync(markerPath(home), text);

        assert.deepEqual(
          await migrate(home, registry),
          stats({ dbs_scanned: 1, rows_seen: 2, records_written: 2 }),
        );
        assert.match(readFileSync(markerPath(home), "utf8"), /^migration_version: 2$/m);

        assert.deepEqual(await migrate(home, registry), ZERO);
        addDb(home, "versions/0.34.0", [row(home, "c")]);
        assert.deepEqual(await migrate(home, registry), ZERO);
        assert.deepEqual(await activeIds(registry), ["a", "b"]);
      });
    }
  });

  test("the latest started_at wins", async (t) => {
    const home = makeHome(t);
    const betaAgents = join(home, "channels", "beta", "agents");
    addDb(home, "versions/0.30.0", [
      row(home, "x", { instance_name: "oldest", started_at: 100, identity_id: "id-old" }),
    ]);
    addDb(home, "channels/beta/versions/0.40.0", [
      row(home, "x", {
        instance_name: "newest",
        definition_id: "gemini",
        started_at: 300,
        created_at: 50,
        identity_id: "id-new",
        memory_id: "mem-new",
        session_id: "sess-new",
        working_directory: join(betaAgents, "x-beta"),
      }),
    ]);
    addDb(home, "dev/main", [row(home, "x", { instance_name: "middle", started_at: 200 })]);
    addDb(home, "versions/0.35.0", [
      row(home, "x", { instance_name: "later-dir", started_at: 299 }),
    ]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 4, rows_seen: 4, records_written: 1 }),
    );
    assert.deepEqual(await registry.get("x"), {
      schema_version: 3,
      data: {
        instance_id: "x",
        instance_name: "newest",
        definition_id: "gemini",
        identity_id: "id-new",
        memory_id: "mem-new",
        session_id: "sess-new",
        working_dir: "x-beta",
        source_agents_base: betaAgents,
        created_at_ms: 50,
        last_launched_at_ms: 300,
        created_by_version: "(legacy)",
        last_launched_by_version: "(legacy)",
      },
    });
  });

  test("dev layout: dev/<branch> and dev/<branch>/<sub>, anchored on the instance dir's agents", async (t) => {
    const home = makeHome(t);
    const mainAgents = join(home, "dev", "main", "agents");
    const subAgents = join(home, "dev", "feature-x", "build-1", "agents");
    addDb(home, "dev/main", [
      row(home, "m1", { working_directory: join(mainAgents, "m1-wd") }),
      row(home, "m2", { working_directory: join(agentsBase(home), "m2-wd") }),
    ]);
    addDb(home, "dev/feature-x/build-1", [
      row(home, "f1", { working_directory: join(subAgents, "f1-wd") }),
      // The branch dir's agents are not the sub instance's own.
      row(home, "f2", { working_directory: join(home, "dev", "feature-x", "agents", "f2-wd") }),
    ]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 4, records_written: 3, records_skipped_unmappable: 1 }),
    );
    const records = byId(await registry.listActive());
    assert.equal(records.get("m1")?.source_agents_base, mainAgents);
    assert.equal(records.get("m1")?.working_dir, "m1-wd");
    assert.equal(records.get("m2")?.source_agents_base, agentsBase(home));
    assert.equal(records.get("f1")?.source_agents_base, subAgents);
    assert.equal(records.get("f1")?.working_dir, "f1-wd");
  });

  test("a nested agent's own database is not a source", async (t) => {
    const home = makeHome(t);
    addDb(home, "dev/main", [row(home, "main-agent")]);
    // dev/main is an instance dir: a leaf. Neither its agents' databases nor a sub dir count.
    addDb(home, "dev/main/agents/x", [row(home, "nested-agent")]);
    addDb(home, "dev/main/sub", [row(home, "sub-of-instance")]);
    // An agent's own database elsewhere is not one of the four layouts either.
    addDb(home, "agents/y", [row(home, "global-agent-db")]);
    addDb(home, "channels/beta/agents/z", [row(home, "channel-agent-db")]);
    addDb(home, "versions/0.33.0/agents/w", [row(home, "version-agent-db")]);
    addDb(home, "dev/feature/agents/v", [row(home, "branch-agent-db")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 1, rows_seen: 1, records_written: 1 }),
    );
    assert.deepEqual(await activeIds(registry), ["main-agent"]);
  });

  test("a branch named data is still scanned", async (t) => {
    const home = makeHome(t);
    addDb(home, "dev/data", [row(home, "branch-data")]);
    // A sub instance named `data` under a branch that is not an instance dir itself.
    addDb(home, "dev/feature/data", [row(home, "sub-data")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 2, records_written: 2 }),
    );
    assert.deepEqual(await activeIds(registry), ["branch-data", "sub-data"]);
  });

  test("a file where versions/ should be makes the run incomplete: no marker", async (t) => {
    for (const where of ["versions", "channels", "dev", "channels/beta/versions"]) {
      await t.test(where, async (t) => {
        const home = makeHome(t);
        addDb(home, where === "versions" ? "dev/main" : "versions/0.33.0", [row(home, "ok")]);
        mkdirSync(join(home, where, ".."), { recursive: true });
        writeFileSync(join(home, where), "not a directory\n");
        const registry = await openRegistry(home);
        const first = await migrate(home, registry);
        assert.equal(first.complete, false);
        assert.equal(existsSync(markerPath(home)), false);
        // What could be read was migrated; the next launch tries again.
        assert.deepEqual(await activeIds(registry), ["ok"]);
        const second = await migrate(home, registry);
        assert.equal(second.complete, false);
        assert.equal(second.records_written, 0);
        assert.equal(existsSync(markerPath(home)), false);
      });
    }
  });

  test("an objects.db that cannot be examined (a symlink loop) makes the run incomplete", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.33.0", [row(home, "ok")]);
    const looped = dbPathIn(home, "versions/0.34.0");
    mkdirSync(dirname(looped), { recursive: true });
    symlinkSync("objects.db", looped);
    const registry = await openRegistry(home);
    const result = await migrate(home, registry);
    assert.equal(result.complete, false);
    assert.equal(result.records_written, 1);
    assert.equal(existsSync(markerPath(home)), false);
  });

  test("an unreadable directory entry (a symlink loop) makes the run incomplete", async (t) => {
    // SPEC §9: "an unreadable directory or directory entry also makes the run incomplete".
    // (Running as root, a mode-000 directory is still readable; a symlink loop is not.)
    const home = makeHome(t);
    addDb(home, "versions/0.33.0", [row(home, "ok")]);
    symlinkSync("0.34.0", join(home, "versions", "0.34.0"));
    const registry = await openRegistry(home);
    const result = await migrate(home, registry);
    assert.deepEqual(await activeIds(registry), ["ok"]);
    assert.equal(result.complete, false, "an ELOOP entry under versions/ was silently ignored");
    assert.equal(existsSync(markerPath(home)), false);
  });

  test("a dangling version symlink (an uninstalled version `latest` still names) is skipped", async (t) => {
    // Counting it as unreadable would keep every later launch migrating, forever: see DECISIONS.md.
    const home = makeHome(t);
    addDb(home, "versions/0.33.0", [row(home, "ok")]);
    symlinkSync(join(home, "uninstalled", "0.34.0"), join(home, "versions", "latest"));
    const registry = await openRegistry(home);
    const result = await migrate(home, registry);
    assert.equal(result.complete, true);
    assert.equal(result.dbs_scanned, 1);
    assert.equal(existsSync(markerPath(home)), true);
  });

  test("an id already in the registry or retired is skipped and never resurrected", async (t) => {
    const home = makeHome(t);
    const registry = await openRegistry(home);
    const root = registryRoot(home);
    // Written by someone else, with unknown fields and a number JavaScript cannot hold: both
    // must stay byte-for-byte.
    const recordText = (id: string, name: string) =>
      `{"schema_version":1,"data":{"instance_id":"${id}","instance_name":"${name}",` +
      `"definition_id":"claude-code","working_dir":"${id}-wd","created_at_ms":1,` +
      `"last_launched_at_ms":2,"created_by_version":"9.9.9","last_launched_by_version":"9.9.9",` +
      `"tags":["x"],"big":12345678901234567890}}`;
    writeFileSync(join(root, "live.json"), recordText("live", "kept"));
    writeFileSync(join(root, "retired", "gone.json"), recordText("gone", "forgotten"));
    const before = snapshot(root);

    addDb(home, "versions/0.33.0", [
      row(home, "live", { instance_name: "from-sql", started_at: 9e12 }),
      row(home, "gone", { instance_name: "from-sql", display_hidden: 0 }),
    ]);
    addDb(home, "versions/0.34.0", [row(home, "live", { display_hidden: 1 }), row(home, "fresh")]);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 4, records_written: 1, records_skipped_existing: 2 }),
    );
    const after = snapshot(root, (rel) => rel === MARKER || rel === "fresh.json");
    assert.deepEqual(after, before);
    assert.equal(existsSync(join(root, "gone.json")), false);
    assert.equal(existsSync(join(root, "retired", "live.json")), false);
    assert.deepEqual(await activeIds(registry), ["fresh", "live"]);
  });

  test("a pre-v8 database (no instance_name column) gives zero rows and completes", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.20.0", [row(home, "old-1"), row(home, "old-2")], { schema: "pre-v8" });
    addDb(home, "versions/0.10.0", [], { schema: "none" });
    const registry = await openRegistry(home);
    assert.deepEqual(await migrate(home, registry), stats({ dbs_scanned: 2 }));
    assert.ok(existsSync(markerPath(home)));
    assert.deepEqual(await activeIds(registry), []);
  });

  test("a hidden row becomes a tombstone in retired/", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.33.0", [row(home, "hid", { display_hidden: 1 }), row(home, "shown")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 1, rows_seen: 2, records_written: 2 }),
    );
    assert.deepEqual(await activeIds(registry), ["shown"]);
    assert.deepEqual(await retiredIds(registry), ["hid"]);
    assert.ok(existsSync(join(registryRoot(home), "retired", "hid.json")));
    assert.equal(existsSync(join(registryRoot(home), "hid.json")), false);
  });

  test("hidden in any version wins, even when the newest copy is visible", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [
      row(home, "x", { instance_name: "old", started_at: 100, display_hidden: 1 }),
      row(home, "y", { instance_name: "old", started_at: 100 }),
    ]);
    addDb(home, "versions/0.31.0", [
      row(home, "x", { instance_name: "newest", started_at: 300 }),
      row(home, "y", { instance_name: "middle", started_at: 200, display_hidden: 1 }),
    ]);
    addDb(home, "versions/0.32.0", [row(home, "y", { instance_name: "newest", started_at: 300 })]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 3, rows_seen: 5, records_written: 2 }),
    );
    assert.deepEqual(await activeIds(registry), []);
    const retired = byId(await registry.listRetired());
    assert.equal(retired.get("x")?.instance_name, "newest");
    assert.equal(retired.get("x")?.last_launched_at_ms, 300);
    assert.equal(retired.get("y")?.instance_name, "newest");
  });

  test("the same id hidden in an old version and visible in a newer one is a tombstone", async (t) => {
    const home = makeHome(t);
    const devAgents = join(home, "dev", "main", "agents");
    addDb(home, "channels/stable/versions/0.30.0", [
      row(home, "agent", { started_at: 1_000, display_hidden: 1 }),
    ]);
    addDb(home, "dev/main", [
      row(home, "agent", {
        instance_name: "visible-newer",
        started_at: 2_000,
        working_directory: join(devAgents, "agent-wd"),
      }),
    ]);
    const registry = await openRegistry(home);
    await migrate(home, registry);
    assert.deepEqual(await activeIds(registry), []);
    const [tomb] = await registry.listRetired();
    assert.equal(tomb?.data.instance_name, "visible-newer");
    assert.equal(tomb?.data.source_agents_base, devAgents);
  });

  test("one corrupt database: the others migrate, the marker waits; a retry after repair completes", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "a"), row(home, "b")]);
    const corrupt = addFileAsDb(home, "versions/0.31.0", garbage());
    addDb(home, "versions/0.32.0", [row(home, "c")]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({
        dbs_scanned: 3,
        dbs_skipped: 1,
        rows_seen: 3,
        records_written: 3,
        complete: false,
        unreadable: [{ path: corrupt, reason: "file is not a database" }],
      }),
    );
    assert.equal(existsSync(markerPath(home)), false);

    rmSync(corrupt);
    addDb(home, "versions/0.31.0", [
      row(home, "b", { instance_name: "b-newer", started_at: 9e12 }),
      row(home, "d"),
    ]);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 3, rows_seen: 5, records_written: 1, records_skipped_existing: 3 }),
    );
    assert.ok(existsSync(markerPath(home)));
    assert.deepEqual(await activeIds(registry), ["a", "b", "c", "d"]);
    assert.deepEqual(await retiredIds(registry), []);
    // Written ids are never overwritten, even by a newer copy found later.
    assert.equal((await registry.get("b"))?.data.instance_name, "name-b");
    assert.deepEqual(await migrate(home, registry), ZERO);
  });

  test("an unmappable working dir is counted and skipped", async (t) => {
    const home = makeHome(t);
    const base = agentsBase(home);
    const channelAgents = join(home, "channels", "beta", "agents");
    const unmappable = {
      elsewhere: "/srv/elsewhere/x",
      "user-agents": "/home/u/projects/agents/foo",
      "user-agents-2": join(home, "projects", "agents", "foo"),
      "the-base": base,
      "the-base-slash": `${base}/`,
      "bare-prefix": `${base}-old/x`,
      relative: "agents/x",
      escapes: `${base}/../etc`,
      empty: "",
      "own-base": channelAgents,
    };
    addDb(
      home,
      "channels/beta/versions/0.33.0",
      Object.entries(unmappable).map(([id, working_directory]) =>
        row(home, id, { working_directory }),
      ),
    );
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 1, rows_seen: 10, records_skipped_unmappable: 10 }),
    );
    assert.deepEqual(namesIn(registryRoot(home)), [MARKER, "retired"]);
  });

  // ── beyond the catalogue ──────────────────────────────────────────────────────────────────

  test("a file that is not a database (or a directory named objects.db) is skipped", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "good")]);
    addFileAsDb(home, "versions/0.31.0", '{\n  "this": "is json, not SQLite"\n}\n'.repeat(50));
    mkdirSync(dbPathIn(home, "versions/0.32.0"), { recursive: true });
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({
        dbs_scanned: 3,
        dbs_skipped: 2,
        rows_seen: 1,
        records_written: 1,
        complete: false,
        unreadable: [
          { path: dbPathIn(home, "versions/0.31.0"), reason: "file is not a database" },
          { path: dbPathIn(home, "versions/0.32.0"), reason: "not a regular file" },
        ],
      }),
    );
    assert.equal(existsSync(markerPath(home)), false);
  });

  test("a locked database is skipped (incomplete), never a throw or a hang", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "free")]);
    const lockedPath = addDb(home, "versions/0.31.0", [row(home, "locked")]);
    // A rollback-journal database: an EXCLUSIVE lock keeps readers out (in WAL mode it would not).
    const holder = new Database(lockedPath);
    t.after(() => {
      if (holder.open) holder.close();
    });
    assert.equal(holder.pragma("journal_mode", { simple: true }), "delete");
    holder.exec("BEGIN EXCLUSIVE");
    const registry = await openRegistry(home);

    // What happens: the read-only connection waits out better-sqlite3's default busy timeout
    // (5 s, synchronously), then gets SQLITE_BUSY "database is locked": the database is counted
    // skipped and the run incomplete, so no marker; the free database is migrated.
    const started = performance.now();
    const first = await migrate(home, registry);
    const elapsed = performance.now() - started;
    assert.deepEqual(
      first,
      stats({
        dbs_scanned: 2,
        dbs_skipped: 1,
        rows_seen: 1,
        records_written: 1,
        complete: false,
        unreadable: [{ path: lockedPath, reason: "database is locked" }],
      }),
    );
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
    assert.equal(existsSync(markerPath(home)), false);

    holder.exec("COMMIT");
    holder.close();
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 2, rows_seen: 2, records_written: 1, records_skipped_existing: 1 }),
    );
    assert.deepEqual(await activeIds(registry), ["free", "locked"]);
  });

  test("10,000 named rows across 30 versions", async (t) => {
    const home = makeHome(t);
    // 2,000 agents, each seen in 5 of the 30 databases (10,000 named rows), the copy in the
    // highest-numbered database being the newest; every 10th agent is hidden in one old copy;
    // plus unnamed and continuation rows that are not read at all.
    const agents = 2_000;
    const copies = 5;
    const perDb: ReturnType<typeof row>[][] = Array.from({ length: 30 }, () => []);
    for (let n = 0; n < agents; n++) {
      for (let c = 0; c < copies; c++) {
        const dbIndex = (n + c * 6) % 30;
        perDb[dbIndex]?.push(
          row(home, `agent-${n}`, {
            instance_name: `agent ${n} in db ${dbIndex}`,
            started_at: 1_700_000_000_000 + dbIndex,
            display_hidden: n % 10 === 0 && c === 0 ? 1 : 0,
          }),
        );
      }
    }
    perDb.forEach((rows, i) => {
      rows.push(row(home, `unnamed-${i}`, { instance_name: "" }));
      rows.push(row(home, `cont-${i}`, { parent_instance_id: "agent-1" }));
      addDb(home, `versions/0.${String(i).padStart(2, "0")}.0`, rows);
    });
    const registry = await openRegistry(home);
    const started = performance.now();
    const result = await migrate(home, registry);
    const elapsed = performance.now() - started;
    t.diagnostic(`migrated 10,000 rows / 2,000 agents in ${elapsed.toFixed(0)} ms`);
    assert.deepEqual(
      result,
      stats({ dbs_scanned: 30, rows_seen: agents * copies, records_written: agents }),
    );
    const root = registryRoot(home);
    assert.equal(namesIn(root).length, agents - agents / 10 + 2);
    assert.equal(namesIn(join(root, "retired")).length, agents / 10);
    const sample = JSON.parse(readFileSync(join(root, "agent-7.json"), "utf8"));
    const newestDb = Math.max(...Array.from({ length: copies }, (_, c) => (7 + c * 6) % 30));
    assert.equal(sample.data.instance_name, `agent 7 in db ${newestDb}`);
  });

  test("ids that are not valid registry ids are skipped, counted once, and nothing lands outside the root", async (t) => {
    const home = makeHome(t);
    const bad = ["../../x", "a/b", "CON", "con.txt", ".hidden", "x.", "a".repeat(200), "", "..\\y"];
    addDb(home, "versions/0.30.0", [...bad.map((id) => row(home, id)), row(home, "ok")]);
    addDb(
      home,
      "versions/0.31.0",
      bad.map((id) => row(home, id, { started_at: 9e12 })),
    );
    const registry = await openRegistry(home);
    const root = registryRoot(home);
    const inRoot = (rel: string) =>
      rel === "shared/agents/registry" || rel.startsWith("shared/agents/registry/");
    const before = snapshot(home, inRoot);
    assert.deepEqual(
      await migrate(home, registry),
      stats({
        dbs_scanned: 2,
        rows_seen: bad.length * 2 + 1,
        records_written: 1,
        records_skipped_invalid: bad.length,
      }),
    );
    assert.deepEqual(snapshot(home, inRoot), before);
    assert.deepEqual(namesIn(root), [MARKER, "ok.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
  });

  test("created_at 0 takes started_at", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [
      row(home, "zero", { created_at: 0, started_at: 1_747_061_640_123 }),
      row(home, "set", { created_at: 777, started_at: 1_747_061_640_123 }),
    ]);
    const registry = await openRegistry(home);
    await migrate(home, registry);
    const records = byId(await registry.listActive());
    assert.equal(records.get("zero")?.created_at_ms, 1_747_061_640_123);
    assert.equal(records.get("zero")?.last_launched_at_ms, 1_747_061_640_123);
    assert.equal(records.get("set")?.created_at_ms, 777);
  });

  test("empty identity, memory and session become null; non-empty ones are carried", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [
      row(home, "bare"),
      row(home, "full", { identity_id: "agenta", memory_id: "mem-1", session_id: "sess-1" }),
    ]);
    const registry = await openRegistry(home);
    await migrate(home, registry);
    const records = byId(await registry.listActive());
    assert.equal(records.get("bare")?.identity_id, null);
    assert.equal(records.get("bare")?.memory_id, null);
    assert.equal(records.get("bare")?.session_id, null);
    assert.equal(records.get("full")?.identity_id, "agenta");
    assert.equal(records.get("full")?.memory_id, "mem-1");
    assert.equal(records.get("full")?.session_id, "sess-1");
    // null is written, never omitted (SPEC §2).
    const text = readFileSync(join(registryRoot(home), "bare.json"), "utf8");
    assert.match(text, /"identity_id": null,\n/);
    assert.match(text, /"memory_id": null,\n/);
    assert.match(text, /"session_id": null,\n/);
  });

  test('both *_by_version are "(legacy)"', async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "a", { display_hidden: 1 }), row(home, "b")]);
    const registry = await openRegistry(home);
    await migrate(home, registry);
    for (const record of [...(await registry.listActive()), ...(await registry.listRetired())]) {
      assert.equal(record.data.created_by_version, "(legacy)");
      assert.equal(record.data.last_launched_by_version, "(legacy)");
    }
    assert.equal((await registry.listRetired()).length, 1);
  });

  test("a timestamp beyond ±(2^53−1) makes the row invalid", async (t) => {
    const home = makeHome(t);
    const max = 2n ** 53n - 1n;
    addDb(home, "versions/0.30.0", [
      row(home, "started-big", { started_at: max + 1n }),
      row(home, "created-big", { created_at: 2n ** 62n }),
      row(home, "started-neg", { started_at: -(max + 1n), created_at: 5 }),
      row(home, "zero-created-big-start", { created_at: 0, started_at: max + 1n }),
      row(home, "edge", { started_at: max, created_at: -max }),
    ]);
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 1, rows_seen: 5, records_written: 1, records_skipped_invalid: 4 }),
    );
    const text = readFileSync(join(registryRoot(home), "edge.json"), "utf8");
    assert.match(text, /"last_launched_at_ms": 9007199254740991,/);
    assert.match(text, /"created_at_ms": -9007199254740991,/);
  });

  test("the progress callback reports a read and a write phase", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [row(home, "a")]);
    addFileAsDb(home, "versions/0.31.0", garbage());
    addDb(home, "dev/main", [row(home, "b"), row(home, "c")]);
    const registry = await openRegistry(home);
    const events: MigrateProgress[] = [];
    const result = await migrateFromSqliteOnce(home, registry, {
      onProgress: (progress) => events.push(progress),
    });
    assert.equal(result.records_written, 3);
    const reads = events.filter((e) => e.phase === "read");
    const writes = events.filter((e) => e.phase === "write");
    assert.deepEqual(
      reads.map((e) => [e.done, e.total]),
      [
        [1, 3],
        [2, 3],
        [3, 3],
      ],
    );
    assert.deepEqual(
      reads.map((e) => e.phase === "read" && e.database).sort(),
      [
        dbPathIn(home, "dev/main"),
        dbPathIn(home, "versions/0.30.0"),
        dbPathIn(home, "versions/0.31.0"),
      ].sort(),
    );
    assert.ok(writes.length >= 1);
    assert.deepEqual(writes.at(-1), { phase: "write", done: 3, total: 3 });
    // Reading comes first, then writing.
    assert.ok(
      events.findIndex((e) => e.phase === "write") >
        events.findLastIndex((e) => e.phase === "read"),
    );
  });

  test("rows_seen counts the rows read (named chain heads, duplicates included)", async (t) => {
    const home = makeHome(t);
    addDb(home, "versions/0.30.0", [
      row(home, "a"),
      row(home, "b", { display_hidden: 1 }),
      row(home, "unnamed", { instance_name: "" }),
      row(home, "continuation", { parent_instance_id: "a" }),
    ]);
    addDb(home, "versions/0.31.0", [row(home, "a"), row(home, "bad", { working_directory: "/x" })]);
    addDb(home, "versions/0.32.0", [row(home, "old")], { schema: "pre-v8" });
    const registry = await openRegistry(home);
    assert.deepEqual(
      await migrate(home, registry),
      stats({ dbs_scanned: 3, rows_seen: 4, records_written: 2, records_skipped_unmappable: 1 }),
    );
  });

  test("never writes a source: main file and -wal byte-identical, no journal created or removed", async (t) => {
    const home = makeHome(t);
    const deletePath = addDb(home, "versions/0.30.0", [row(home, "plain")]);

    // A live writer in another process: WAL mode, autocheckpoint off, rows committed to the WAL
    // and not checkpointed into the main file.
    const livePath = addDb(home, "channels/beta/versions/0.31.0", [row(home, "checkpointed")], {
      journal: "wal",
    });
    await holdDatabase(t, livePath, [
      "PRAGMA journal_mode = WAL",
      "PRAGMA wal_autocheckpoint = 0",
      insertSql([row(home, "wal-only-1"), row(home, "wal-only-2", { display_hidden: 1 })]),
    ]);

    // A writer that crashed (SIGKILL) with committed rows still only in its WAL.
    const crashedPath = addDb(home, "dev/main", [], { journal: "wal" });
    const crashed = await holdDatabase(t, crashedPath, [
      "PRAGMA journal_mode = WAL",
      "PRAGMA wal_autocheckpoint = 0",
      insertSql([row(home, "crash-wal")]),
    ]);
    await crashed.kill();

    // A writer that crashed mid-transaction in rollback mode: a hot journal beside the file.
    const hotPath = addDb(home, "versions/0.29.0", [row(home, "committed-before-crash")]);
    const hot = await holdDatabase(t, hotPath, [
      "BEGIN",
      insertSql([row(home, "never-committed")]),
      "UPDATE db_agent_instances SET instance_name = 'torn' WHERE id = 'committed-before-crash'",
    ]);
    await hot.kill();

    const sources = [deletePath, livePath, crashedPath, hotPath];
    for (const path of [livePath, crashedPath]) {
      // The rows really are only in the -wal: the main file alone does not have them.
      const copyDir = tempDir(t);
      copyFileSync(path, join(copyDir, "main-only.db"));
      const copy = new Database(join(copyDir, "main-only.db"), { readonly: true });
      const ids = copy.prepare("SELECT id FROM db_agent_instances ORDER BY id").pluck().all();
      copy.close();
      assert.ok(!ids.includes("wal-only-1") && !ids.includes("crash-wal"), String(ids));
    }
    assert.ok(existsSync(`${hotPath}-journal`), "the crashed transaction left its journal");
    const before = sources.map(sourceState);

    const registry = await openRegistry(home);
    const result = await migrate(home, registry);

    assert.deepEqual(sources.map(sourceState), before);
    assert.deepEqual(
      result,
      stats({ dbs_scanned: 4, rows_seen: 6, records_written: 6 }),
      "every source was read",
    );
    assert.deepEqual(await activeIds(registry), [
      "checkpointed",
      "committed-before-crash",
      "crash-wal",
      "plain",
      "wal-only-1",
    ]);
    assert.deepEqual(await retiredIds(registry), ["wal-only-2"]);
    assert.equal(
      (await registry.get("committed-before-crash"))?.data.instance_name,
      "name-committed-before-crash",
    );
  });

  test("never writes a source: a cleanly closed WAL database gets no -wal file", async (t) => {
    const home = makeHome(t);
    const path = addDb(home, "versions/0.33.0", [row(home, "a")], { journal: "wal" });
    assert.equal(existsSync(`${path}-wal`), false);
    const before = sourceState(path);
    const registry = await openRegistry(home);
    assert.equal((await migrate(home, registry)).records_written, 1);
    assert.deepEqual(sourceState(path), before);
    assert.equal(existsSync(`${path}-wal`), false, "an empty -wal was created beside the source");
  });
});
