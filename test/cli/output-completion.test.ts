/**
 * Shell completion, black box: `completion bash|zsh|fish` prints a script each shell accepts
 * (`-n`; skipped with a reason when the shell is not installed), and the scripts, run by the
 * shells themselves with the built binary on PATH, complete commands, options, choices, and
 * agents by id or by name — a name with spaces and quotes as one quoted word.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  assertErrorLine,
  assertOk,
  BIN,
  parseJson,
  type Sandbox,
  sandbox,
  seed,
} from "./harness.js";

const ID = "3f2a9c1e-0000-4000-8000-000000000001";
const ODD_NAME = `it's a "quoted" name $HOME *`;
const SHELLS = ["bash", "zsh", "fish"] as const;

const installed = (shell: string) => spawnSync(shell, ["-c", "exit 0"]).status === 0;

/** A sandbox with agents, and a directory holding an `agentmux-registry` that runs the build. */
function setUp(t: Parameters<typeof sandbox>[0]): { box: Sandbox; env: NodeJS.ProcessEnv } {
  const box = sandbox(t);
  seed(box, { instance_id: ID, instance_name: "livelog" });
  seed(box, { instance_id: "odd-one", instance_name: ODD_NAME });
  seed(box, { instance_id: "gone-id", instance_name: "gone" }, { retired: true });
  const bin = join(box.tmp, "bin");
  mkdirSync(bin);
  const program = join(bin, "agentmux-registry");
  writeFileSync(program, `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  chmodSync(program, 0o755);
  return { box, env: { ...box.env, PATH: `${bin}:${process.env.PATH}` } };
}

/**
 * What bash's completion offers for `words` (after the program's name; the last is being
 * typed), as bash would run it: the script sourced, COMP_WORDS and COMP_CWORD set, the function
 * that `complete -p` names called.
 */
function bashComplete(box: Sandbox, env: NodeJS.ProcessEnv, words: readonly string[]): string[] {
  const script = `source <(agentmux-registry completion bash) || exit 9
spec=$(complete -p agentmux-registry) || exit 8
function=\${spec#*-F }; function=\${function%% *}
COMP_WORDS=(agentmux-registry "$@"); COMP_CWORD=$#
"$function"
printf "%s\\n" "\${COMPREPLY[@]}"`;
  const child = spawnSync("bash", ["-c", script, "bash", ...words], {
    env,
    cwd: box.tmp,
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout.split("\n").filter((line) => line !== "");
}

describe("cli: completion scripts", { concurrency: true }, () => {
  for (const shell of SHELLS) {
    test(`completion ${shell}: a script ${shell} -n accepts`, {
      skip: installed(shell) ? false : `${shell} is not installed`,
    }, (t) => {
      const box = sandbox(t);
      const file = join(box.tmp, `completion.${shell}`);
      const child = spawnSync(process.execPath, [BIN, "completion", shell], {
        env: box.env,
        encoding: "utf8",
      });
      assert.equal(child.status, 0, child.stderr);
      assert.match(child.stdout, /agentmux-registry __complete/);
      writeFileSync(file, child.stdout);
      const checked = spawnSync(shell, ["-n", file], { encoding: "utf8" });
      assert.equal(checked.status, 0, `${shell} -n: ${checked.stderr}`);
      assert.equal(existsSync(box.root), false, "printing a script touches no registry");
    });
  }

  test("an unknown shell is a usage error; --json gives the script as a value", async (t) => {
    const box = sandbox(t);
    assert.match(assertErrorLine(await box.run(["completion", "tcsh"]), 2), /bash, zsh, fish/);
    const json = parseJson<{ shell: string; script: string }>(
      await box.run(["--json", "completion", "bash"]),
    );
    assert.equal(json.shell, "bash");
    assert.match(json.script, /^complete -o default -F _agentmux_registry agentmux-registry$/m);
  });
});

describe("cli: bash completes", { concurrency: true }, () => {
  test("commands, options, choices; nothing (files) for a path", (t) => {
    const { box, env } = setUp(t);
    assert.deepEqual(bashComplete(box, env, ["li"]), ["list"]);
    assert.deepEqual(bashComplete(box, env, ["--root", "/somewhere", "re"]), ["restore", "rename"]);
    assert.ok(bashComplete(box, env, [""]).includes("completion"));
    assert.ok(!bashComplete(box, env, [""]).includes("__complete"), "the helper stays hidden");
    assert.deepEqual(bashComplete(box, env, ["list", "--w"]), ["--wide"]);
    assert.ok(bashComplete(box, env, ["delete", "-"]).includes("--yes"));
    assert.deepEqual(bashComplete(box, env, ["completion", ""]), ["bash", "zsh", "fish"]);
    assert.deepEqual(bashComplete(box, env, ["help", "de"]), ["delete"]);
    assert.deepEqual(bashComplete(box, env, ["--root", ""]), []);
    assert.deepEqual(bashComplete(box, env, ["list", "--definition", ""]), []);
  });

  test("agents by id and by name; a name with spaces and quotes as one quoted word", (t) => {
    const { box, env } = setUp(t);
    assert.deepEqual(bashComplete(box, env, ["continue", "3f2a"]), [ID]);
    assert.deepEqual(bashComplete(box, env, ["show", "live"]), ["livelog"]);
    const [odd] = bashComplete(box, env, ["forget", "it"]);
    assert.ok(odd, "the odd name is offered");
    // The shell reads the offered word back as the name itself, one argument.
    const echoed = spawnSync("bash", ["-c", `printf '%s\\n' ${odd}`], { encoding: "utf8" });
    assert.equal(echoed.stdout, `${ODD_NAME}\n`);
    // Typed with a quote already open, bash's word keeps it; the name still completes.
    assert.deepEqual(bashComplete(box, env, ["show", `"it's a \\"quo`]), [odd]);
    // Each command's tree: restore offers the Trash, continue the active agents, show both.
    assert.deepEqual(bashComplete(box, env, ["restore", ""]), ["gone-id", "gone"]);
    assert.ok(!bashComplete(box, env, ["continue", ""]).includes("gone"));
    assert.ok(bashComplete(box, env, ["show", ""]).includes("gone"));
    // Only the agent argument: rename's new name is the person's to type.
    assert.deepEqual(bashComplete(box, env, ["rename", "livelog", ""]), []);
  });
});

describe("cli: zsh and fish complete", { concurrency: true }, () => {
  test("fish: commands, agents by id and name (complete -C)", {
    skip: installed("fish") ? false : "fish is not installed",
  }, (t) => {
    const { box, env } = setUp(t);
    const complete = (line: string) => {
      const child = spawnSync(
        "fish",
        ["--no-config", "-c", `agentmux-registry completion fish | source; complete -C ${line}`],
        { env, cwd: box.tmp, encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(child.status, 0, child.stderr);
      return child.stdout.split("\n").filter((entry) => entry !== "");
    };
    assert.deepEqual(complete("'agentmux-registry li'"), ["list"]);
    assert.deepEqual(complete("'agentmux-registry continue 3f2a'"), [ID]);
    assert.ok(complete("'agentmux-registry show it'").includes(ODD_NAME));
  });

  test("zsh: the script registers its function for agentmux-registry after compinit", {
    skip: installed("zsh") ? false : "zsh is not installed",
  }, (t) => {
    const { box, env } = setUp(t);
    const child = spawnSync(
      "zsh",
      [
        "-f",
        "-c",
        "autoload -U compinit && compinit -u -D && source <(agentmux-registry completion zsh) && " +
          "print -r -- $_comps[agentmux-registry]",
      ],
      { env, cwd: box.tmp, encoding: "utf8", timeout: 30_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, "_agentmux-registry\n");
  });

  test("the candidates zsh and fish get: unfiltered (the shell matches), unquoted", async (t) => {
    const { box } = setUp(t);
    for (const shell of ["zsh", "fish"]) {
      const result = await box.run(["__complete", shell, "--", "show", "x"]);
      assertOk(result);
      const words = result.stdout.trimEnd().split("\n");
      assert.ok(words.includes(ODD_NAME) && words.includes(ID) && words.includes("gone"), shell);
    }
  });
});

describe("cli: __complete", { concurrency: true }, () => {
  test("reads no registry it does not need, and creates none", async (t) => {
    const box = sandbox(t);
    assertOk(await box.run(["__complete", "bash", "--", "li"]));
    assertOk(await box.run(["__complete", "bash", "--", "show", ""]));
    assert.equal(existsSync(box.root), false);
  });
});
