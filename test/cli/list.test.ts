/**
 * Reading commands, black box: `list` (order, `--definition`, `--limit`, `--all`), `show`,
 * `trash`; aligned tables, relative times, control characters, and a registry with corrupt files.
 */

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AGENT_KEYS,
  assertErrorLine,
  assertExit,
  assertOk,
  keys,
  parseJson,
  recordText,
  type Sandbox,
  sandbox,
  seed,
  tableCells,
  writeRaw,
} from "./harness.js";

interface AgentJson {
  instance_id: string;
  instance_name: string;
  definition_id: string;
  last_launched_at_ms: number;
  [key: string]: unknown;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Writes `count` valid records straight into the root, launched one minute apart. */
function seedMany(box: Sandbox, count: number, base: number): void {
  mkdirSync(box.root, { recursive: true });
  for (let i = 0; i < count; i++) {
    const id = `bulk-${String(i).padStart(4, "0")}`;
    writeFileSync(
      join(box.root, `${id}.json`),
      recordText({
        instance_id: id,
        definition_id: i % 5 === 0 ? "gemini" : "claude-code",
        last_launched_at_ms: base + i * 60_000,
      }),
    );
  }
}

describe("cli: reading", { concurrency: true }, () => {
  describe("cli: list", { concurrency: true }, () => {
    test("newest launch first, ties by id; --definition filters; aligned table; --json", async (t) => {
      const box = sandbox(t);
      const now = Date.now();
      seed(box, {
        instance_id: "id-old",
        instance_name: "Old timer",
        last_launched_at_ms: now - 40 * DAY,
        identity_id: "agenta",
      });
      seed(box, {
        instance_id: "id-b",
        instance_name: "b",
        definition_id: "gemini",
        last_launched_at_ms: now - 3 * HOUR,
        memory_id: "mem-1",
      });
      seed(box, {
        instance_id: "id-a",
        instance_name: "tie a",
        last_launched_at_ms: now - 3 * HOUR,
      });
      seed(box, {
        instance_id: "id-new",
        instance_name: "a much longer agent name",
        last_launched_at_ms: now - 10 * 60_000,
        session_id: "sess",
        working_dir: "nested/dir",
      });
      seed(box, { instance_id: "id-gone", instance_name: "gone" }, { retired: true });

      const human = await box.run(["list"]);
      assertOk(human);
      const rows = tableCells(human.stdout);
      assert.deepEqual(rows, [
        ["a much longer agent name", "claude-code", "-", "-", "10 min ago", "nested/dir", "id-new"],
        ["tie a", "claude-code", "-", "-", "3 h ago", "id-a-wd", "id-a"],
        ["b", "gemini", "-", "mem-1", "3 h ago", "id-b-wd", "id-b"],
        ["Old timer", "claude-code", "agenta", "-", "1 mo ago", "id-old-wd", "id-old"],
      ]);

      const json = await box.run(["list", "--json"]);
      assertOk(json);
      const body = parseJson<{ agents: AgentJson[] }>(json);
      assert.deepEqual(keys(body), ["agents"]);
      assert.deepEqual(
        body.agents.map((agent) => agent.instance_id),
        ["id-new", "id-a", "id-b", "id-old"],
      );
      for (const agent of body.agents) assert.deepEqual(keys(agent), AGENT_KEYS);
      const newest = body.agents[0];
      assert.equal(newest?.session_id, "sess");
      assert.equal(newest?.schema_version, 2);
      assert.equal(newest?.source_agents_base, null);

      const gemini = parseJson<{ agents: AgentJson[] }>(
        await box.run(["--json", "list", "--definition", "gemini"]),
      );
      assert.deepEqual(
        gemini.agents.map((agent) => agent.instance_id),
        ["id-b"],
      );
      const none = await box.run(["list", "--definition", "nothing-like-it"]);
      assertOk(none);
      assert.equal(none.stdout, `no nothing-like-it agents in ${box.root}\n`);
      assert.deepEqual(
        parseJson<{ agents: unknown[] }>(await box.run(["--json", "list", "--definition", "x"])),
        { agents: [] },
      );
    });

    test("default limit 200, --limit N, the 1000 cap, and --all lifts it (1005 records)", async (t) => {
      const box = sandbox(t);
      const base = Date.now() - 2000 * 60_000;
      seedMany(box, 1005, base);
      const ids = async (args: string[]) => {
        const result = await box.run(["--json", "list", ...args]);
        assertOk(result);
        return parseJson<{ agents: AgentJson[] }>(result).agents.map((agent) => agent.instance_id);
      };
      const newest = (n: number) =>
        Array.from({ length: n }, (_, i) => `bulk-${String(1004 - i).padStart(4, "0")}`);

      assert.deepEqual(await ids([]), newest(200), "default: the 200 newest, newest first");
      assert.deepEqual(await ids(["--limit", "0"]), newest(200), "0 means the default");
      assert.deepEqual(await ids(["--limit", "3"]), newest(3));
      assert.deepEqual(await ids(["--limit", "5000"]), newest(1000), "capped at 1000");
      assert.deepEqual(await ids(["--all"]), newest(1005), "--all: every active record");
      const gemini = await ids(["--all", "--definition", "gemini"]);
      assert.equal(gemini.length, 201);
      assert.equal(gemini[0], "bulk-1000");

      const human = await box.run(["list", "--all"]);
      assertOk(human);
      const rows = tableCells(human.stdout);
      assert.equal(rows.length, 1005);
      assert.equal(rows[0]?.[6], "bulk-1004");
      assert.equal(rows[1004]?.[6], "bulk-0000");
    });

    test("a record launched 3 hours ago shows '3 h ago'; relative times in show too", async (t) => {
      const box = sandbox(t);
      const now = Date.now();
      seed(box, { instance_id: "three", last_launched_at_ms: now - 3 * HOUR });
      seed(box, { instance_id: "two-days", last_launched_at_ms: now - 2 * DAY - HOUR });
      seed(box, { instance_id: "fresh", last_launched_at_ms: now - 5_000 });
      const rows = tableCells((await box.run(["list"])).stdout);
      assert.deepEqual(
        rows.map((row) => [row[6], row[4]]),
        [
          ["fresh", "just now"],
          ["three", "3 h ago"],
          ["two-days", "2 d ago"],
        ],
      );
      const shown = await box.run(["show", "three"]);
      assertOk(shown);
      assert.match(shown.stdout, /^last launched\s+3 h ago by 0\.33\.821$/m);
    });

    test("control characters in record fields never reach the terminal", async (t) => {
      const box = sandbox(t);
      seed(box, {
        instance_id: "evil",
        instance_name: "red\u001b[31mALERT\u0007",
        definition_id: "def\u009bx",
      });
      seed(box, { instance_id: "plain", instance_name: "plain" });
      const listed = await box.run(["list"]); // runBin asserts no ESC on either stream
      assertOk(listed);
      const row = tableCells(listed.stdout).find((cells) => cells[6] === "evil");
      // Written out visibly, so a reader sees that something odd is in the name.
      assert.deepEqual(row?.slice(0, 2), ["red\\u001B[31mALERT\\u0007", "def\\u009Bx"]);
      const shown = await box.run(["show", "evil"]);
      assertOk(shown);
      assert.match(shown.stdout, /^name\s+red\\u001B\[31mALERT\\u0007$/m);
      // --json carries the exact value (escaped by JSON).
      const json = parseJson<{ agent: AgentJson }>(await box.run(["--json", "show", "evil"]));
      assert.equal(json.agent.instance_name, "red\u001b[31mALERT\u0007");
    });
  });

  describe("cli: a registry with corrupt files", { concurrency: true }, () => {
    test("list still works; stderr says how many files could not be loaded; --quiet hushes", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "good" });
      const bad = writeRaw(box, "bad.json", "{ not json");
      const newer = writeRaw(
        box,
        "v999.json",
        `${JSON.stringify({ schema_version: 999, data: { instance_id: "v999" } }, null, 2)}\n`,
      );
      writeRaw(box, "readme.txt", "not a record");
      const badBytes = readFileSync(bad);
      const newerBytes = readFileSync(newer);

      const human = await box.run(["list"]);
      assertExit(human, 0);
      assert.deepEqual(
        tableCells(human.stdout).map((row) => row[6]),
        ["good"],
      );
      assert.equal(
        human.stderr,
        "2 agent record files could not be loaded; run: agentmux-registry doctor\n",
      );

      const json = await box.run(["--json", "list"]);
      assertExit(json, 0);
      assert.deepEqual(
        parseJson<{ agents: AgentJson[] }>(json).agents.map((agent) => agent.instance_id),
        ["good"],
      );
      assert.match(json.stderr, /^2 agent record files could not be loaded/);

      for (const args of [
        ["--quiet", "list"],
        ["list", "--quiet"],
        ["--quiet", "--json", "list"],
      ]) {
        const quiet = await box.run(args);
        assertExit(quiet, 0);
        assert.equal(quiet.stderr, "", `${args.join(" ")}: no note`);
        assert.notEqual(quiet.stdout, "");
      }
      assert.deepEqual(readFileSync(bad), badBytes, "never modified");
      assert.deepEqual(readFileSync(newer), newerBytes, "never modified");
    });

    test("trash counts corrupt files in the Trash the same way", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "gone" }, { retired: true });
      writeRaw(box, "retired/bad.json", "{ not json");
      const human = await box.run(["trash"]);
      assertExit(human, 0);
      assert.deepEqual(
        tableCells(human.stdout).map((row) => row[6]),
        ["gone"],
      );
      assert.match(human.stderr, /^1 agent record file could not be loaded/);
      assert.equal((await box.run(["trash", "--quiet"])).stderr, "");
    });
  });

  describe("cli: show and trash", { concurrency: true }, () => {
    test("show by id or name, active or in the Trash; --json keys", async (t) => {
      const box = sandbox(t);
      seed(box, {
        instance_id: "aaa",
        instance_name: "Alpha",
        identity_id: "agenta",
        session_id: "sess-1",
      });
      seed(box, { instance_id: "zzz", instance_name: "Zed" }, { retired: true });

      const byName = await box.run(["show", "Alpha"]);
      assertOk(byName);
      const lines = byName.stdout.trimEnd().split("\n");
      assert.deepEqual(
        lines.map((line) => line.split(/\s{2,}/)[0]),
        [
          "id",
          "name",
          "definition",
          "identity",
          "memory",
          "session",
          "working dir",
          "created",
          "last launched",
          "schema",
        ],
      );
      const valueColumn = new Set(lines.map((line) => line.search(/(?<=\S {2,})\S/)));
      assert.equal(valueColumn.size, 1, `values aligned: ${byName.stdout}`);
      assert.match(byName.stdout, /^id\s+aaa$/m);
      assert.match(byName.stdout, /^session\s+sess-1$/m);
      assert.match(
        byName.stdout,
        new RegExp(`^working dir\\s+${join(box.agentsBase, "aaa-wd")}$`, "m"),
      );
      assert.ok(!byName.stdout.includes("Trash"));

      const json = await box.run(["--json", "show", "aaa"]);
      assertOk(json);
      const body = parseJson<{ agent: AgentJson; working_dir_path: string; retired: boolean }>(
        json,
      );
      assert.deepEqual(keys(body), ["agent", "retired", "working_dir_path"]);
      assert.deepEqual(keys(body.agent), AGENT_KEYS);
      assert.equal(body.retired, false);
      assert.equal(body.working_dir_path, join(box.agentsBase, "aaa-wd"));

      const retired = await box.run(["show", "Zed"]);
      assertOk(retired);
      assert.match(retired.stdout, /\(in the Trash\)\n$/);
      const retiredJson = parseJson<{ retired: boolean; agent: AgentJson }>(
        await box.run(["--json", "show", "zzz"]),
      );
      assert.equal(retiredJson.retired, true);
      assert.equal(retiredJson.agent.instance_id, "zzz");
    });

    test("trash: retired agents only, newest first; empty Trash", async (t) => {
      const box = sandbox(t);
      const empty = await box.run(["trash"]);
      assertOk(empty);
      assert.equal(empty.stdout, `the Trash of ${box.root} is empty\n`);
      assert.deepEqual(parseJson(await box.run(["--json", "trash"])), { agents: [] });

      seed(box, { instance_id: "active" });
      seed(box, { instance_id: "r-old", last_launched_at_ms: 1_000 }, { retired: true });
      seed(box, { instance_id: "r-new", last_launched_at_ms: 2_000 }, { retired: true });
      const human = await box.run(["trash"]);
      assertOk(human);
      assert.deepEqual(
        tableCells(human.stdout).map((row) => row[6]),
        ["r-new", "r-old"],
      );
      const json = parseJson<{ agents: AgentJson[] }>(await box.run(["trash", "--json"]));
      assert.deepEqual(keys(json), ["agents"]);
      assert.deepEqual(
        json.agents.map((agent) => agent.instance_id),
        ["r-new", "r-old"],
      );
      for (const agent of json.agents) assert.deepEqual(keys(agent), AGENT_KEYS);
    });

    test("show of a name only the Trash has, and of nothing at all", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "x1", instance_name: "twin" }, { retired: true });
      seed(box, { instance_id: "x2", instance_name: "twin" });
      // The active one wins over the Trash: one active match is not ambiguous.
      assert.match((await box.run(["show", "twin"])).stdout, /^id\s+x2$/m);
      assertErrorLine(await box.run(["show", "nobody"]), 3);
    });
  });
});
