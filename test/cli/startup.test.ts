/**
 * Start-up, through the built binary: read-only commands leave a missing registry uncreated, the
 * agents base follows an explicit `--root`, and a listing loads none of the heavy dependencies
 * (better-sqlite3, fastify, fs-ext) that only `migrate`/`doctor`, `serve` and leases need.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import module from "node:module";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import vm from "node:vm";
import {
  assertOk,
  BIN,
  PACKAGE_VERSION,
  parseJson,
  REPO,
  type Sandbox,
  sandbox,
  seed,
  show,
} from "./harness.js";

/** Every path under `dir`, relative and sorted: what a command may not change. */
const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

describe("cli: read-only commands on a missing registry", { concurrency: true }, () => {
  const missing = (box: Sandbox) => join(box.tmp, "typo", "registry");
  const runs: [string, string[]][] = [
    ["list", ["list"]],
    ["list --json", ["list", "--json"]],
    ["list --all --json", ["--json", "list", "--all"]],
    ["trash", ["trash"]],
    ["trash --json", ["--json", "trash"]],
    ["show", ["show", "livelog"]],
    ["leases --all", ["leases", "--all"]],
    ["doctor", ["doctor"]],
    ["doctor --json", ["--json", "doctor"]],
    ["__complete", ["__complete", "bash", "--", "show", ""]],
  ];
  for (const [label, args] of runs) {
    test(`${label} creates nothing`, async (t) => {
      const box = sandbox(t);
      const before = tree(box.tmp);
      const result = await box.runRaw(["--root", missing(box), ...args]);
      assert.ok(result.code === 0 || result.code === 3, show(result));
      assert.deepEqual(tree(box.tmp), before, `nothing was created: ${show(result)}`);
    });
  }

  test("an empty listing of a missing root is empty, and --json says so exactly", async (t) => {
    const box = sandbox(t);
    for (const args of [
      ["list", "--json"],
      ["trash", "--json"],
      ["list", "--all", "--json"],
    ]) {
      const result = await box.runRaw(["--root", missing(box), ...args]);
      assertOk(result);
      assert.deepEqual(parseJson(result), { agents: [] });
    }
    const report = await box.runRaw(["--root", missing(box), "--json", "doctor"]);
    assertOk(report);
    const body = parseJson<{ root: string; active: number; retired: number; problems: unknown[] }>(
      report,
    );
    assert.deepEqual(
      [body.root, body.active, body.retired, body.problems],
      [missing(box), 0, 0, []],
    );
  });

  test("doctor names the registry it read", async (t) => {
    const box = sandbox(t);
    const result = await box.runRaw(["--root", missing(box), "doctor"]);
    assertOk(result);
    assert.ok(result.stdout.includes(missing(box)), show(result));
  });

  test("an empty listing names the registry it read", async (t) => {
    const box = sandbox(t);
    for (const command of ["list", "trash"]) {
      const result = await box.runRaw(["--root", missing(box), command]);
      assertOk(result);
      assert.ok(result.stdout.includes(missing(box)), `${command} names the root: ${show(result)}`);
    }
  });

  test("a write creates the registry as before", async (t) => {
    const box = sandbox(t);
    const created = await box.runRaw([
      "--root",
      missing(box),
      "--json",
      "create",
      "--name",
      "New",
      "--definition",
      "cc",
    ]);
    assertOk(created);
    assert.ok(existsSync(join(missing(box), "retired")), "create made the root and retired/");
  });
});

