/**
 * `continue` and the lease (SPEC §15), black box through the built binary: `--exec` holds the
 * agent while its command runs and gives it back on every way out; a second `continue` is refused
 * with the holder named; a SIGKILLed CLI's lease is taken over by the next one at once.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  assertErrorLine,
  assertExit,
  assertJsonError,
  assertOk,
  BIN,
  PACKAGE_VERSION,
  readRecord,
  type Sandbox,
  sandbox,
  seed,
} from "./harness.js";

const ID = "aaa";

/**
 * A node one-liner for `--exec`: says it started by creating `started`, then waits until `go`
 * appears and exits with `code`.
 */
function waitingCommand(dir: string, code = 0): string[] {
  const started = JSON.stringify(join(dir, "started"));
  const go = JSON.stringify(join(dir, "go"));
  return [
    process.execPath,
    "-e",
    `require("fs").writeFileSync(${started}, String(process.pid));` +
      `setInterval(() => { if (require("fs").existsSync(${go})) process.exit(${code}); }, 10);`,
  ];
}

/** Starts `continue <agent> --exec -- <command>` without waiting for it. */
function startHeld(
  box: Sandbox,
  command: string[],
): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, "continue", ID, "--exec", "--", ...command], {
    env: box.env,
    cwd: box.tmp,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exit = once(child, "exit").then(([code]) => code as number | null);
  return { child, exit };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 30_000) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

function leaseFile(box: Sandbox): string {
  return join(box.root, "leases", `${ID}.lease.json`);
}

function setUp(t: TestContext): { box: Sandbox; record: string } {
  const box = sandbox(t);
  const record = seed(box, { instance_id: ID, instance_name: "Alpha", last_launched_at_ms: 1_000 });
  return { box, record };
}

