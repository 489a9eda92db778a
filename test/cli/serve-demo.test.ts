/**
 * `serve --demo`, black box through the built binary: made-up agents served from a private
 * directory under the OS temp dir (each run's `TMPDIR` is the test's own), the user's registry
 * never touched, the directory removed when a signal stops the service, and `--demo` refused
 * beside an option that chooses a registry.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { describe, type TestContext, test } from "node:test";
import { isValidId } from "../../src/index.js";
import { assertErrorLine, assertJsonError, BIN, type Sandbox, sandbox, show } from "./harness.js";

const PREFIX = "agentmux-registry-demo-";

interface Demo {
  child: ChildProcess;
  /** The first line printed. */
  first: string;
  /** That line parsed, with `--json`: the address and the demo's directory. */
  line: { url: string; port: number; demo_dir: string };
  token: string;
  stderr: () => string;
  /** GET an API route with the token; its JSON body. */
  get<T>(path: string): Promise<T>;
  /** Sends `signal` and waits for the exit: its code and stderr. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; stderr: string }>;
}

interface DemoBox {
  box: Sandbox;
  /** The runs' OS temp dir (`TMPDIR`): where a demo's directory goes, and nothing else. */
  osTmp: string;
  env: NodeJS.ProcessEnv;
  start(args?: readonly string[]): Promise<Demo>;
}

/** Every path under `dir`, relative and sorted. */
const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

function demoBox(t: TestContext): DemoBox {
  const children = new Set<ChildProcess>();
  // Registered before the sandbox's temp dir: a child still running is killed before the rm.
  t.after(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  });
  const box = sandbox(t);
  const osTmp = join(box.tmp, "os-tmp");
  mkdirSync(osTmp);
  const env = { ...box.env, TMPDIR: osTmp };
  return {
    box,
    osTmp,
    env,
    async start(args = ["--json", "serve", "--demo", "--port", "0"]) {
      const child = spawn(process.execPath, [BIN, ...args], {
        env,
        cwd: box.tmp,
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      // "close", not "exit": stderr's last line may arrive after the exit.
      const closed = once(child, "close") as Promise<[number | null, NodeJS.Signals | null]>;
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk;
      });
      const first = await firstLine(child, () => stderr);
      const line = (args.includes("--json") ? JSON.parse(first) : {}) as Demo["line"];
      const token = new URL(line.url ?? "http://x").searchParams.get("token") ?? "";
      return {
        child,
        first,
        line,
        token,
        stderr: () => stderr,
        async get<T>(path: string) {
          const response = await fetch(new URL(path, line.url), {
            headers: { authorization: `Bearer ${token}` },
          });
          assert.equal(response.status, 200, `GET ${path}`);
          return (await response.json()) as T;
        },
        async stop(signal) {
          child.kill(signal);
          const [code] = await closed;
          return { code, stderr };
        },
      };
    },
  };
}