describe("cli: the agents base", { concurrency: true }, () => {
  const agentsBase = async (box: Sandbox, args: string[], env: Record<string, string> = {}) => {
    const result = await box.runRaw([...args, "--json", "doctor"], { env });
    assertOk(result);
    return parseJson<{ root: string; agents_base: string }>(result);
  };

  test("with --root alone it is the root's parent directory", async (t) => {
    const box = sandbox(t);
    const root = join(box.tmp, "elsewhere", "registry");
    const body = await agentsBase(box, ["--root", root]);
    assert.deepEqual([body.root, body.agents_base], [root, dirname(root)]);
    // Where `create` puts the working directory.
    const created = await box.runRaw([
      "--root",
      root,
      "--json",
      "create",
      "--name",
      "Beside",
      "--definition",
      "cc",
    ]);
    assertOk(created);
    const { working_dir_path } = parseJson<{ working_dir_path: string }>(created);
    assert.equal(working_dir_path, join(dirname(root), "beside"));
  });

  test("an explicit agents base wins: --agents-base, then AGENTMUX_AGENTS_DIR", async (t) => {
    const box = sandbox(t);
    const root = join(box.tmp, "elsewhere", "registry");
    const flag = join(box.tmp, "flag-agents");
    const env = join(box.tmp, "env-agents");
    const viaFlag = await agentsBase(box, ["--root", root, "--agents-base", flag], {
      AGENTMUX_AGENTS_DIR: env,
    });
    assert.equal(viaFlag.agents_base, flag);
    const viaEnv = await agentsBase(box, ["--root", root], { AGENTMUX_AGENTS_DIR: env });
    assert.equal(viaEnv.agents_base, env);
  });

  test("without --root it is the SPEC §1 default, <home>/agents", async (t) => {
    const box = sandbox(t);
    const byEnv = await agentsBase(box, []);
    assert.deepEqual([byEnv.root, byEnv.agents_base], [box.root, box.agentsBase]);
    const home = join(box.tmp, "other-home");
    const byFlag = await agentsBase(box, ["--home", home]);
    assert.deepEqual(
      [byFlag.root, byFlag.agents_base],
      [join(home, "shared", "agents", "registry"), join(home, "agents")],
    );
  });
});

