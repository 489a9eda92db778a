/**
 * Messages that help and references that work (issue 14), through the built binary: an `<agent>`
 * in the wrong tree says where it is and the next command to run; an id whose file cannot be
 * read says so and why, never "no agent"; unique id prefixes of 4+ characters work wherever an
 * `<agent>` is taken, after exact ids and names; ambiguity lists the candidates; `create` and
 * `rename` warn (never refuse) when the name is already taken.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  assertErrorLine,
  assertExit,
  assertJsonError,
  assertOk,
  keys,
  parseJson,
  type RunResult,
  readRecord,
  type Sandbox,
  sandbox,
  seed,
  show,
  writeRaw,
} from "./harness.js";

/** Every file under the registry's two trees with its bytes: "nothing changed" is this, equal. */
function trees(box: Sandbox): string {
  const out: string[] = [];
  for (const dir of [box.root, box.retired]) {
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith(".json")) continue;
      out.push(`${dir}/${name}:${readFileSync(join(dir, name), "utf8")}`);
    }
  }
  return out.join("\n");
}

/** The error line: the last line of stderr (candidates may be listed above it). */
function errorLine(result: RunResult, exit: number): string {
  assertExit(result, exit);
  assert.equal(result.stdout, "", `stdout must be empty on error: ${show(result)}`);
  const lines = result.stderr.trimEnd().split("\n");
  const last = lines.at(-1) ?? "";
  assert.match(last, /^error: /, show(result));
  assert.equal(
    lines.filter((line) => line.startsWith("error:")).length,
    1,
    `one error line: ${show(result)}`,
  );
  return last;
}

/** Parentheses never nest (the old hint did: "(see … list (or trash))"). */
function assertFlatParentheses(line: string): void {
  let depth = 0;
  for (const char of line) {
    if (char === "(") depth++;
    if (char === ")") depth--;
    assert.ok(depth <= 1 && depth >= 0, `nested or unbalanced parentheses: ${line}`);
  }
}

const ALPHA = "a1b2c3d4-0000-4000-8000-000000000001";
const BRAVO = "a1b2ffff-0000-4000-8000-000000000002";
const CHARLIE = "c0ffee00-0000-4000-8000-000000000003";

