/**
 * Writing commands, black box: `create`, `continue` (and `--exec`), `forget`, `restore`,
 * `rename`, `delete`; ambiguous names, missing and escaping working directories.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  AGENT_KEYS,
  assertErrorLine,
  assertExit,
  assertJsonError,
  assertOk,
  BIN,
  keys,
  PACKAGE_VERSION,
  parseJson,
  readRecord,
  type Sandbox,
  sandbox,
  seed,
} from "./harness.js";

interface AgentJson {
  instance_id: string;
  instance_name: string;
  working_dir: string;
  [key: string]: unknown;
}

/** Every file under the registry root, with its bytes: "nothing changed" in one comparison. */
function registryState(box: Sandbox): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of [box.root, box.retired]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isFile()) out.set(path, readFileSync(path, "base64"));
    }
  }
  return out;
}

describe("cli: writing", { concurrency: true }, () => {
  describe("cli: create", { concurrency: true }, () => {
    test("creates the record and the working directory; --json keys", async (t) => {
      const box = sandbox(t);
      const before = Date.now();
      const result = await box.run([
        "--json",
        "create",
        "--name",
        "My Agent",
        "--definition",
        "claude-code",
        "--identity",
        "agenta",
        "--memory",
        "mem-1",
      ]);
      assertOk(result);
      const body = parseJson<{ agent: AgentJson; working_dir_path: string }>(result);
      assert.deepEqual(keys(body), ["agent", "working_dir_path"]);
      assert.deepEqual(keys(body.agent), AGENT_KEYS);
      const { agent } = body;
      assert.match(
        agent.instance_id,
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      assert.equal(agent.instance_name, "My Agent");
      assert.equal(agent.definition_id, "claude-code");
      assert.equal(agent.identity_id, "agenta");
      assert.equal(agent.memory_id, "mem-1");
      assert.equal(agent.session_id, null);
      assert.equal(agent.working_dir, "my-agent");
      assert.equal(agent.source_agents_base, box.agentsBase);
      assert.equal(agent.schema_version, 3);
      assert.equal(agent.created_by_version, PACKAGE_VERSION);
      assert.equal(agent.last_launched_by_version, PACKAGE_VERSION);
      assert.ok(
        (agent.created_at_ms as number) >= before && (agent.created_at_ms as number) <= Date.now(),
      );
      assert.equal(agent.last_launched_at_ms, agent.created_at_ms);
      assert.equal(body.working_dir_path, realpathSync(join(box.agentsBase, "my-agent")));
      assert.ok(statSync(body.working_dir_path).isDirectory());

      const file = join(box.root, `${agent.instance_id}.json`);
      const onDisk = readRecord(file);
      assert.equal(onDisk.schema_version, 3);
      assert.equal(onDisk.data.instance_name, "My Agent");
      assert.equal(statSync(file).mode & 0o777, 0o600);

      const human = await box.run(["create", "--name", "Second", "--definition", "gemini"]);
      assertOk(human);
      assert.match(
        human.stdout,
        new RegExp(`^created Second \\([0-9a-f-]{36}\\) in ${join(box.agentsBase, "second")}\\n$`),
      );
    });

    test("the working dir gets -2, -3 … when a directory or any record (active or retired) uses it", async (t) => {
      const box = sandbox(t);
      mkdirSync(join(box.agentsBase, "clash"), { recursive: true });
      seed(box, { instance_id: "r1", working_dir: "dup" }, { retired: true, dir: false });
      seed(box, { instance_id: "a1", working_dir: "dup-2" }, { dir: false });
      const workingDir = async (name: string) => {
        const result = await box.run(["--json", "create", "--name", name, "--definition", "cc"]);
        assertOk(result);
        const body = parseJson<{ agent: AgentJson; working_dir_path: string }>(result);
        assert.ok(statSync(body.working_dir_path).isDirectory());
        return body.agent.working_dir;
      };
      assert.equal(await workingDir("Clash"), "clash-2", "an existing directory");
      assert.equal(await workingDir("Dup"), "dup-3", "a retired record and an active one");
      assert.equal(await workingDir("clash"), "clash-3", "a record just created");
      assert.equal(await workingDir("!!!"), "agent", "a name with no slug");
      assert.deepEqual(readdirSync(box.agentsBase).sort(), [
        "agent",
        "clash",
        "clash-2",
        "clash-3",
        "dup-3",
      ]);
    });

    test("an empty name or definition is refused with exit 2", async (t) => {
      const box = sandbox(t);
      assertErrorLine(await box.run(["create", "--name", "  ", "--definition", "cc"]), 2);
      assertErrorLine(await box.run(["create", "--name", "x", "--definition", ""]), 2);
      assert.equal(existsSync(box.agentsBase), false, "no directory was created");
    });
  });

  describe("cli: continue", { concurrency: true }, () => {
    test("prints the real working dir alone; records the launch; keeps or replaces the session", async (t) => {
      const box = sandbox(t);
      const file = seed(box, {
        instance_id: "aaa",
        instance_name: "Alpha",
        working_dir: "with space/nested",
        session_id: "held",
        last_launched_at_ms: 1_000,
        last_launched_by_version: "0.0.1",
        tags: ["kept"],
      });
      const real = realpathSync(join(box.agentsBase, "with space", "nested"));

      const before = Date.now();
      const plain = await box.run(["continue", "Alpha"]);
      assertOk(plain);
      assert.equal(plain.stdout, `${real}\n`);
      let record = readRecord(file);
      assert.ok((record.data.last_launched_at_ms as number) >= before);
      assert.ok((record.data.last_launched_at_ms as number) <= Date.now());
      assert.equal(record.data.last_launched_by_version, PACKAGE_VERSION);
      assert.equal(record.data.session_id, "held", "no --session: the held one stays");
      assert.deepEqual(record.data.tags, ["kept"], "unknown fields survive");

      const json = await box.run(["--json", "continue", "aaa", "--session", "fresh"]);
      assertOk(json);
      const body = parseJson<{ agent: AgentJson; working_dir_path: string }>(json);
      assert.deepEqual(keys(body), ["agent", "working_dir_path"]);
      assert.deepEqual(keys(body.agent), AGENT_KEYS);
      assert.equal(body.working_dir_path, real);
      assert.equal(body.agent.session_id, "fresh");
      record = readRecord(file);
      assert.equal(record.data.session_id, "fresh", "--session replaces it");
      assert.equal(record.schema_version, 2);
    });

    test('cd "$(agentmux-registry continue x)" lands in the working dir, through a symlink too', async (t) => {
      const box = sandbox(t);
      mkdirSync(join(box.agentsBase, "real-dir"), { recursive: true });
      symlinkSync(join(box.agentsBase, "real-dir"), join(box.agentsBase, "link"));
      seed(box, { instance_id: "lnk", working_dir: "link" }, { dir: false });
      const shell = spawnSync(
        "sh",
        ["-c", 'cd "$("$0" "$1" continue lnk)" && pwd -P', process.execPath, BIN],
        { env: box.env, encoding: "utf8", cwd: box.tmp },
      );
      assert.equal(shell.status, 0, shell.stderr);
      assert.equal(shell.stdout, `${realpathSync(join(box.agentsBase, "real-dir"))}\n`);
    });

    test("--exec runs the command in the working dir with inherited stdio and returns its code", async (t) => {
      const box = sandbox(t);
      const file = seed(box, {
        instance_id: "aaa",
        working_dir: "work",
        last_launched_at_ms: 1_000,
      });
      const real = realpathSync(join(box.agentsBase, "work"));
      const result = await box.run([
        "continue",
        "aaa",
        "--exec",
        "--",
        process.execPath,
        "-e",
        "process.stdout.write(process.cwd()); process.stderr.write('to stderr'); process.exit(7)",
      ]);
      assertExit(result, 7);
      assert.equal(result.stdout, real);
      assert.equal(result.stderr, "to stderr");
      assert.ok((readRecord(file).data.last_launched_at_ms as number) > 1_000, "launch recorded");

      // Arguments reach the command verbatim, options included.
      const args = await box.run([
        "continue",
        "aaa",
        "--exec",
        "--",
        process.execPath,
        "-e",
        "process.stdout.write(JSON.stringify(process.argv.slice(1)))",
        "--",
        "--json",
        "a b",
        "--exec",
      ]);
      assertOk(args);
      assert.deepEqual(JSON.parse(args.stdout), ["--json", "a b", "--exec"]);

      // A command killed by a signal: 128 + the signal's number, as a shell reports it.
      const killed = await box.run([
        "continue",
        "aaa",
        "--exec",
        "--",
        process.execPath,
        "-e",
        "process.kill(process.pid, 'SIGTERM')",
      ]);
      assertExit(killed, 143);

      // A command that cannot be started: an error line, non-zero.
      const missing = await box.run([
        "continue",
        "aaa",
        "--exec",
        "--",
        join(box.tmp, "no-such-command"),
      ]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /^error: could not run .*no-such-command/);
    });

    test("--exec: Ctrl-C (SIGINT to the process group) waits for the command and returns its code", {
      timeout: 20_000,
    }, async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "aaa" });
      const script =
        "process.on('SIGINT', () => setTimeout(() => { process.stdout.write('done'); process.exit(5); }, 300));" +
        "process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";
      const cli = spawn(
        process.execPath,
        [BIN, "continue", "aaa", "--exec", "--", process.execPath, "-e", script],
        { env: box.env, cwd: box.tmp, detached: true, stdio: ["ignore", "pipe", "pipe"] },
      );
      const group = cli.pid as number;
      t.after(() => {
        try {
          process.kill(-group, "SIGKILL");
        } catch {
          // Already gone.
        }
      });
      let stdout = "";
      let sent = false;
      cli.stdout.on("data", (chunk) => {
        stdout += chunk;
        if (!sent && stdout.includes("ready\n")) {
          sent = true;
          process.kill(-group, "SIGINT"); // what a terminal does on Ctrl-C
        }
      });
      const [code, signal] = (await once(cli, "exit")) as [number | null, NodeJS.Signals | null];
      assert.deepEqual(
        { code, signal, stdout },
        { code: 5, signal: null, stdout: "ready\ndone" },
        "the CLI outlives its command and exits with its code",
      );
    });

    test("WORKING_DIR_MISSING: exit 3, nothing recorded", async (t) => {
      const box = sandbox(t);
      const created = parseJson<{ agent: AgentJson; working_dir_path: string }>(
        await box.run(["--json", "create", "--name", "Doomed", "--definition", "cc"]),
      );
      rmSync(created.working_dir_path, { recursive: true });
      const state = registryState(box);
      assert.match(assertErrorLine(await box.run(["continue", "Doomed"]), 3), /missing/);
      const error = assertJsonError(
        await box.run(["--json", "continue", "Doomed"]),
        3,
        "WORKING_DIR_MISSING",
      );
      assert.equal(error.id, created.agent.instance_id);
      assert.equal(error.path, join(box.agentsBase, "doomed"));
      assertExit(
        await box.run([
          "continue",
          "Doomed",
          "--exec",
          "--",
          process.execPath,
          "-e",
          "process.exit(9)",
        ]),
        3,
      );
      assert.deepEqual(registryState(box), state, "nothing was written");
    });

    test("WORKING_DIR_ESCAPES: a symlink to a directory outside the agents base → exit 4", async (t) => {
      const box = sandbox(t);
      const outside = join(box.tmp, "outside");
      mkdirSync(outside);
      mkdirSync(box.agentsBase, { recursive: true });
      symlinkSync(outside, join(box.agentsBase, "escape"));
      seed(box, { instance_id: "esc", working_dir: "escape" }, { dir: false });
      const state = registryState(box);
      assert.match(assertErrorLine(await box.run(["continue", "esc"]), 4), /outside/);
      const error = assertJsonError(
        await box.run(["--json", "continue", "esc"]),
        4,
        "WORKING_DIR_ESCAPES",
      );
      assert.equal(error.real, realpathSync(outside));
      const exec = await box.run([
        "continue",
        "esc",
        "--exec",
        "--",
        process.execPath,
        "-e",
        "process.stdout.write('ran')",
      ]);
      assertExit(exec, 4);
      assert.equal(exec.stdout, "", "the command never ran");
      assert.deepEqual(registryState(box), state, "nothing was written");
    });

    test("a forgotten agent cannot be continued", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "gone", instance_name: "Gone" }, { retired: true });
      assertErrorLine(await box.run(["continue", "Gone"]), 3);
      assertErrorLine(await box.run(["continue", "gone"]), 3);
    });
  });

  describe("cli: forget, restore, trash", { concurrency: true }, () => {
    test("forget moves the agent to the Trash, restore brings it back", async (t) => {
      const box = sandbox(t);
      const file = seed(box, { instance_id: "aaa", instance_name: "Alpha" });
      const bytes = readFileSync(file);

      const forgot = await box.run(["forget", "Alpha"]);
      assertOk(forgot);
      assert.equal(
        forgot.stdout,
        "forgot Alpha (aaa); restore with: agentmux-registry restore aaa\n",
      );
      assert.equal(existsSync(file), false);
      assert.deepEqual(readFileSync(join(box.retired, "aaa.json")), bytes);
      assert.ok(existsSync(join(box.agentsBase, "aaa-wd")), "the working dir stays");
      assert.deepEqual(parseJson(await box.run(["--json", "list"])), { agents: [] });
      assertErrorLine(await box.run(["forget", "Alpha"]), 3);

      const restored = await box.run(["--json", "restore", "Alpha"]);
      assertOk(restored);
      assert.deepEqual(parseJson(restored), { id: "aaa", moved: 1 });
      assert.deepEqual(readFileSync(file), bytes, "restored byte for byte");
      assert.equal(existsSync(join(box.retired, "aaa.json")), false);
      assertErrorLine(await box.run(["restore", "aaa"]), 3);

      const json = await box.run(["forget", "aaa", "--json"]);
      assertOk(json);
      assert.deepEqual(parseJson(json), { id: "aaa", moved: 1 });
      const human = await box.run(["restore", "aaa"]);
      assertOk(human);
      assert.equal(human.stdout, "restored Alpha (aaa)\n");
    });

    test("forget takes the agent's launch-keyed records along (agent scope)", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "agent-1", instance_name: "Main" });
      seed(box, {
        instance_id: "launch-1",
        instance_name: "Main launch",
        definition_id: "agent-1",
      });
      seed(box, { instance_id: "other" });
      assert.deepEqual(parseJson(await box.run(["--json", "forget", "agent-1"])), {
        id: "agent-1",
        moved: 2,
      });
      assert.deepEqual(readdirSync(box.retired).sort(), ["agent-1.json", "launch-1.json"]);
      assert.deepEqual(parseJson(await box.run(["--json", "restore", "agent-1"])), {
        id: "agent-1",
        moved: 2,
      });
    });

    test("restore never replaces an active record: exit 4, both files untouched", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "both", instance_name: "v-retired" }, { retired: true });
      seed(box, { instance_id: "both", instance_name: "v-active" });
      const state = registryState(box);
      assert.match(assertErrorLine(await box.run(["restore", "both"]), 4), /already active/);
      assertJsonError(await box.run(["--json", "restore", "both"]), 4, "CONFLICT");
      assert.deepEqual(registryState(box), state);
    });
  });

  describe("cli: rename", { concurrency: true }, () => {
    test("renames by id or name; a second identical call changes nothing", async (t) => {
      const box = sandbox(t);
      const file = seed(box, { instance_id: "aaa", instance_name: "Alpha" });
      const first = await box.run(["--json", "rename", "Alpha", "Beta Two"]);
      assertOk(first);
      assert.deepEqual(parseJson(first), { id: "aaa", name: "Beta Two", changed: 1 });
      assert.equal(readRecord(file).data.instance_name, "Beta Two");
      assert.equal(readRecord(file).data.working_dir, "aaa-wd", "the working dir keeps its name");

      const again = await box.run(["rename", "aaa", "Beta Two"]);
      assertOk(again);
      assert.equal(again.stdout, "Beta Two (aaa) is already named that\n");
      const human = await box.run(["rename", "Beta Two", "Gamma"]);
      assertOk(human);
      assert.equal(human.stdout, "renamed Beta Two (aaa) to Gamma\n");
      assert.match((await box.run(["show", "Gamma"])).stdout, /^id\s+aaa$/m);
    });

    test("an empty new name is exit 2; a retired agent is not found", async (t) => {
      const box = sandbox(t);
      const file = seed(box, { instance_id: "aaa" });
      seed(box, { instance_id: "old" }, { retired: true });
      const bytes = readFileSync(file);
      assertErrorLine(await box.run(["rename", "aaa", ""]), 2);
      assertErrorLine(await box.run(["rename", "aaa", "   "]), 2);
      assertErrorLine(await box.run(["rename", "old", "new"]), 3);
      assert.deepEqual(readFileSync(file), bytes);
    });
  });

  describe("cli: delete", { concurrency: true }, () => {
    test("without --yes: exit 2 and nothing deleted; with --yes: records only, dir kept", async (t) => {
      const box = sandbox(t);
      const file = seed(box, { instance_id: "aaa", instance_name: "Alpha" });
      seed(box, { instance_id: "launch-x", definition_id: "aaa" });
      seed(box, { instance_id: "other" });
      const state = registryState(box);

      assert.match(assertErrorLine(await box.run(["delete", "Alpha"]), 2), /--yes/);
      assertExit(await box.run(["--json", "delete", "aaa"]), 2);
      assert.deepEqual(registryState(box), state, "nothing deleted");

      const deleted = await box.run(["--json", "delete", "Alpha", "--yes"]);
      assertOk(deleted);
      assert.deepEqual(parseJson(deleted), { id: "aaa", removed: 2 });
      assert.equal(existsSync(file), false);
      assert.equal(existsSync(join(box.root, "launch-x.json")), false);
      assert.ok(existsSync(join(box.root, "other.json")));
      assert.ok(existsSync(join(box.agentsBase, "aaa-wd")), "the working dir is never deleted");
      assertErrorLine(await box.run(["delete", "aaa", "--yes"]), 3);
    });

    test("an agent in the Trash can be deleted; human output", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "old", instance_name: "Oldie" }, { retired: true });
      const result = await box.run(["delete", "Oldie", "--yes"]);
      assertOk(result);
      assert.equal(result.stdout, "deleted Oldie (old) (1 file); its working directory was kept\n");
      assert.equal(existsSync(join(box.retired, "old.json")), false);
      assert.ok(existsSync(join(box.agentsBase, "old-wd")));
    });
  });

  describe("cli: ambiguous names", { concurrency: true }, () => {
    test("every command refuses with exit 4 and lists the candidates; --json has them", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "twin-old", instance_name: "twin", last_launched_at_ms: 1_000 });
      seed(box, { instance_id: "twin-new", instance_name: "twin", last_launched_at_ms: 2_000 });
      const state = registryState(box);
      for (const args of [
        ["show", "twin"],
        ["continue", "twin"],
        ["forget", "twin"],
        ["rename", "twin", "x"],
        ["delete", "twin", "--yes"],
      ]) {
        // The candidates, one line each, then the one error line.
        const result = await box.run(args);
        assertExit(result, 4);
        const line = result.stderr.trimEnd().split("\n").at(-1) ?? "";
        assert.match(line, /^error: /);
        assert.ok(line.includes("twin-old") && line.includes("twin-new"), line);
      }
      const error = assertJsonError(await box.run(["--json", "show", "twin"]), 4, "AMBIGUOUS_NAME");
      assert.deepEqual(keys(error), ["candidates", "code", "message", "name"]);
      assert.equal(error.name, "twin");
      const candidates = error.candidates as Record<string, unknown>[];
      assert.deepEqual(
        candidates.map((candidate) => candidate.id),
        ["twin-new", "twin-old"],
      );
      for (const candidate of candidates) {
        assert.deepEqual(keys(candidate), [
          "definition_id",
          "id",
          "last_launched_at_ms",
          "name",
          "retired",
          "working_dir",
        ]);
      }
      assertJsonError(await box.run(["continue", "twin", "--json"]), 4, "AMBIGUOUS_NAME");
      assert.deepEqual(registryState(box), state, "nothing changed");
      // The id always resolves.
      assertOk(await box.run(["show", "twin-old"]));
    });

    test("restore of a name two agents in the Trash carry is ambiguous too", async (t) => {
      const box = sandbox(t);
      seed(box, { instance_id: "t1", instance_name: "same" }, { retired: true });
      seed(box, { instance_id: "t2", instance_name: "same" }, { retired: true });
      const result = await box.run(["restore", "same"]);
      assertExit(result, 4);
      const line = result.stderr.trimEnd().split("\n").at(-1) ?? "";
      assert.ok(line.startsWith("error: ") && line.includes("t1") && line.includes("t2"), line);
    });
  });
});
