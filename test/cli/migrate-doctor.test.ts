/**
 * `migrate` on a fake install with several versions (SPEC §9) and `doctor` (SPEC §10–§11),
 * black box.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  addDatabase,
  assertExit,
  assertOk,
  keys,
  parseJson,
  readRecord,
  type Sandbox,
  sandbox,
  seed,
  writeRaw,
} from "./harness.js";

const STATS_KEYS = [
  "complete",
  "dbs_scanned",
  "dbs_skipped",
  "records_skipped_existing",
  "records_skipped_invalid",
  "records_skipped_unmappable",
  "records_written",
  "rows_seen",
  "unreadable",
];

interface Stats {
  dbs_scanned: number;
  dbs_skipped: number;
  rows_seen: number;
  records_written: number;
  records_skipped_existing: number;
  records_skipped_unmappable: number;
  records_skipped_invalid: number;
  complete: boolean;
  unreadable: { path: string; reason: string }[];
}

const ZERO: Stats = {
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

const MARKER = ".migrated_from_sqlite";

/** Every file under the registry root with its bytes. */
function snapshot(box: Sandbox): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(path, readFileSync(path, "base64"));
    }
  };
  walk(box.root);
  return out;
}

/**
 * Three installed versions. `aaa` is in two of them (the later `started_at` wins), `ccc` is
 * hidden in one (a tombstone), `ddd` lives outside every agents base, `bad id!` is not an id,
 * `fff` is already in the Trash; unnamed rows and continuations are not chain heads.
 */
function fakeInstall(box: Sandbox): void {
  const wd = (name: string) => join(box.agentsBase, name);
  addDatabase(box.home, "versions/0.30.0", [
    { id: "aaa", instance_name: "alpha-old", working_directory: wd("aaa-wd"), started_at: 100 },
    { id: "bbb", instance_name: "beta", working_directory: wd("bbb-wd"), started_at: 200 },
    {
      id: "ccc",
      instance_name: "gamma",
      working_directory: wd("ccc-wd"),
      started_at: 300,
      display_hidden: 1,
    },
    { id: "unnamed", instance_name: "", working_directory: wd("u") },
    { id: "cont", instance_name: "x", working_directory: wd("c"), parent_instance_id: "aaa" },
  ]);
  addDatabase(box.home, "versions/0.31.2", [
    { id: "aaa", instance_name: "alpha", working_directory: wd("aaa-wd"), started_at: 400 },
    { id: "ddd", instance_name: "delta", working_directory: "/somewhere/else/ddd" },
    { id: "bad id!", instance_name: "bad", working_directory: wd("bad") },
  ]);
  addDatabase(box.home, "versions/0.33.821", [
    {
      id: "eee",
      instance_name: "epsilon",
      working_directory: wd("nested/eee"),
      session_id: "sess-1",
      identity_id: "agenta",
      started_at: 500,
      created_at: 0,
    },
    { id: "ccc", instance_name: "gamma", working_directory: wd("ccc-wd"), started_at: 250 },
    { id: "fff", instance_name: "phi", working_directory: wd("fff-wd") },
  ]);
}