/** The first line on the child's stdout; an error with its stderr if it exits first. */
function firstLine(child: ChildProcess, stderr: () => string): Promise<string> {
  const stdout = child.stdout;
  assert.ok(stdout);
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stdout });
    const timer = setTimeout(() => reject(new Error(`no line after 20 s: ${stderr()}`)), 20_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} first: ${stderr()}`));
    });
  });
}

interface AgentJson {
  instance_id: string;
  instance_name: string;
  definition_id: string;
  session_id: string | null;
  last_launched_at_ms: number;
}

describe("cli: serve --demo", { concurrency: true }, () => {
  test("serves made-up agents of several definitions, a Trash and files Diagnostics lists", async (t) => {
    const demos = demoBox(t);
    const demo = await demos.start();
    const { agents } = await demo.get<{ agents: AgentJson[] }>("/api/agents");
    assert.ok(agents.length >= 8, `${agents.length} agents`);
    assert.ok(new Set(agents.map((agent) => agent.definition_id)).size >= 3, "definitions");
    assert.ok(
      agents.some((agent) => agent.session_id !== null),
      "some have a session",
    );
    const launches = new Set(agents.map((agent) => Math.floor(agent.last_launched_at_ms / 864e5)));
    assert.ok(launches.size >= 3, "launched over several days");
    const trash = (await demo.get<{ agents: AgentJson[] }>("/api/trash")).agents;
    assert.ok(trash.length >= 2, `${trash.length} in the Trash`);
    const ids = [...agents, ...trash].map((agent) => agent.instance_id);
    assert.ok(ids.every((id) => isValidId(id)));
    assert.equal(new Set(ids).size, ids.length);

    const doctor = await demo.get<{
      root: string;
      problems: { kind: string; subject: string }[];
    }>("/api/doctor");
    const kinds = doctor.problems.map((problem) => problem.kind).sort();
    assert.deepEqual(kinds, ["skipped-file", "skipped-file", "working-dir-missing"]);
    const root = join(demo.line.demo_dir, "registry");
    assert.equal(doctor.root, root);
    const skipped = doctor.problems.filter((problem) => problem.kind === "skipped-file");
    const versions = skipped.map((problem) => {
      const text = readFileSync(join(root, problem.subject), "utf8");
      try {
        return (JSON.parse(text) as { schema_version: number }).schema_version;
      } catch {
        return "cut short";
      }
    });
    assert.deepEqual(versions.sort(), [4, "cut short"], "a torn record, one from a newer version");
    assert.equal((await demo.stop("SIGTERM")).code, 0);
  });

  test("lives in a private directory of its own under the OS temp dir, token included", async (t) => {
    const demos = demoBox(t);
    const demo = await demos.start();
    const dir = demo.line.demo_dir;
    assert.equal(dirname(dir), demos.osTmp);
    assert.ok(basename(dir).startsWith(PREFIX), dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const token = readFileSync(join(dir, "registry", ".service-token"), "utf8").trim();
    assert.equal(token, demo.token);
    assert.equal(new URL(demo.line.url).hostname, "127.0.0.1");
    assert.equal(new URL(demo.line.url).port, String(demo.line.port));
    await demo.stop("SIGTERM");
  });

  test("leaves the user's registry alone", async (t) => {
    const demos = demoBox(t);
    const before = tree(demos.box.tmp);
    const demo = await demos.start();
    // A write through the page goes to the demo too.
    const { agents } = await demo.get<{ agents: AgentJson[] }>("/api/agents");
    const response = await fetch(
      new URL(`/api/agents/${agents[0]?.instance_id}/forget`, demo.line.url),
      {
        method: "POST",
        headers: { authorization: `Bearer ${demo.token}` },
      },
    );
    assert.equal(response.status, 200);
    assert.ok(!existsSync(demos.box.home), "nothing under AGENTMUX_HOME_OVERRIDE");
    assert.ok(!demos.box.userHomeTouched(), "nothing under ~/.agentmux");
    await demo.stop("SIGTERM");
    assert.deepEqual(tree(demos.box.tmp), before, "nothing left anywhere");
  });

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    test(`removes its directory when ${signal} stops it, and says so`, async (t) => {
      const demos = demoBox(t);
      const demo = await demos.start();
      assert.ok(existsSync(demo.line.demo_dir));
      const stopped = await demo.stop(signal);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.ok(!existsSync(demo.line.demo_dir), "removed");
      assert.deepEqual(readdirSync(demos.osTmp), []);
      assert.equal(stopped.stderr, `removed the demo registry ${demo.line.demo_dir}\n`);
    });
  }

  test("without --json, its first line names its directory", async (t) => {
    const demos = demoBox(t);
    const demo = await demos.start(["serve", "--demo", "--port", "0"]);
    const [dir = ""] = readdirSync(demos.osTmp);
    assert.ok(dir.startsWith(PREFIX), dir);
    assert.equal(
      demo.first,
      `agentmux-registry is serving a demo registry, removed when this stops: ${join(demos.osTmp, dir)}`,
    );
    const stopped = await demo.stop("SIGINT");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(readdirSync(demos.osTmp), []);
  });

  test("two at once get separate directories, registries and tokens", async (t) => {
    const demos = demoBox(t);
    const [a, b] = await Promise.all([demos.start(), demos.start()]);
    assert.ok(a && b);
    assert.notEqual(a.line.demo_dir, b.line.demo_dir);
    assert.notEqual(a.line.port, b.line.port);
    assert.notEqual(a.token, b.token);
    const idsOf = async (demo: Demo) =>
      (await demo.get<{ agents: AgentJson[] }>("/api/agents")).agents.map((x) => x.instance_id);
    const [idsA, idsB] = await Promise.all([idsOf(a), idsOf(b)]);
    assert.deepEqual(
      idsA.filter((id) => idsB.includes(id)),
      [],
      "fresh ids in each",
    );
    assert.equal((await a.stop("SIGTERM")).code, 0);
    assert.ok(existsSync(b.line.demo_dir), "the other one's directory stays");
    assert.equal((await b.stop("SIGTERM")).code, 0);
    assert.deepEqual(readdirSync(demos.osTmp), []);
  });

  test("beside an option that chooses a registry it is a usage error, and nothing is made", async (t) => {
    const demos = demoBox(t);
    const elsewhere = join(demos.box.tmp, "elsewhere");
    for (const [flag, value] of [
      ["--root", elsewhere],
      ["--home", elsewhere],
      ["--agents-base", elsewhere],
    ] as const) {
      const before = tree(demos.box.tmp);
      const human = await demos.box.runRaw([flag, value, "serve", "--demo", "--port", "0"], {
        env: { TMPDIR: demos.osTmp },
      });
      assert.match(assertErrorLine(human, 2), new RegExp(`--demo .*${flag}`), show(human));
      const json = await demos.box.runRaw(["--json", "serve", "--demo", flag, value], {
        env: { TMPDIR: demos.osTmp },
      });
      assertJsonError(json, 2, "INVALID_ARGUMENT");
      assert.deepEqual(tree(demos.box.tmp), before, `nothing made: ${flag}`);
    }
  });
});