describe("messages: references", { concurrency: true }, () => {
  describe("an agent in the other tree says where it is and what to run", {
    concurrency: true,
  }, () => {
    test("forget of an agent already in the Trash says so, by id, name or prefix", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" }, { retired: true });
      const before = trees(box);
      for (const reference of [ALPHA, "alpha", "a1b2c3"]) {
        const line = assertErrorLine(await box.run(["forget", reference]), 3);
        assert.equal(
          line,
          `error: "alpha" is already in the Trash; to bring it back: agentmux-registry restore ${ALPHA}`,
        );
        assert.ok(!line.includes("no agent"), line);
        const error = assertJsonError(
          await box.run(["--json", "forget", reference]),
          3,
          "AGENT_NOT_FOUND",
        );
        assert.deepEqual(
          { id: error.id, instance_id: error.instance_id, retired: error.retired },
          { id: reference, instance_id: ALPHA, retired: true },
        );
      }
      assert.equal(trees(box), before, "nothing changed");
    });

    test("continue and rename of an agent in the Trash: restore it first, with the command", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" }, { retired: true });
      const before = trees(box);
      for (const args of [
        ["continue", "alpha"],
        ["continue", ALPHA],
        ["rename", "alpha", "beta"],
        ["rename", "a1b2c3d4", "beta"],
      ]) {
        const line = assertErrorLine(await box.run(args), 3);
        assert.equal(
          line,
          `error: "alpha" is in the Trash; restore it first: agentmux-registry restore ${ALPHA}`,
          args.join(" "),
        );
        assertJsonError(await box.run(["--json", ...args]), 3, "AGENT_NOT_FOUND");
      }
      assert.equal(trees(box), before, "nothing changed");
      // The command it names works, and then so does the one that was refused.
      assertOk(await box.run(["restore", ALPHA]));
      assertOk(await box.run(["rename", "alpha", "beta"]));
    });

    test("restore of an active agent: it is active, nothing to restore", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" });
      const line = assertErrorLine(await box.run(["restore", "alpha"]), 3);
      assert.equal(
        line,
        `error: "alpha" is not in the Trash: that agent is active; nothing to restore`,
      );
    });

    test("several of that name, all in the Trash: listed, and how to restore one", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "twin" }, { retired: true });
      seed(box, { instance_id: BRAVO, instance_name: "twin" }, { retired: true });
      const result = await box.run(["continue", "twin"]);
      const line = errorLine(result, 3);
      assert.match(
        line,
        /2 agents named "twin" are in the Trash and none is active; restore one first/,
      );
      for (const id of [ALPHA, BRAVO])
        assert.match(result.stderr, new RegExp(`^ {2}${id} .*in the Trash$`, "m"));
      const error = assertJsonError(
        await box.run(["--json", "continue", "twin"]),
        3,
        "AGENT_NOT_FOUND",
      );
      assert.equal((error.candidates as unknown[]).length, 2);
    });
  });

  describe("a file that exists but cannot be read is never 'no agent'", {
    concurrency: true,
  }, () => {
    const commands = [
      ["show"],
      ["continue"],
      ["forget"],
      ["restore"],
      ["rename", "@", "new name"],
      ["delete", "@", "--yes"],
    ];
    const argsFor = (command: string[], id: string) =>
      command.includes("@") ? command.map((arg) => (arg === "@" ? id : arg)) : [...command, id];

    test("schema_version 999 (a newer version's record): INVALID_FILE, the reason, doctor", async (t) => {
      const box = sandbox(t);
      const file = writeRaw(
        box,
        "v999-agent.json",
        `${JSON.stringify({ schema_version: 999, data: { instance_id: "v999-agent" } })}\n`,
      );
      const bytes = readFileSync(file, "utf8");
      for (const command of commands) {
        const args = argsFor(command, "v999-agent");
        const line = assertErrorLine(await box.run(args), 4);
        assert.match(
          line,
          /^error: v999-agent\.json exists but could not be read \(newer-schema\): /,
          line,
        );
        assert.match(line, /schema_version 999/, line);
        assert.ok(line.includes("agentmux-registry doctor"), line);
        assert.ok(!line.includes("no agent"), line);
        const error = assertJsonError(await box.run(["--json", ...args]), 4, "INVALID_FILE");
        assert.deepEqual(
          { id: error.id, file: error.file, reason: error.reason },
          { id: "v999-agent", file: "v999-agent.json", reason: "newer-schema" },
        );
      }
      assert.equal(readFileSync(file, "utf8"), bytes, "the file is never touched");
    });

    test("invalid JSON in the Trash: the same, naming retired/<id>.json", async (t) => {
      const box = sandbox(t);
      writeRaw(box, "retired/broken.json", "{ not json");
      for (const command of commands) {
        const line = assertErrorLine(await box.run(argsFor(command, "broken")), 4);
        assert.match(
          line,
          /^error: retired\/broken\.json exists but could not be read \(invalid-json\)/,
          line,
        );
      }
    });

    test("the tree a command looks in first decides between a broken file and a valid one", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "dup", instance_name: "dup" }, { retired: true });
      writeRaw(box, "dup.json", "{ not json");
      // show looks at the active tree first: its dup.json is the one the id means.
      assertJsonError(await box.run(["--json", "show", "dup"]), 4, "INVALID_FILE");
      // restore looks in the Trash first and finds the tombstone; the broken active file is
      // never replaced, so the restore is refused.
      const error = assertJsonError(await box.run(["--json", "restore", "dup"]), 4, "CONFLICT");
      assert.doesNotMatch(error.message, /no agent/);
    });
  });

  describe("unknown and invalid references", { concurrency: true }, () => {
    test("the not-found hint names list and trash without nested parentheses", async (t) => {
      const box = sandbox(t);
      for (const command of ["show", "continue", "forget", "restore"]) {
        const line = assertErrorLine(await box.run([command, "nope"]), 3);
        assert.match(line, /no agent has the id or name "nope"/);
        assert.ok(
          line.includes("agentmux-registry list") && line.includes("agentmux-registry trash"),
          line,
        );
        assertFlatParentheses(line);
      }
      const line = assertErrorLine(await box.run(["show", "a/b"]), 2);
      assert.match(line, /no agent is named "a\/b", and it is not a valid id either/);
      assertFlatParentheses(line);
    });
  });

  describe("unique id prefixes", { concurrency: true }, () => {
    test("4+ characters of an id name its agent in every command that takes one", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" });
      seed(box, { instance_id: CHARLIE, instance_name: "charlie" });
      const shown = await box.run(["--json", "show", "c0ff"]);
      assertOk(shown);
      assert.equal(parseJson<{ agent: { instance_id: string } }>(shown).agent.instance_id, CHARLIE);
      assertOk(await box.run(["continue", "c0ffee"]));
      assertOk(await box.run(["rename", "c0ffe", "charles"]));
      assert.equal(readRecord(join(box.root, `${CHARLIE}.json`)).data.instance_name, "charles");
      assertOk(await box.run(["forget", "c0ffee00"]));
      assertOk(await box.run(["restore", "c0ffee00-"]));
      assertOk(await box.run(["delete", "c0ff", "--yes"]));
      assertErrorLine(await box.run(["show", CHARLIE]), 3);
      // Three characters are too few to be a prefix: that is a name or an id, and neither here.
      assert.match(
        assertErrorLine(await box.run(["show", "a1b"]), 3),
        /no agent has the id or name "a1b"; an id prefix needs at least 4 characters/,
      );
    });

    test("a prefix of several ids is AMBIGUOUS_ID, listing them, even across the trees", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha", last_launched_at_ms: 2_000 });
      seed(
        box,
        { instance_id: BRAVO, instance_name: "bravo", last_launched_at_ms: 1_000 },
        { retired: true },
      );
      const before = trees(box);
      for (const args of [
        ["show", "a1b2"],
        ["delete", "a1b2", "--yes"],
        ["continue", "a1b2"],
      ]) {
        const result = await box.run(args);
        const line = errorLine(result, 4);
        assert.match(line, /^error: 2 agents have an id that starts with "a1b2": /);
        assert.match(line, /type more of the id/);
        assert.match(
          result.stderr,
          new RegExp(`^ {2}${ALPHA} {2}"alpha" {2}claude-code {2}${ALPHA}-wd {2}launched `, "m"),
        );
        assert.match(result.stderr, new RegExp(`^ {2}${BRAVO} {2}"bravo" .* in the Trash$`, "m"));
      }
      const error = assertJsonError(await box.run(["--json", "show", "a1b2"]), 4, "AMBIGUOUS_ID");
      assert.equal(error.prefix, "a1b2");
      const candidates = error.candidates as Record<string, unknown>[];
      assert.deepEqual(
        candidates.map((candidate) => [candidate.id, candidate.retired]),
        [
          [ALPHA, false],
          [BRAVO, true],
        ],
      );
      assert.deepEqual(keys(candidates[0]), [
        "definition_id",
        "id",
        "last_launched_at_ms",
        "name",
        "retired",
        "working_dir",
      ]);
      assert.equal(trees(box), before, "nothing changed");
      // One more character decides.
      assertOk(await box.run(["show", "a1b2c"]));
    });

    test("an exact id, then an exact name, win over a prefix", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "abcd", instance_name: "first" });
      seed(box, { instance_id: "abcd-2", instance_name: "second" });
      seed(box, { instance_id: "zzzz-9", instance_name: "abcd-" });
      const idOf = async (reference: string) => {
        const result = await box.run(["--json", "show", reference]);
        assertOk(result);
        return parseJson<{ agent: { instance_id: string } }>(result).agent.instance_id;
      };
      assert.equal(await idOf("abcd"), "abcd", "the exact id, though it prefixes abcd-2");
      assert.equal(await idOf("abcd-"), "zzzz-9", "the exact name, though it prefixes abcd-2");
      assert.equal(await idOf("abcd-2"), "abcd-2");
    });

    test("a prefix of an agent in the Trash: the Trash message, with its full id", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: CHARLIE, instance_name: "charlie" }, { retired: true });
      const line = assertErrorLine(await box.run(["continue", "c0ffee"]), 3);
      assert.ok(line.endsWith(`restore it first: agentmux-registry restore ${CHARLIE}`), line);
    });
  });

  describe("ambiguous names", { concurrency: true }, () => {
    test("human output lists each candidate's definition, working dir and last launch", async (t) => {
      const box = sandbox(t);
      const now = Date.now();
      seed(box, {
        instance_id: ALPHA,
        instance_name: "twin",
        definition_id: "claude-code",
        working_dir: "twin-a",
        last_launched_at_ms: now - 2 * 3_600_000,
      });
      seed(box, {
        instance_id: BRAVO,
        instance_name: "twin",
        definition_id: "gemini",
        working_dir: "twin-b",
        last_launched_at_ms: now - 3 * 86_400_000,
      });
      const result = await box.run(["show", "twin"]);
      const line = errorLine(result, 4);
      assert.match(line, /^error: 2 agents are named "twin": /);
      const listed = result.stderr.split("\n").slice(0, 2);
      assert.deepEqual(listed, [
        `  ${ALPHA}  claude-code  twin-a  launched 2 h ago`,
        `  ${BRAVO}  gemini       twin-b  launched 3 d ago`,
      ]);
      // --json: the candidates in the error, nothing else on stderr but the error line.
      const json = await box.run(["--json", "show", "twin"]);
      const error = assertJsonError(json, 4, "AMBIGUOUS_NAME");
      assert.deepEqual(
        (error.candidates as { working_dir: string }[]).map((candidate) => candidate.working_dir),
        ["twin-a", "twin-b"],
      );
      // --quiet: the error line alone.
      const quiet = await box.run(["--quiet", "show", "twin"]);
      assertErrorLine(quiet, 4);
    });
  });

  describe("duplicate names warn, never refuse", { concurrency: true }, () => {
    test("create with a name an active agent has: created, with a warning on stderr", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" });
      const result = await box.run(["create", "--name", "alpha", "--definition", "gemini"]);
      assertExit(result, 0);
      const created = /^created alpha \(([^)]+)\)/.exec(result.stdout)?.[1];
      assert.ok(created, result.stdout);
      assert.equal(
        result.stderr,
        `warning: another agent is also named "alpha" (${ALPHA}); to refer to this one, use its id: ${created}\n`,
      );

      // --json: stdout is the CreatedAgent value exactly as without a namesake; the warning is on stderr.
      const json = await box.run(["--json", "create", "--name", "alpha", "--definition", "gemini"]);
      assertExit(json, 0);
      assert.deepEqual(keys(parseJson(json)), ["agent", "working_dir_path"]);
      assert.match(json.stderr, /^warning: 2 other agents are also named "alpha" \(/);

      // --quiet hushes it.
      const quiet = await box.run([
        "--quiet",
        "create",
        "--name",
        "alpha",
        "--definition",
        "gemini",
      ]);
      assertExit(quiet, 0);
      assert.equal(quiet.stderr, "");
      // A name nobody has: no warning at all; an agent in the Trash does not count.
      seed(box, { instance_id: BRAVO, instance_name: "bravo" }, { retired: true });
      assertOk(await box.run(["create", "--name", "bravo", "--definition", "gemini"]));
    });

    test("rename to a name another agent has: renamed, with a warning; to its own name: none", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: ALPHA, instance_name: "alpha" });
      seed(box, { instance_id: CHARLIE, instance_name: "charlie" });
      const result = await box.run(["rename", CHARLIE, "alpha"]);
      assertExit(result, 0);
      assert.equal(result.stdout, `renamed charlie (${CHARLIE}) to alpha\n`);
      assert.equal(
        result.stderr,
        `warning: another agent is also named "alpha" (${ALPHA}); to refer to this one, use its id: ${CHARLIE}\n`,
      );
      assert.equal(readRecord(join(box.root, `${CHARLIE}.json`)).data.instance_name, "alpha");
      // Already so named: unchanged, and the one namesake is still there to warn of.
      const again = await box.run(["rename", CHARLIE, "alpha"]);
      assertExit(again, 0);
      assert.match(again.stderr, /^warning: another agent is also named "alpha"/);
      assertOk(await box.run(["rename", ALPHA, "solo"]));
    });
  });
});