describe("cli: what a command loads", { concurrency: true }, () => {
  /**
   * Runs the bin with a preload that writes, at exit, every module in `require.cache`, Node's own
   * modules loaded (`process.moduleLoadList`), and how many `Intl.Segmenter`s were made. The three
   * dependencies watched are CommonJS packages: however they are reached (a CommonJS bin, or an
   * ES module importing them), Node loads them through that cache. string-width is bundled, so
   * it is seen by the segmenter it makes when it loads.
   */
  async function loaded(box: Sandbox, args: string[], serving = false) {
    const record = join(box.tmp, "loaded.json");
    const preload = join(box.tmp, "record-loaded.cjs");
    writeFileSync(
      preload,
      [
        "let segmenters = 0;",
        "const Segmenter = Intl.Segmenter;",
        "Intl.Segmenter = class extends Segmenter { constructor(...args) { super(...args); segmenters++; } };",
        `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(record)}, JSON.stringify({ modules: Object.keys(require.cache), builtins: process.moduleLoadList, segmenters })));`,
        "",
      ].join("\n"),
    );
    const child = spawn(process.execPath, ["--require", preload, BIN, ...box.pathFlags, ...args], {
      env: box.env,
      cwd: box.tmp,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let stopping = false;
    child.stdout.on("data", async (chunk: Buffer) => {
      stdout += chunk;
      if (!serving || stopping || !stdout.includes("\n")) return;
      // Once, and after an answer: serve listens for SIGINT only once its line is out, and a
      // second SIGINT would find the handler gone and end it before its exit hooks.
      stopping = true;
      await fetch((JSON.parse(stdout) as { url: string }).url).catch(() => undefined);
      child.kill("SIGINT");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    const [code] = (await once(child, "close")) as [number | null];
    assert.ok(code === 0 || code === 4, `${args.join(" ")} → ${code}\n${stdout}\n${stderr}`);
    const { modules, builtins, segmenters } = JSON.parse(readFileSync(record, "utf8")) as {
      modules: string[];
      builtins: string[];
      segmenters: number;
    };
    const has = (name: string) => modules.some((path) => path.includes(`/node_modules/${name}/`));
    return Object.assign(has, {
      builtin: (name: string) => builtins.includes(`NativeModule ${name}`),
      segmenters,
    });
  }

  const HEAVY = ["better-sqlite3", "fastify", "fs-ext"];

  test("list --json loads neither SQLite, nor the server, nor the lease lock", async (t) => {
    const box = sandbox(t, "flags");
    seed(box, { instance_id: "aaa" });
    const has = await loaded(box, ["list", "--json"]);
    // The next test shows the recorder sees each of them when it is loaded.
    assert.deepEqual(HEAVY.filter(has), []);
  });

  test("but migrate loads SQLite, serve the server and continue --exec the lock", async (t) => {
    const box = sandbox(t, "flags");
    seed(box, { instance_id: "aaa" });
    const migrate = await loaded(box, ["migrate", "--json"]);
    assert.deepEqual(HEAVY.filter(migrate), ["better-sqlite3"]);
    const serve = await loaded(box, ["serve", "--port", "0", "--json"], true);
    assert.ok(serve("fastify"), "serve loads fastify");
    assert.ok(!serve("better-sqlite3"), "serve does not load SQLite");
    const held = await loaded(box, [
      "continue",
      "aaa",
      "--exec",
      "--",
      process.execPath,
      "-e",
      "0",
    ]);
    assert.deepEqual(HEAVY.filter(held), ["fs-ext"]);
    assert.ok(held.builtin("child_process"), "continue --exec loads child_process");
  });

  test("list --json loads neither child_process nor the table's text measuring", async (t) => {
    const box = sandbox(t, "flags");
    seed(box, { instance_id: "aaa", instance_name: "🦊 fox" });
    const json = await loaded(box, ["list", "--json"]);
    // (Its stdout is a pipe here, which loads net itself: child_process is what can be left out.)
    assert.deepEqual([json.builtin("child_process"), json.segmenters], [false, 0]);
    // The controls: the human table of the same agent measures it.
    const table = await loaded(box, ["list"]);
    assert.ok(table.segmenters > 0, "the table loads string-width");
  });
});

describe("cli: the version", { concurrency: true }, () => {
  test("-V prints it (npx takes --version for itself)", async (t) => {
    const box = sandbox(t);
    for (const flag of ["-V", "--version"]) {
      const result = await box.runRaw([flag]);
      assertOk(result);
      assert.equal(result.stdout, `${PACKAGE_VERSION}\n`);
    }
  });
});

describe("cli: the bundle's code cache", () => {
  const cli = join(BIN, "..");
  const main = join(cli, "main.cjs");
  const nodeCachesItself = "enableCompileCache" in module;

  test("matches this Node: V8 accepts it", { skip: nodeCachesItself }, () => {
    const script = new vm.Script(module.wrap(readFileSync(main, "utf8")), {
      filename: main,
      cachedData: readFileSync(`${main}.cache`),
    });
    assert.equal(script.cachedDataRejected, false);
  });

  test("a cache of another Node, or none, only costs the compile", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "aaa" });
    // The bin beside a bundle whose cache is garbage, then beside one with none.
    const copy = join(box.tmp, "copy");
    mkdirSync(join(copy, "dist", "cli"), { recursive: true });
    copyFileSync(join(REPO, "package.json"), join(copy, "package.json"));
    for (const name of ["bin.cjs", "main.cjs"])
      copyFileSync(join(cli, name), join(copy, "dist", "cli", name));
    const cache = join(copy, "dist", "cli", "main.cjs.cache");
    for (const state of ["garbage", "missing"]) {
      if (state === "garbage") writeFileSync(cache, randomBytes(4096));
      else rmSync(cache);
      const child = spawnSync(
        process.execPath,
        [join(copy, "dist", "cli", "bin.cjs"), ...box.pathFlags, "list", "--json"],
        { env: box.env, encoding: "utf8" },
      );
      assert.equal(child.status, 0, `${state}: ${child.stderr}`);
      assert.deepEqual(
        (JSON.parse(child.stdout) as { agents: { instance_id: string }[] }).agents.map(
          (agent) => agent.instance_id,
        ),
        ["aaa"],
        state,
      );
      assert.equal(child.stderr, "", state);
    }
  });
});
