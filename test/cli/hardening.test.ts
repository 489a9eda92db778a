/**
 * The CLI under hostile or odd input, black box: `--json` errors for every failure, a reader
 * that closes the pipe early, a busy port, bad and repeated options, empty paths, control and
 * bidirectional characters from record files, and references that are neither an id nor a name
 * (SPEC §12).
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, realpathSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli } from "../../src/cli/app.js";
import { tempDir } from "../helpers.js";
import {
  assertErrorLine,
  assertExit,
  assertJsonError,
  assertOk,
  BIN,
  parseJson,
  type RunResult,
  type Sandbox,
  sandbox,
  seed,
  show,
  tableCells,
} from "./harness.js";

/** Characters that must never reach a terminal raw (format.ts `printable`). */
const UNSAFE = /[\p{Cc}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;

/** Neither stream holds an unsafe character, except the newlines that end lines. */
function assertNoUnsafe(result: RunResult): void {
  for (const [name, text] of [
    ["stdout", result.stdout],
    ["stderr", result.stderr],
  ] as const) {
    for (const line of text.split("\n")) {
      const found = UNSAFE.exec(line);
      assert.equal(
        found,
        null,
        `${name} holds U+${found?.[0].codePointAt(0)?.toString(16).toUpperCase()}: ${show(result)}`,
      );
    }
  }
}

/** Runs the CLI with its stdout read until the first chunk, then closed. */
async function runWithStdoutClosedEarly(box: Sandbox, args: readonly string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: box.env,
    cwd: box.tmp,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  child.stdout.once("data", () => child.stdout.destroy());
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stderr };
}

/** Enough agents that `list --all` writes far more than a pipe holds (64 KiB). */
function seedMany(box: Sandbox, count: number): void {
  for (let i = 0; i < count; i++) {
    seed(
      box,
      { instance_id: `agent-${String(i).padStart(5, "0")}`, last_launched_at_ms: 1_000_000 + i },
      { dir: false },
    );
  }
}

