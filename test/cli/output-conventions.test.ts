/**
 * The conventions of a CLI that feels like gh, black box through the built binary: `-q` prints
 * only ids, `delete` asks on a terminal (`-y` to skip), `-V`, help that shows the global options,
 * what is required and examples, help for no command at all, and plurals.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { leaseOf, writeLeaseFile } from "../in-use-support.js";
import {
  assertErrorLine,
  assertJsonError,
  assertOk,
  BIN,
  PACKAGE_VERSION,
  parseJson,
  type RunResult,
  type Sandbox,
  sandbox,
  seed,
} from "./harness.js";

const ID = "3f2a9c1e-0000-4000-8000-000000000001";

/** stdout is exactly these lines, and stderr is empty. */
function assertOnly(result: RunResult, lines: readonly string[]): void {
  assertOk(result);
  assert.equal(result.stdout, lines.map((line) => `${line}\n`).join(""));
}

describe("cli: -q prints only ids", { concurrency: true }, () => {
  test("create, show, rename, forget, restore, delete: the agent's full id and nothing else", async (t) => {
    const box = sandbox(t);
    const created = await box.run(["create", "-q", "--name", "quiet one", "--definition", "cc"]);
    assertOk(created);
    const id = created.stdout.trimEnd();
    assert.match(created.stdout, /^[A-Za-z0-9._-]+\n$/);
    assertOnly(await box.run(["show", "-q", "quiet one"]), [id]);
    assertOnly(await box.run(["--quiet", "rename", "quiet one", "renamed"]), [id]);
    assertOnly(await box.run(["forget", "renamed", "-q"]), [id]);
    assertOnly(await box.run(["trash", "-q"]), [id]);
    assertOnly(await box.run(["restore", "-q", id]), [id]);
    assertOnly(await box.run(["delete", "-q", "-y", "renamed"]), [id]);
    assertOnly(await box.run(["list", "-q"]), []);
    // --json wins: one JSON value, as always.
    const json = await box.run(["--json", "-q", "create", "--name", "j", "--definition", "cc"]);
    assertOk(json);
    assert.equal(parseJson<{ agent: { instance_name: string } }>(json).agent.instance_name, "j");
  });

  test("list, trash and leases -q: one full id a line, newest first, no table, no note on stderr", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID, last_launched_at_ms: 2_000 });
    seed(box, { instance_id: "older", last_launched_at_ms: 1_000 });
    seed(box, { instance_id: "gone" }, { retired: true });
    assertOnly(await box.run(["list", "-q"]), [ID, "older"]);
    assertOnly(await box.run(["-q", "list", "--limit", "1"]), [ID]);
    assertOnly(await box.run(["trash", "--quiet"]), ["gone"]);
    writeLeaseFile(box.root, "older", leaseOf("older"));
    assertOnly(await box.run(["leases", "-q"]), ["older"]);
  });

  test("continue -q prints the working directory, as without it (its result is the place)", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID });
    assertOnly(await box.run(["continue", "-q", ID]), [join(box.agentsBase, `${ID}-wd`)]);
  });
});

describe("cli: delete asks first on a terminal", { concurrency: true }, () => {
  test("not on a terminal: --yes or -y is required (exit 2), nothing is deleted", async (t) => {
    const box = sandbox(t);
    const file = seed(box, { instance_id: ID, instance_name: "Alpha" });
    assert.match(assertErrorLine(await box.run(["delete", "Alpha"]), 2), /--yes/);
    assert.ok(existsSync(file));
    assertOk(await box.run(["delete", "Alpha", "-y"]));
    assert.equal(existsSync(file), false);
  });

  const cases: [string, string, boolean][] = [
    ["y", "y\n", true],
    ["YES", "YES\n", true],
    ["n", "n\n", false],
    ["an empty line", "\n", false],
    ["anything else", "sure\n", false],
    ["the end of input", "", false],
  ];
  for (const [what, input, deletes] of cases) {
    test(`answered ${what}: ${deletes ? "deleted" : "kept, exit 2"}`, {
      skip: hasScript() ? false : "needs util-linux script(1)",
    }, (t) => {
      const box = sandbox(t);
      const file = seed(box, { instance_id: ID, instance_name: "Alpha" });
      const { status, output } = onTerminal(box, ["delete", "Alpha"], input);
      assert.equal(status, 0, output);
      assert.ok(output.includes(`delete Alpha (${ID}) for good?`), output);
      assert.match(output, /\[y\/N\] /);
      assert.equal(existsSync(file), !deletes, output);
      if (deletes) assert.match(output, /deleted Alpha \(.*\) \(1 file\); its working directory/);
      else assert.match(output, /error: delete cancelled: nothing was deleted\n.*exit=2/s);
    });
  }

  test("with --yes on a terminal: no question", {
    skip: hasScript() ? false : "needs script(1)",
  }, (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID, instance_name: "Alpha" });
    const { output } = onTerminal(box, ["delete", "--yes", "Alpha"], "");
    assert.ok(!output.includes("[y/N]"), output);
    assert.match(output, /deleted Alpha .*exit=0/s);
  });

  test("--json: the cancel is an error value, CANCELLED, exit 2", {
    skip: hasScript() ? false : "needs script(1)",
  }, (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID, instance_name: "Alpha" });
    const { output } = onTerminal(box, ["--json", "delete", "Alpha"], "n\n");
    assert.match(output, /"code": "CANCELLED"/);
    assert.match(output, /exit=2/);
  });
});