describe("cli: continue holds the agent's lease", { concurrency: true }, () => {
  test("a second continue is refused (exit 4) while the first command runs, and succeeds after", async (t) => {
    const { box, record } = setUp(t);
    const first = startHeld(box, waitingCommand(box.tmp));
    t.after(() => first.child.kill("SIGKILL"));
    await until(() => existsSync(join(box.tmp, "started")), "the first command to start");

    const lease = JSON.parse(readFileSync(leaseFile(box), "utf8"));
    assert.equal(lease.pid, first.child.pid, "the CLI, the one that renews, is the claimant");
    assert.equal(lease.channel, "agentmux-registry");
    assert.equal(lease.version, PACKAGE_VERSION);
    assert.equal(lease.block_id, "cli");
    const launched = readRecord(record).data.last_launched_at_ms;

    const second = await box.run(["continue", "Alpha", "--exec", "--", "true"]);
    const line = assertErrorLine(second, 4);
    assert.match(line, /"Alpha" \(aaa\) is in use by agentmux-registry/);
    assert.match(line, new RegExp(`pid ${first.child.pid} on \\S+, renewed \\d+\\.\\d s ago`));
    assert.match(line, new RegExp(PACKAGE_VERSION.replaceAll(".", "\\.")));

    const json = await box.run(["--json", "continue", "aaa"]);
    const error = assertJsonError(json, 4, "AGENT_IN_USE");
    assert.equal((error.holder as { pid: number }).pid, first.child.pid);
    assert.equal(
      readRecord(record).data.last_launched_at_ms,
      launched,
      "a refused continue records no launch",
    );

    writeFileSync(join(box.tmp, "go"), "");
    assert.equal(await first.exit, 0);
    assert.equal(existsSync(leaseFile(box)), false, "released on exit");
    assertOk(await box.run(["continue", "Alpha", "--exec", "--", "true"]));
    assertOk(await box.run(["continue", "Alpha"]));
  });

  test("a SIGKILLed CLI's lease is taken over by the next continue at once", async (t) => {
    const { box } = setUp(t);
    const first = startHeld(box, waitingCommand(box.tmp));
    await until(() => existsSync(join(box.tmp, "started")), "the command to start");
    const commandPid = Number(readFileSync(join(box.tmp, "started"), "utf8"));
    t.after(() => {
      try {
        process.kill(commandPid, "SIGKILL");
      } catch {
        // Already gone.
      }
    });
    first.child.kill("SIGKILL");
    await first.exit;
    const before = JSON.parse(readFileSync(leaseFile(box), "utf8"));
    const next = await box.run([
      "continue",
      ID,
      "--exec",
      "--",
      process.execPath,
      "-e",
      `process.stdout.write(require("fs").readFileSync(${JSON.stringify(leaseFile(box))}, "utf8"))`,
    ]);
    assertOk(next);
    const taken = JSON.parse(next.stdout);
    assert.notEqual(taken.owner_boot_id, before.owner_boot_id);
    assert.ok(BigInt(taken.epoch) > BigInt(before.epoch), "a takeover gets a new epoch");
    assert.equal(existsSync(leaseFile(box)), false);
  });

  test("SIGTERM and SIGHUP reach the command, and the lease is released", async (t) => {
    const { box } = setUp(t);
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGHUP", 129],
    ] as const) {
      const started = join(box.tmp, "started");
      if (existsSync(started)) writeFileSync(started, "");
      const held = startHeld(box, waitingCommand(box.tmp));
      t.after(() => held.child.kill("SIGKILL"));
      await until(() => existsSync(started) && readFileSync(started, "utf8") !== "", "start");
      held.child.kill(signal);
      assert.equal(await held.exit, code, signal);
      assert.equal(existsSync(leaseFile(box)), false, `released after ${signal}`);
      writeFileSync(started, "");
    }
  });

  test("a command that cannot start, or fails, still releases the lease", async (t) => {
    const { box } = setUp(t);
    assertExit(await box.run(["continue", ID, "--exec", "--", "no-such-command-amr"]), 127);
    assert.equal(existsSync(leaseFile(box)), false);
    assertExit(await box.run(["continue", ID, "--exec", "--", "sh", "-c", "exit 3"]), 3);
    assert.equal(existsSync(leaseFile(box)), false);
    assert.ok(existsSync(join(box.root, "leases", `${ID}.lock`)), "the lock file stays");
    assert.equal(readFileSync(join(box.root, "leases", `${ID}.epoch`), "utf8"), "2\n");
  });

  test("an agent AgentMux holds is refused with AgentMux's details; a dead AgentMux holder is taken over", async (t) => {
    const { box } = setUp(t);
    const sleeper = spawn("sleep", ["30"]);
    t.after(() => sleeper.kill("SIGKILL"));
    const agentmuxLease = (pid: number) =>
      `${JSON.stringify(
        {
          instance_id: ID,
          owner_boot_id: "agentmux-boot",
          block_id: "pane-7",
          session_id: null,
          pid,
          acquired_at_ms: Date.now(),
          renewed_at_ms: Date.now(),
          epoch: 41,
          hostname: "",
          pid_start_s: 0,
          channel: "agentmux",
          version: "0.9.3",
          claim_id: "c",
        },
        null,
        2,
      )}\n`;
    mkdirSync(join(box.root, "leases"), { recursive: true });
    writeFileSync(leaseFile(box), agentmuxLease(sleeper.pid as number));
    const refused = await box.run(["continue", ID, "--exec", "--", "true"]);
    assert.match(assertErrorLine(refused, 4), /in use by agentmux 0\.9\.3 \(pid \d+, renewed/);
    // The same holder, on this host (as AgentMux records it) and with its pid gone.
    writeFileSync(
      leaseFile(box),
      agentmuxLease(2_000_000_000).replace(
        '"hostname": ""',
        `"hostname": "${hostname().trim().toLowerCase()}"`,
      ),
    );
    assertOk(await box.run(["continue", ID, "--exec", "--", "true"]));
    assert.equal(readFileSync(join(box.root, "leases", `${ID}.epoch`), "utf8"), "42\n");
  });
});
