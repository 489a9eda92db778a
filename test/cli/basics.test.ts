/**
 * The CLI's conventions (SPEC §12), black box: `--version`, `--help`, usage errors (exit 2),
 * error lines on stderr, `--json` errors, both ways of pointing it at a registry, and colour
 * (never when not a TTY, never with `NO_COLOR`).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  assertErrorLine,
  assertExit,
  assertJsonError,
  assertOk,
  BIN,
  ESC,
  keys,
  PACKAGE_VERSION,
  parseJson,
  sandbox,
  seed,
  tableCells,
  writeRaw,
} from "./harness.js";

describe("cli: conventions", { concurrency: true }, () => {
  describe("cli: version and help", { concurrency: true }, () => {
    test("--version prints package.json's version and exits 0", async (t) => {
      const box = sandbox(t);
      const result = await box.run(["--version"]);
      assertOk(result);
      assert.equal(result.stdout, `${PACKAGE_VERSION}\n`);
      assert.equal(existsSync(box.root), false, "--version touches no registry");
    });

    test("--help lists every command and exits 0; a command's --help too", async (t) => {
      const box = sandbox(t);
      const result = await box.run(["--help"]);
      assertOk(result);
      for (const command of [
        "list",
        "show",
        "create",
        "continue",
        "forget",
        "restore",
        "trash",
        "rename",
        "delete",
        "migrate",
        "doctor",
      ]) {
        assert.match(result.stdout, new RegExp(`^  ${command}\\b`, "m"), `--help names ${command}`);
      }
      for (const option of [
        "--root",
        "--home",
        "--agents-base",
        "--json",
        "--quiet",
        "--version",
      ]) {
        assert.ok(result.stdout.includes(option), `--help names ${option}`);
      }
      const sub = await box.run(["list", "--help"]);
      assertOk(sub);
      for (const option of ["--definition", "--limit", "--all"])
        assert.ok(sub.stdout.includes(option));
      assert.equal(existsSync(box.root), false, "--help touches no registry");
    });
  });

  describe("cli: usage errors exit 2", { concurrency: true }, () => {
    // Commander's own parse errors: the first stderr line is the error.
    const cases: [string, string[], RegExp][] = [
      ["an unknown command", ["frobnicate"], /^error: unknown command 'frobnicate'/],
      ["an unknown option", ["list", "--bogus"], /^error: unknown option '--bogus'/],
      ["an unknown global option", ["--bogus", "list"], /^error: unknown option '--bogus'/],
      ["a missing argument", ["show"], /^error: missing required argument 'agent'/],
      ["a missing second argument", ["rename", "x"], /^error: missing required argument/],
      ["a missing required option", ["create", "--definition", "x"], /^error: required option/],
    ];
    for (const [what, args, first] of cases) {
      test(`${what}: exit 2, "error:" on stderr, stdout empty`, async (t) => {
        const box = sandbox(t);
        const result = await box.run(args);
        assertExit(result, 2);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, first);
      });
    }

    test("a parse error is ONE stderr line (commander adds a second, '(run with --help for usage)')", async (t) => {
      const box = sandbox(t);
      assertErrorLine(await box.run(["frobnicate"]), 2);
    });

    test("bad --limit values: exit 2 with one error line, nothing on stdout", async (t) => {
      const box = sandbox(t);
      for (const value of ["abc", "-1", "1.5"]) {
        const line = assertErrorLine(await box.run(["list", "--limit", value]), 2);
        assert.match(line, /--limit/);
      }
    });

    test("continue: --exec without a command, or a command without --exec, is a usage error", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const file = join(box.root, "aaa.json");
      const before = readFileSync(file);
      assert.match(assertErrorLine(await box.run(["continue", "aaa", "--exec"]), 2), /--exec/);
      assert.match(assertErrorLine(await box.run(["continue", "aaa", "echo", "hi"]), 2), /--exec/);
      assert.deepEqual(readFileSync(file), before, "a usage error records no launch");
    });
  });

  describe("cli: errors", { concurrency: true }, () => {
    test("not found exits 3 with one error line; --json adds one error value on stdout", async (t) => {
      const box = sandbox(t);
      for (const args of [
        ["show", "nope"],
        ["continue", "nope"],
        ["forget", "nope"],
        ["restore", "nope"],
        ["rename", "nope", "x"],
        ["delete", "nope", "--yes"],
      ]) {
        assert.match(assertErrorLine(await box.run(args), 3), /nope/);
      }
      // Neither a name nor a valid id: a usage error that says what it was taken for (SPEC §12).
      assert.match(
        assertErrorLine(await box.run(["show", "../../etc/passwd"]), 2),
        /passwd.*not a valid id/,
      );
      const error = assertJsonError(
        await box.run(["--json", "show", "nope"]),
        3,
        "AGENT_NOT_FOUND",
      );
      assert.deepEqual(keys(error), ["code", "id", "message"]);
      assert.equal(error.id, "nope");
      // --json may follow the command too.
      assertJsonError(await box.run(["forget", "nope", "--json"]), 3, "AGENT_NOT_FOUND");
    });

    test("--json: a usage error is one { error } value on stdout too (README: 'any error')", async (t) => {
      const box = sandbox(t);
      const results = await Promise.all([
        box.run(["--json", "delete", "x"]),
        box.run(["--json", "list", "--limit", "abc"]),
        box.run(["--json", "frobnicate"]),
      ]);
      for (const result of results) {
        assertExit(result, 2);
        const body = parseJson<{ error: { code: unknown; message: unknown } }>(result);
        assert.deepEqual(Object.keys(body), ["error"]);
        assert.equal(typeof body.error.code, "string");
        assert.equal(typeof body.error.message, "string");
      }
    });

    test("a root that cannot be created is an IO error: exit 1, one error line", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const inFile = join(box.root, "aaa.json", "sub");
      const line = assertErrorLine(await box.runRaw(["--root", inFile, "list"]), 1);
      assert.match(line, /ENOTDIR/);
      const error = assertJsonError(
        await box.runRaw(["--root", inFile, "--json", "list"]),
        1,
        "IO",
      );
      assert.equal(error.errno, "ENOTDIR");
    });
  });

  describe("cli: where the registry is", { concurrency: true }, () => {
    test("AGENTMUX_HOME_OVERRIDE: root <home>/shared/agents/registry, agents base <home>/agents", async (t) => {
      const box = sandbox(t, "env");
      const created = await box.run([
        "--json",
        "create",
        "--name",
        "Env Agent",
        "--definition",
        "cc",
      ]);
      assertOk(created);
      const body = parseJson<{ agent: { instance_id: string }; working_dir_path: string }>(created);
      assert.ok(existsSync(join(box.root, `${body.agent.instance_id}.json`)));
      assert.ok(existsSync(join(box.agentsBase, "env-agent")));
      assert.equal(box.userHomeTouched(), false);
    });

    test("--root, --agents-base and --home, with no override in the environment", async (t) => {
      const box = sandbox(t, "flags");
      assert.equal(box.env.AGENTMUX_HOME_OVERRIDE, undefined);
      const created = await box.run([
        "--json",
        "create",
        "--name",
        "Flag Agent",
        "--definition",
        "cc",
      ]);
      assertOk(created);
      const body = parseJson<{ agent: { instance_id: string; source_agents_base: string } }>(
        created,
      );
      assert.ok(existsSync(join(box.root, `${body.agent.instance_id}.json`)));
      assert.ok(existsSync(join(box.agentsBase, "flag-agent")));
      assert.equal(body.agent.source_agents_base, box.agentsBase);
      // The global options may also follow the command.
      const listed = await box.runRaw([
        "list",
        "--json",
        "--root",
        box.root,
        "--agents-base",
        box.agentsBase,
      ]);
      assertOk(listed);
      assert.equal(parseJson<{ agents: unknown[] }>(listed).agents.length, 1);
      assert.equal(box.userHomeTouched(), false, "nothing was written under $HOME");
    });
  });

  describe("cli: colour", { concurrency: true }, () => {
    test("never when stdout is not a TTY, even with FORCE_COLOR", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      // runBin asserts the absence of escapes on every run; these runs would be the first to colour.
      for (const env of [{ FORCE_COLOR: "1", TERM: "xterm-256color" }, { NO_COLOR: "1" }]) {
        const result = await box.run(["list"], { env });
        assertOk(result);
        tableCells(result.stdout);
      }
      writeRaw(box, "bad.json", "{ not json");
      const doctor = await box.run(["doctor"], { env: { FORCE_COLOR: "1" } });
      assertExit(doctor, 4);
    });

    const hasScript =
      process.platform === "linux" && spawnSync("script", ["--version"]).status === 0;
    test("on a TTY: colour by default, none with NO_COLOR (run through script(1))", {
      skip: hasScript ? false : "needs util-linux script(1)",
    }, async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const onTty = (env: Record<string, string | undefined>) => {
        const child = spawnSync(
          "script",
          ["-qec", `'${process.execPath}' '${BIN}' list`, "/dev/null"],
          { env: { ...box.env, ...env }, encoding: "utf8", timeout: 30_000, cwd: box.tmp },
        );
        assert.equal(child.status, 0, child.stderr);
        return child.stdout.replaceAll("\r\n", "\n");
      };
      const coloured = onTty({});
      assert.ok(coloured.includes(ESC), `a TTY gets colour: ${JSON.stringify(coloured)}`);
      // Colour changes no offsets: without escapes the table is the plain one.
      tableCells(coloured.replace(new RegExp(`${ESC.replace("[", "\\[")}[0-9;]*m`, "g"), ""));
      for (const value of ["1", "0"]) {
        const plain = onTty({ NO_COLOR: value });
        assert.ok(!plain.includes(ESC), `NO_COLOR=${value}: ${JSON.stringify(plain)}`);
        tableCells(plain);
      }
    });
  });
});