describe("cli: version, help", { concurrency: true }, () => {
  test("-V and --version print the version", async (t) => {
    const box = sandbox(t);
    assertOnly(await box.run(["-V"]), [PACKAGE_VERSION]);
    assertOnly(await box.run(["--version"]), [PACKAGE_VERSION]);
  });

  test("no command: the help on stdout, exit 0; with --json a usage error", async (t) => {
    const box = sandbox(t);
    const bare = await box.run([]);
    assertOk(bare);
    assert.match(bare.stdout, /^Usage: agentmux-registry \[options\] \[command\]/);
    assert.match(bare.stdout, /^Examples:$/m);
    assert.equal(bare.stdout, (await box.run(["--help"])).stdout);
    assertJsonError(await box.run(["--json"]), 2, "INVALID_ARGUMENT");
    assert.equal(existsSync(box.root), false, "help touches no registry");
  });

  test("every command's help: the global options, required options marked, examples", async (t) => {
    const box = sandbox(t);
    const main = await box.run(["--help"]);
    const commands = [...main.stdout.matchAll(/^ {2}([a-z]+)\b/gm)]
      .map((match) => match[1] as string)
      .filter((name) => name !== "help");
    assert.ok(commands.includes("completion") && commands.length >= 14, main.stdout);
    assert.ok(!main.stdout.includes("__complete"), "the completion helper is hidden");
    for (const command of commands) {
      const help = await box.run([command, "--help"]);
      assertOk(help);
      assert.match(help.stdout, /^Global Options:$/m, command);
      for (const option of ["--root <dir>", "--json", "-q, --quiet"])
        assert.ok(help.stdout.includes(option), `${command} --help shows ${option}`);
      assert.match(help.stdout, /^Examples:\n {2}\$ /m, `${command} --help has examples`);
    }
    const create = (await box.run(["create", "--help"])).stdout;
    assert.match(create, /--name <name> +the agent's name \(required\)/);
    assert.match(create, /--definition <id> +.*\(required\)/);
    assert.doesNotMatch(create, /--identity <id> .*\(required\)/);
    assert.match((await box.run(["delete", "--help"])).stdout, /-y, --yes/);
  });
});

describe("cli: plurals", { concurrency: true }, () => {
  test("1 file, 2 files", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "one", instance_name: "One" });
    seed(box, { instance_id: "two", instance_name: "Two" });
    // A second record of the same agent (a launch of it): deleting the agent removes both.
    seed(box, { instance_id: "two-launch", definition_id: "two" });
    assertOnly(await box.run(["delete", "One", "--yes"]), [
      "deleted One (one) (1 file); its working directory was kept",
    ]);
    assertOnly(await box.run(["delete", "Two", "--yes"]), [
      "deleted Two (two) (2 files); its working directory was kept",
    ]);
  });
});

function hasScript(): boolean {
  return process.platform === "linux" && spawnSync("script", ["--version"]).status === 0;
}

/**
 * Runs the CLI on a terminal (script(1) gives it one for stdin, stdout and stderr), typing
 * `input`; the output is the terminal's, ending with `exit=<code>`.
 */
function onTerminal(
  box: Sandbox,
  args: readonly string[],
  input: string,
): { status: number | null; output: string } {
  const quoted = [process.execPath, BIN, ...args].map((arg) => `'${arg}'`).join(" ");
  const child = spawnSync("script", ["-qec", `${quoted}; echo "exit=$?"`, "/dev/null"], {
    env: { ...box.env, NO_COLOR: "1" },
    input,
    encoding: "utf8",
    timeout: 30_000,
    cwd: box.tmp,
  });
  return { status: child.status, output: child.stdout.replaceAll("\r\n", "\n") };
}