describe("cli: migrate and doctor", { concurrency: true }, () => {
  describe("cli: migrate", { concurrency: true }, () => {
    test("a fake install with three versions: stats, records, tombstones; a second run writes nothing", async (t) => {
      const box = sandbox(t);
      const tombstone = seed(box, { instance_id: "fff", instance_name: "kept" }, { retired: true });
      const tombstoneBytes = readFileSync(tombstone);
      fakeInstall(box);

      const first = await box.run(["--json", "migrate"]);
      assertOk(first);
      const stats = parseJson<Stats>(first);
      assert.deepEqual(keys(stats), STATS_KEYS);
      assert.deepEqual(stats, {
        dbs_scanned: 3,
        dbs_skipped: 0,
        rows_seen: 9,
        records_written: 4,
        records_skipped_existing: 1,
        records_skipped_unmappable: 1,
        records_skipped_invalid: 1,
        complete: true,
        unreadable: [],
      });
      assert.ok(existsSync(join(box.root, MARKER)));
      assert.match(readFileSync(join(box.root, MARKER), "utf8"), /^migration_version: 2$/m);

      const active = parseJson<{ agents: Record<string, unknown>[] }>(
        await box.run(["--json", "list"]),
      );
      assert.deepEqual(
        active.agents.map((agent) => [agent.instance_id, agent.instance_name]),
        [
          ["eee", "epsilon"],
          ["aaa", "alpha"],
          ["bbb", "beta"],
        ],
      );
      const eee = readRecord(join(box.root, "eee.json"));
      assert.deepEqual(eee, {
        schema_version: 3,
        data: {
          instance_id: "eee",
          instance_name: "epsilon",
          definition_id: "claude-code",
          identity_id: "agenta",
          memory_id: null,
          session_id: "sess-1",
          working_dir: "nested/eee",
          source_agents_base: box.agentsBase,
          created_at_ms: 500,
          last_launched_at_ms: 500,
          created_by_version: "(legacy)",
          last_launched_by_version: "(legacy)",
        },
      });
      assert.equal(readRecord(join(box.root, "aaa.json")).data.last_launched_at_ms, 400);
      const trash = parseJson<{ agents: Record<string, unknown>[] }>(
        await box.run(["--json", "trash"]),
      );
      assert.deepEqual(trash.agents.map((agent) => agent.instance_id).sort(), ["ccc", "fff"]);
      assert.deepEqual(readFileSync(tombstone), tombstoneBytes, "never overwritten");

      const state = snapshot(box);
      const second = await box.run(["--json", "migrate"]);
      assertOk(second);
      assert.deepEqual(parseJson(second), ZERO);
      assert.deepEqual(snapshot(box), state, "the second run wrote nothing");

      const human = await box.run(["migrate"]);
      assertOk(human);
      assert.equal(
        human.stdout,
        "databases: 0 found, 0 unreadable; rows: 0\n" +
          "records: 0 written, 0 already present, 0 outside the agents bases, 0 invalid\n" +
          "complete\n",
      );
      assert.equal(box.userHomeTouched(), false);
    });

    test("--home, --root and --agents-base given explicitly", async (t) => {
      const box = sandbox(t, "flags");
      addDatabase(box.home, "versions/0.1.0", [
        { id: "aaa", instance_name: "a", working_directory: join(box.agentsBase, "aaa-wd") },
      ]);
      const result = await box.run(["migrate", "--json"]);
      assertOk(result);
      assert.equal(parseJson<Stats>(result).records_written, 1);
      assert.ok(existsSync(join(box.root, "aaa.json")));
      assert.equal(box.userHomeTouched(), false);
    });

    test("--home alone also sets the default root and agents base (<home>/shared/…, <home>/agents)", async (t) => {
      const box = sandbox(t, "flags");
      addDatabase(box.home, "versions/0.1.0", [
        { id: "aaa", instance_name: "a", working_directory: join(box.agentsBase, "aaa-wd") },
      ]);
      const result = await box.runRaw(["--json", "migrate", "--home", box.home]);
      assertOk(result);
      // Today: the row is "unmappable" against ~/.agentmux/agents and the marker is written into
      // ~/.agentmux/shared/agents/registry, so the real migration of $HOME would never run.
      assert.equal(box.userHomeTouched(), false, "nothing written under $HOME");
      assert.equal(parseJson<Stats>(result).records_written, 1);
      assert.ok(existsSync(join(box.root, "aaa.json")));
    });

    test("a corrupt database: the others migrate, exit 75, no marker; doctor says so; a retry completes", async (t) => {
      const box = sandbox(t);
      addDatabase(box.home, "versions/0.1.0", [
        { id: "aaa", instance_name: "a", working_directory: join(box.agentsBase, "aaa-wd") },
      ]);
      const corrupt = join(box.home, "versions", "0.2.0", "data", "db", "objects.db");
      addDatabase(box.home, "versions/0.2.0", []);
      writeFileSync(corrupt, Buffer.alloc(8192, 0x5a));

      const json = await box.run(["--json", "migrate"]);
      assertExit(json, 75);
      assert.deepEqual(parseJson(json), {
        dbs_scanned: 2,
        dbs_skipped: 1,
        rows_seen: 1,
        records_written: 1,
        records_skipped_existing: 0,
        records_skipped_unmappable: 0,
        records_skipped_invalid: 0,
        complete: false,
        unreadable: [{ path: corrupt, reason: "file is not a database" }],
      });
      assert.ok(existsSync(join(box.root, "aaa.json")));
      assert.equal(existsSync(join(box.root, MARKER)), false, "no marker for an incomplete run");

      const human = await box.run(["migrate"]);
      assertExit(human, 75);
      assert.match(human.stdout, /^databases: 2 found, 1 unreadable; rows: 1$/m);
      assert.match(human.stdout, /^records: 0 written, 1 already present/m);
      assert.match(human.stdout, /^incomplete: /m);
      assert.ok(human.stdout.includes(`\n  ${corrupt}: file is not a database\n`), human.stdout);

      mkdirSync(join(box.agentsBase, "aaa-wd"), { recursive: true });
      const doctor = await box.run(["--json", "doctor"]);
      assertExit(doctor, 4);
      const report = parseJson<Report>(doctor);
      // The migration, and the database that stops it, by name and reason.
      assert.deepEqual(
        report.problems.map((problem) => problem.kind),
        ["migration-incomplete", "migration-incomplete"],
      );
      assert.match(report.problems[0]?.fix ?? "", /agentmux-registry migrate --home /);
      assert.equal(report.problems[1]?.subject, corrupt);
      assert.match(report.problems[1]?.message ?? "", /file is not a database/);

      addDatabase(box.home, "versions/0.2.0-repaired", []);
      writeFileSync(
        corrupt,
        readFileSync(join(box.home, "versions/0.2.0-repaired/data/db/objects.db")),
      );
      const retry = await box.run(["--json", "migrate"]);
      assertOk(retry);
      assert.equal(parseJson<Stats>(retry).complete, true);
      assert.ok(existsSync(join(box.root, MARKER)));
      assertOk(await box.run(["doctor"]));
    });

    test("an empty home: zero databases, complete, marker written", async (t) => {
      const box = sandbox(t);
      const result = await box.run(["--json", "migrate"]);
      assertOk(result);
      assert.deepEqual(parseJson(result), ZERO);
      assert.ok(existsSync(join(box.root, MARKER)));
    });
  });

  interface Report {
    root: string;
    agentsBase: string;
    active: number;
    retired: number;
    problems: { kind: string; subject: string; message: string; fix: string }[];
    fixed: string[];
  }

  describe("cli: doctor", { concurrency: true }, () => {
    test("a clean registry: exit 0, 'no problems found'; --json keys", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      seed(box, { instance_id: "old" }, { retired: true });
      const human = await box.run(["doctor"]);
      assertOk(human);
      assert.equal(
        human.stdout,
        `registry ${box.root}: 1 active, 1 in the Trash\nno problems found\n`,
      );
      const json = await box.run(["doctor", "--json"]);
      assertOk(json);
      const report = parseJson<Report>(json);
      assert.deepEqual(keys(report), [
        "active",
        "agents_base",
        "fixed",
        "problems",
        "retired",
        "root",
      ]);
      assert.deepEqual(report, {
        root: box.root,
        agents_base: box.agentsBase,
        active: 1,
        retired: 1,
        problems: [],
        fixed: [],
      });
    });

    test("corrupt files and a missing working dir: each listed with reason and fix, exit 4", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "good" });
      seed(box, { instance_id: "lost" }, { dir: false });
      const bad = writeRaw(box, "bad.json", "{ not json");
      writeRaw(
        box,
        "v999.json",
        `${JSON.stringify({ schema_version: 999, data: { instance_id: "v999" } })}\n`,
      );
      writeRaw(box, "retired/wrong-name.json", readFileSync(join(box.root, "good.json"), "utf8"));
      const state = snapshot(box);

      const human = await box.run(["doctor"]);
      assertExit(human, 4);
      const lines = human.stdout.trimEnd().split("\n");
      assert.equal(lines[0], `registry ${box.root}: 2 active, 0 in the Trash`);
      // Grouped by kind: a heading with the count, then each problem and its fix.
      assert.deepEqual(
        lines.filter((line) => !line.startsWith(" ")),
        [lines[0], "3 record files could not be loaded:", "1 working directory is missing:"],
      );
      assert.equal(lines.length, 1 + 2 + 2 * 4, human.stdout);
      assert.match(human.stdout, /^ {2}bad\.json could not be loaded \(invalid-json\)/m);
      assert.match(human.stdout, /^ {2}v999\.json could not be loaded \(newer-schema\)/m);
      assert.match(
        human.stdout,
        /^ {2}retired\/wrong-name\.json could not be loaded \(id-mismatch\)/m,
      );
      assert.match(human.stdout, /^ {2}working directory of name-lost \(lost\) is missing/m);
      assert.equal(human.stdout.match(/^ {4}fix: \S/gm)?.length, 4);

      const json = await box.run(["--json", "doctor"]);
      assertExit(json, 4);
      const report = parseJson<Report>(json);
      assert.deepEqual(report.problems.map((problem) => [problem.kind, problem.subject]).sort(), [
        ["skipped-file", "bad.json"],
        ["skipped-file", "retired/wrong-name.json"],
        ["skipped-file", "v999.json"],
        ["working-dir-missing", "lost"],
      ]);
      for (const problem of report.problems) {
        assert.deepEqual(keys(problem), ["fix", "kind", "message", "subject"]);
        assert.notEqual(problem.fix, "");
      }
      const byFile = new Map(report.problems.map((problem) => [problem.subject, problem]));
      assert.match(byFile.get("v999.json")?.fix ?? "", /upgrade/);
      // good.json is in the other tree: renaming into retired/ would make it an agent in both.
      assert.match(byFile.get("retired/wrong-name.json")?.fix ?? "", /good\.json already exists/);

      assertExit(await box.run(["doctor", "--fix"]), 4);
      assert.deepEqual(snapshot(box), state, "doctor (even --fix) changes no record file");
      assert.ok(existsSync(bad));
    });

    test("a stale temp file (older than 5 min) is reported, and removed only with --fix", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const stale = writeRaw(box, ".tmp-x.1.abc", "half a record", 10 * 60_000);
      const fresh = writeRaw(box, ".tmp-y.2.def", "a live write", 0);

      const report = await box.run(["--json", "doctor"]);
      assertExit(report, 4);
      assert.ok(existsSync(stale), "doctor without --fix removes nothing");
      assert.deepEqual(parseJson<Report>(report).problems, [
        {
          kind: "stale-file",
          subject: ".tmp-x.1.abc",
          message: ".tmp-x.1.abc was left by a writer that crashed",
          fix: "agentmux-registry doctor --fix",
        },
      ]);

      const fixed = await box.run(["doctor", "--fix"]);
      assertOk(fixed);
      assert.match(fixed.stdout, /^removed stale \.tmp-x\.1\.abc$/m);
      assert.equal(existsSync(stale), false, "--fix removed it");
      assert.ok(existsSync(fresh), "a fresh temp file is never touched");
    });

    test("doctor --fix: a fresh temp file is neither reported nor removed", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const fresh = writeRaw(box, ".tmp-y.2.def", "a live write", 0);
      const json = await box.run(["--json", "doctor", "--fix"]);
      assertOk(json);
      assert.deepEqual(parseJson<Report>(json).problems, []);
      assert.ok(existsSync(fresh));
    });
  });
});