describe("cli: hardening", { concurrency: true }, () => {
  describe("cli: --json reports every failure as one error object", { concurrency: true }, () => {
    test("a failure outside the registry's errors: UNEXPECTED (exit 1), one stderr line, no stack", async (t) => {
      // In process: the clock is the one dependency a test can make fail on purpose.
      const dir = tempDir(t, "amr-cli-unexpected-");
      for (const [thrown, code, extra] of [
        [new TypeError("the clock broke"), "UNEXPECTED", {}],
        [
          Object.assign(new Error("EACCES: permission denied, open '/x'"), {
            code: "EACCES",
            syscall: "open",
            path: "/x",
          }),
          "IO",
          { errno: "EACCES", op: "open", path: "/x" },
        ],
      ] as const) {
        for (const json of [true, false]) {
          let stdout = "";
          let stderr = "";
          const exit = await runCli(
            [
              ...(json ? ["--json"] : []),
              "--root",
              join(dir, `root-${code}`),
              "--agents-base",
              join(dir, "agents"),
              "--home",
              dir,
              "create",
              "--name",
              `n-${code}-${json}`,
              "--definition",
              "cc",
            ],
            {
              stdout: (text) => {
                stdout += text;
              },
              stderr: (text) => {
                stderr += text;
              },
              env: {},
              stdinIsTTY: false,
              stdoutIsTTY: false,
              stderrIsTTY: false,
              columns: undefined,
              readLine: async () => null,
              now: () => {
                throw thrown;
              },
            },
          );
          assert.equal(exit, 1, `${code} exits 1`);
          assert.match(stderr, /^error: unexpected [^\n]+\n$/, `one line: ${stderr}`);
          assert.ok(stderr.includes(thrown.message));
          if (!json) {
            assert.equal(stdout, "");
            continue;
          }
          const body = JSON.parse(stdout) as { error: Record<string, unknown> };
          assert.deepEqual(Object.keys(body), ["error"]);
          assert.equal(body.error.code, code);
          assert.equal(typeof body.error.message, "string");
          for (const [key, value] of Object.entries(extra)) assert.equal(body.error[key], value);
        }
      }
      // AGENTMUX_REGISTRY_DEBUG adds the stack after the line.
      let stderr = "";
      const exit = await runCli(
        ["--root", join(dir, "root-debug"), "--agents-base", join(dir, "agents"), "create"].concat([
          "--name",
          "debug",
          "--definition",
          "cc",
        ]),
        {
          stdout: () => {},
          stderr: (text) => {
            stderr += text;
          },
          env: { AGENTMUX_REGISTRY_DEBUG: "1" },
          stdinIsTTY: false,
          stdoutIsTTY: false,
          stderrIsTTY: false,
          columns: undefined,
          readLine: async () => null,
          now: () => {
            throw new TypeError("the clock broke");
          },
        },
      );
      assert.equal(exit, 1);
      assert.match(
        stderr,
        /^error: unexpected TypeError: the clock broke\nTypeError: the clock broke\n\s+at /,
      );
    });

    test("continue --exec with an empty command is a usage error, not a crash", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      assert.match(
        assertErrorLine(await box.run(["continue", "aaa", "--exec", "--", ""]), 2),
        /--exec/,
      );
      assertJsonError(
        await box.run(["--json", "continue", "aaa", "--exec", "--", ""]),
        2,
        "INVALID_ARGUMENT",
      );
    });

    test("a --json after -- belongs to the command run by --exec, not to the CLI", async (t) => {
      const box = sandbox(t);
      const result = await box.run(["continue", "nope", "--exec", "--", "echo", "--json"]);
      assert.match(assertErrorLine(result, 3), /nope/);
    });

    test("a command line without a command: the help on stdout, exit 0; with --json, exit 2 and the error", async (t) => {
      const box = sandbox(t);
      const bare = await box.run([]);
      assertOk(bare);
      assert.match(bare.stdout, /^Usage: agentmux-registry/);
      const json = await box.run(["--json"]);
      assertExit(json, 2);
      assert.equal(parseJson<{ error: { code: string } }>(json).error.code, "INVALID_ARGUMENT");
    });
  });

  describe("cli: a reader that goes away", { concurrency: true }, () => {
    test("list | head -1: the first line, no stack trace, the CLI exits 0", async (t) => {
      const box = sandbox(t);
      seedMany(box, 1500);
      const shell = spawn(
        "sh",
        [
          "-c",
          '{ "$0" "$1" list --all; echo "cli exit $?" >&2; } | head -1',
          process.execPath,
          BIN,
        ],
        { env: box.env, cwd: box.tmp, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      shell.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        stdout += chunk;
      });
      shell.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      const [code] = await once(shell, "close");
      assert.equal(code, 0);
      assert.match(stdout, /^NAME\s+DEFINITION/);
      assert.equal(stdout.split("\n").length, 2, "one line");
      assert.equal(stderr, "cli exit 0\n", "nothing but the exit code on stderr");
    });

    test("stdout closed after the first chunk: exit 0, stderr empty, with or without --json", async (t) => {
      const box = sandbox(t);
      seedMany(box, 1500);
      for (const args of [
        ["list", "--all"],
        ["--json", "list", "--all"],
        ["--json", "list", "--limit", "1000"],
      ]) {
        const result = await runWithStdoutClosedEarly(box, args);
        assert.deepEqual(result, { code: 0, signal: null, stderr: "" }, args.join(" "));
      }
    });

    test("a full disk behind stdout: one error line, exit 1, no stack trace", async (t) => {
      if (!existsSync("/dev/full")) return t.skip("needs /dev/full");
      const box = sandbox(t);
      seedMany(box, 200);
      const shell = spawn("sh", ["-c", '"$0" "$1" list --all > /dev/full', process.execPath, BIN], {
        env: box.env,
        cwd: box.tmp,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      shell.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      const [code] = await once(shell, "close");
      assert.equal(code, 1);
      assert.equal(stderr, "error: could not write the output: ENOSPC\n");
    });
  });

  describe("cli: serve on a busy port", { concurrency: true }, () => {
    test("says the port is busy and suggests --port 0: exit 75, one line; --json the object", async (t) => {
      const box = sandbox(t);
      const holder = createServer();
      holder.listen(0, "127.0.0.1");
      await once(holder, "listening");
      t.after(() => holder.close());
      const port = (holder.address() as { port: number }).port;
      const line = assertErrorLine(await box.run(["serve", "--port", String(port)]), 75);
      assert.ok(line.includes(`port ${port}`), line);
      assert.ok(line.includes("--port 0"), line);
      const error = assertJsonError(
        await box.run(["--json", "serve", "--port", String(port)]),
        75,
        "PORT_IN_USE",
      );
      assert.equal(error.port, port);
      assert.match(error.message, /--port 0/);
    });
  });

  describe("cli: option values", { concurrency: true }, () => {
    test("each bad number names its own option: exit 2, one line", async (t) => {
      const box = sandbox(t);
      const bad = ["abc", "-1", "1e3", "0x10", "1.5", "", " 5", "+5", "99999999999999999999"];
      const cases: [string[], string][] = [
        ...bad.map((value): [string[], string] => [["serve", "--port", value], "--port"]),
        ...bad.map((value): [string[], string] => [["list", "--limit", value], "--limit"]),
        [["serve", "--port", "70000"], "--port"],
        [["serve", "--port", "65536"], "--port"],
      ];
      const results = await Promise.all(cases.map(([args]) => box.run(args)));
      results.forEach((result, i) => {
        const [, flag] = cases[i] as [string[], string];
        const line = assertErrorLine(result, 2);
        assert.ok(line.includes(flag), `names ${flag}: ${line}`);
        const other = flag === "--port" ? "--limit" : "--port";
        assert.ok(!line.includes(other), `does not blame ${other}: ${line}`);
      });
      const error = assertJsonError(
        await box.run(["--json", "serve", "--port", "abc"]),
        2,
        "INVALID_ARGUMENT",
      );
      assert.match(error.message, /^--port /);
    });

    test("an option given twice is a usage error, not a silent override", async (t) => {
      const box = sandbox(t, "flags");
      const other = join(box.tmp, "other-root");
      const cases: [string[], string][] = [
        [["--root", box.root, "--root", other, "list"], "--root"],
        [["list", "--root", other], "--root"],
        [["list", "--limit", "1", "--limit", "2"], "--limit"],
        [["serve", "--port", "1", "--port", "2"], "--port"],
        [["create", "--name", "a", "--name", "b", "--definition", "cc"], "--name"],
        [["list", "--definition", "a", "--definition", "b"], "--definition"],
      ];
      for (const [args, flag] of cases) {
        const result = await box.runRaw(args[0] === "--root" ? args : [...box.pathFlags, ...args]);
        const line = assertErrorLine(result, 2);
        assert.ok(line.includes(`${flag} was given more than once`), line);
      }
      assert.equal(existsSync(other), false);
      assert.equal(existsSync(box.root), false, "nothing was opened");
    });

    test("an empty --root, --home or --agents-base is a usage error and creates nothing", async (t) => {
      const box = sandbox(t, "flags");
      const cwd = join(box.tmp, "cwd");
      mkdirSync(cwd);
      for (const flag of ["--root", "--home", "--agents-base"]) {
        const flags = box.pathFlags.map((value, i) => (box.pathFlags[i - 1] === flag ? "" : value));
        for (const command of [
          ["create", "--name", "Here", "--definition", "cc"],
          ["list"],
          ["migrate"],
        ]) {
          const result = await box.runRaw([...flags, ...command], { cwd });
          const line = assertErrorLine(result, 2);
          assert.ok(line.includes(`${flag} must not be empty`), line);
        }
        assertJsonError(
          await box.runRaw([...flags, "--json", "list"], { cwd }),
          2,
          "INVALID_ARGUMENT",
        );
      }
      assert.deepEqual(readdirSync(cwd), [], "nothing in the current directory");
      assert.equal(existsSync(box.home), false, "nothing anywhere else");
      assert.equal(box.userHomeTouched(), false);
    });

    test("other empty values are usage errors too: --definition, --identity, --memory, --session", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      for (const args of [
        ["list", "--definition", ""],
        ["create", "--name", "x", "--definition", ""],
        ["create", "--name", "x", "--definition", "cc", "--identity", ""],
        ["create", "--name", "x", "--definition", "cc", "--memory", ""],
        ["continue", "aaa", "--session", ""],
      ]) {
        assertErrorLine(await box.run(args), 2);
      }
      assert.deepEqual(readdirSync(box.root), ["aaa.json"], "no agent was created");
      assert.deepEqual(readdirSync(box.agentsBase), ["aaa-wd"]);
    });

    test("rename reports the name as stored (trimmed), not as typed", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa", instance_name: "old" });
      const renamed = await box.run(["--json", "rename", "aaa", "  spaced  "]);
      assertOk(renamed);
      assert.equal(parseJson<{ name: string }>(renamed).name, "spaced");
      const human = await box.run(["rename", "aaa", "other "]);
      assertOk(human);
      assert.equal(human.stdout, "renamed spaced (aaa) to other\n");
    });

    test("an id that starts with '-' is reached after --", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "-dash", instance_name: "dashing" });
      assert.match(assertErrorLine(await box.run(["show", "-dash"]), 2), /unknown option/);
      const shown = await box.run(["--json", "show", "--", "-dash"]);
      assertOk(shown);
      assert.equal(
        parseJson<{ agent: { instance_name: string } }>(shown).agent.instance_name,
        "dashing",
      );
      assertOk(await box.run(["rename", "--", "-dash", "-new-name"]));
      const renamed = parseJson<{ agent: { instance_name: string } }>(
        await box.run(["--json", "show", "--", "-dash"]),
      );
      assert.equal(renamed.agent.instance_name, "-new-name");
    });
  });

  describe("cli: control and bidirectional characters", { concurrency: true }, () => {
    const RLO = "\u202E";
    const hostile = {
      instance_name: `invoice${RLO}fdp.exe\u2066x\u2069\u200F\u061C`,
      definition_id: `claude${RLO}code\u0007`,
      identity_id: `id\u202Ax\u202C\u200E`,
      memory_id: "mem\u2067\u2068\u2028\u2029",
      session_id: "ses\u009B31m\u007F\r\t",
      created_by_version: `1.0${RLO}`,
      last_launched_by_version: "2.0\u202B\u202D",
    };

    test("human output writes them out visibly; --json keeps the exact values", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "evil", ...hostile, working_dir: `wd${RLO}x` });
      seed(box, { instance_id: "gone", ...hostile }, { retired: true });
      // A second agent of the same name, and one whose working dir is missing (for doctor).
      seed(box, { instance_id: "twin", ...hostile, last_launched_at_ms: 1 }, { dir: false });
      const results: RunResult[] = [];
      const run = async (args: string[], exit = 0) => {
        const result = await box.run(args);
        assertExit(result, exit);
        assertNoUnsafe(result);
        results.push(result);
        return result;
      };
      const listed = await run(["list"]);
      const row = tableCells(listed.stdout).find((cells) => cells[6] === "evil");
      assert.equal(row?.[0], "invoice\\u202Efdp.exe\\u2066x\\u2069\\u200F\\u061C");
      assert.equal(row?.[1], "claude\\u202Ecode\\u0007");
      assert.equal(row?.[5], "wd\\u202Ex");
      await run(["trash"]);
      const shown = await run(["show", "evil"]);
      assert.match(shown.stdout, /^session\s+ses\\u009B31m\\u007F\\r\\t$/m);
      assert.match(shown.stdout, /^memory\s+mem\\u2067\\u2068\\u2028\\u2029$/m);
      await run(["show", "gone"]);
      await run(["doctor"], 4);
      // Errors: an ambiguous name, a reference that is no id, a commander error, a bad number.
      const ambiguous = await run(["forget", hostile.instance_name], 4);
      assert.ok(ambiguous.stderr.includes("\\u202E"));
      // A person may not type them into a name (INVALID_NAME); the refusal is escaped too.
      const refused = await run(["rename", "evil", `new${RLO}name`], 2);
      assert.match(refused.stderr, /202E/);
      await run(["create", "--name", `new${RLO}name`, "--definition", "cc"], 2);
      assertJsonError(
        await box.run(["--json", "rename", "evil", `new${RLO}name`]),
        2,
        "INVALID_NAME",
      );
      await run(["rename", "evil", "plain name"]);
      await run(["forget", "evil"]);
      await run(["restore", "evil"]);
      await run(["show", `no${RLO}such`], 2);
      await run(["list", `--bo${RLO}gus`], 2);
      await run(["list", "--limit", `1${RLO}`], 2);
      assert.ok(results.some((result) => result.stderr.includes("\\u202E")));

      const json = parseJson<{ agent: Record<string, unknown> }>(
        await box.run(["--json", "show", "twin"]),
      );
      for (const [key, value] of Object.entries(hostile)) assert.equal(json.agent[key], value);
      const error = assertJsonError(
        await box.run(["--json", "show", `no${RLO}such`]),
        2,
        "INVALID_ID",
      );
      assert.equal(error.id, `no${RLO}such`);
    });

    test('continue prints the exact working dir when stdout is not a terminal (for cd "$(…)")', async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "evil", working_dir: `wd${RLO}x` });
      const result = await box.run(["continue", "evil"]);
      assertOk(result);
      assert.equal(result.stdout, `${realpathSync(join(box.agentsBase, `wd${RLO}x`))}\n`);
      assert.ok(existsSync(result.stdout.trimEnd()));
    });
  });

  describe("cli: references are an id or a name (SPEC §12)", { concurrency: true }, () => {
    const commands: [string, string[]][] = [
      ["show", []],
      ["continue", []],
      ["forget", []],
      ["restore", []],
      ["rename", ["new name"]],
      ["delete", ["--yes"]],
    ];
    const argsFor = (command: string, extra: string[], reference: string) => [
      command,
      reference,
      ...extra,
    ];

    test("neither a valid id nor any agent's name: INVALID_ID, exit 2, 'not a valid id'", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa", instance_name: "live one" });
      seed(box, { instance_id: "bbb", instance_name: "old one" }, { retired: true });
      const checks = commands.flatMap(([command, extra]) =>
        ["../../etc/passwd", "no such agent", ".hidden", "a/b"].map(async (reference) => {
          const line = assertErrorLine(await box.run(argsFor(command, extra, reference)), 2);
          assert.match(line, /not a valid id/, `${command} ${reference}`);
          assert.ok(line.includes(JSON.stringify(reference)), line);
          const error = assertJsonError(
            await box.run(["--json", ...argsFor(command, extra, reference)]),
            2,
            "INVALID_ID",
          );
          assert.equal(error.id, reference);
        }),
      );
      await Promise.all(checks);
    });

    test("a valid id that matches nothing: AGENT_NOT_FOUND, exit 3, 'id or name'", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa", instance_name: "live one" });
      seed(box, { instance_id: "bbb", instance_name: "old one" }, { retired: true });
      for (const [command, extra] of commands) {
        const line = assertErrorLine(await box.run(argsFor(command, extra, "nope")), 3);
        assert.match(line, /no agent has the id or name "nope"/, command);
        const error = assertJsonError(
          await box.run(["--json", ...argsFor(command, extra, "nope")]),
          3,
          "AGENT_NOT_FOUND",
        );
        assert.equal(error.id, "nope");
      }
    });

    test("a name (not a valid id) of an agent in the other tree: AGENT_NOT_FOUND saying where it is", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa", instance_name: "live one" });
      seed(box, { instance_id: "bbb", instance_name: "old one" }, { retired: true });
      for (const command of ["continue", "forget", "rename"]) {
        const args = command === "rename" ? [command, "old one", "x"] : [command, "old one"];
        const line = assertErrorLine(await box.run(args), 3);
        assert.match(line, /"old one" is (already )?in the Trash/, line);
        assert.ok(line.includes("agentmux-registry restore bbb"), line);
        assertJsonError(await box.run(["--json", ...args]), 3, "AGENT_NOT_FOUND");
      }
      const line = assertErrorLine(await box.run(["restore", "live one"]), 3);
      assert.match(line, /"live one" is not in the Trash: that agent is active/);
      assertJsonError(await box.run(["--json", "restore", "live one"]), 3, "AGENT_NOT_FOUND");
      // Several agents of that name in the other tree: still "it is over there", not ambiguous
      // (the candidates are listed on stderr before the error line).
      seed(box, { instance_id: "ccc", instance_name: "old one" }, { retired: true });
      seed(box, { instance_id: "ddd", instance_name: "live one" });
      const forgotten = await box.run(["forget", "old one"]);
      assert.equal(forgotten.code, 3);
      assert.match(forgotten.stderr, /\nerror: 2 agents named "old one" are already in the Trash/);
      const restored = await box.run(["restore", "live one"]);
      assert.equal(restored.code, 3);
      assert.match(restored.stderr, /\nerror: 2 agents named "live one" are active/);
      assertOk(await box.run(["delete", "ccc", "--yes"]));
      assertOk(await box.run(["delete", "ddd", "--yes"]));
      // show and delete look in both trees, whatever the name looks like.
      const shown = await box.run(["--json", "show", "old one"]);
      assertOk(shown);
      assert.equal(parseJson<{ retired: boolean }>(shown).retired, true);
      assertOk(await box.run(["delete", "old one", "--yes"]));
      assert.equal(existsSync(join(box.retired, "bbb.json")), false);
    });
  });
});
