/**
 * Leases in the CLI, black box: `list` and `show` say who holds an agent (a column and a line;
 * `in_use` with `--json`), `leases` lists the holders (`--all`: every lease file, with its status),
 * and `doctor` reports lease files that cannot be read or expired long ago, which `--fix` removes
 * (the expired ones only). The holders are lease files as another program writes them, naming
 * this test process: alive, on this host.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { age, DEAD_PID, leaseOf, writeLeaseFile } from "../in-use-support.js";
import { documentValidator, readOpenApi } from "../openapi-support.js";
import { assertExit, assertOk, parseJson, type Sandbox, sandbox, seed } from "./harness.js";

const schemaNamed = documentValidator(readOpenApi());
const HOUR = 3_600_000;

interface AgentJson {
  instance_id: string;
  in_use: { holder: Record<string, unknown> | null } | null;
}

function twoAgents(box: Sandbox): void {
  seed(box, { instance_id: "a1", instance_name: "alpha", last_launched_at_ms: Date.now() });
  seed(box, { instance_id: "b2", instance_name: "bravo", last_launched_at_ms: Date.now() - HOUR });
}

describe("cli: leases everywhere", { concurrency: true }, () => {
  test("list: an IN USE column only while someone holds an agent; --json carries in_use", async (t) => {
    const box = sandbox(t);
    twoAgents(box);
    const free = await box.run(["list"]);
    assertOk(free);
    assert.doesNotMatch(free.stdout, /IN USE/);

    writeLeaseFile(box.root, "a1", leaseOf("a1"));
    const held = await box.run(["list"]);
    assertOk(held);
    const [header, alpha, bravo] = held.stdout.trimEnd().split("\n");
    assert.match(header ?? "", /ID +IN USE$/);
    assert.match(alpha ?? "", new RegExp(`^alpha .* · pid ${process.pid} · agentmux 0\\.34\\.1$`));
    assert.match(bravo ?? "", /^bravo .* -$/);

    const json = parseJson<{ agents: AgentJson[] }>(await box.run(["--json", "list"]));
    assert.deepEqual(
      json.agents.map((agent) => [agent.instance_id, agent.in_use?.holder?.pid ?? null]),
      [
        ["a1", process.pid],
        ["b2", null],
      ],
    );
    assert.deepEqual(json.agents[0]?.in_use?.holder, {
      hostname: leaseOf("a1").hostname,
      pid: process.pid,
      channel: "agentmux",
      version: "0.34.1",
      block_id: "pane-7",
      session_id: "sess-1",
      acquired_at_ms: json.agents[0]?.in_use?.holder?.acquired_at_ms,
    });
  });

  test("show: an in use line, and in_use with --json", async (t) => {
    const box = sandbox(t);
    twoAgents(box);
    writeLeaseFile(box.root, "a1", leaseOf("a1", { acquired_at_ms: Date.now() - 10 * 60_000 }));
    const shown = await box.run(["show", "alpha"]);
    assertOk(shown);
    assert.match(shown.stdout, /^in use +.* · pid \d+ · agentmux 0\.34\.1, claimed 10 min ago$/m);
    const free = await box.run(["show", "bravo"]);
    assertOk(free);
    assert.doesNotMatch(free.stdout, /in use/);
    const json = parseJson<{ agent: AgentJson }>(await box.run(["--json", "show", "a1"]));
    assert.equal(json.agent.in_use?.holder?.block_id, "pane-7");
    const unreadable = writeLeaseFile(box.root, "b2", "{ torn");
    const unknown = parseJson<{ agent: AgentJson }>(await box.run(["--json", "show", "b2"]));
    assert.deepEqual(unknown.agent.in_use, { holder: null });
    assert.match((await box.run(["show", "b2"])).stdout, /^in use +unknown holder/m);
    age(unreadable, HOUR);
    assert.equal(
      parseJson<{ agent: AgentJson }>(await box.run(["--json", "show", "b2"])).agent.in_use,
      null,
    );
  });

  test("leases: the holders; --all every lease file with its status; --json is a LeaseList", async (t) => {
    const box = sandbox(t);
    twoAgents(box);
    const none = await box.run(["leases"]);
    assertOk(none);
    assert.equal(none.stdout, "no agent is in use\n");
    assert.equal((await box.run(["leases", "--all"])).stdout, "no lease files\n");

    writeLeaseFile(box.root, "a1", leaseOf("a1"));
    writeLeaseFile(box.root, "b2", leaseOf("b2", { pid: DEAD_PID }));
    writeLeaseFile(box.root, "gone", leaseOf("gone", { renewed_at_ms: Date.now() - HOUR }));
    const held = await box.run(["leases"]);
    assertOk(held);
    const lines = held.stdout.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^AGENT +ID +HOST +PID +PROGRAM +BLOCK +RENEWED$/);
    assert.equal(lines.length, 2);
    assert.match(
      lines[1] ?? "",
      new RegExp(
        `^alpha +a1 +\\S+ +${process.pid} +agentmux 0\\.34\\.1 +pane-7 +\\d+\\.\\d s ago$`,
      ),
    );

    const all = await box.run(["leases", "--all"]);
    assertOk(all);
    const rows = all.stdout.trimEnd().split("\n");
    assert.match(rows[0] ?? "", /RENEWED +STATUS$/);
    assert.deepEqual(
      rows.slice(1).map((row) => [row.split(/ {2,}/)[0], row.split(/ {2,}/).at(-1)]),
      [
        ["alpha", "live"],
        ["bravo", "dead"],
        ["-", "expired"],
      ],
    );

    for (const args of [["leases"], ["leases", "--all"]]) {
      const json = parseJson<{ leases: { instance_id: string }[] }>(
        await box.run(["--json", ...args]),
      );
      assert.ok(schemaNamed("LeaseList")?.(json), JSON.stringify(json));
      assert.equal(json.leases.length, args.length === 1 ? 1 : 3);
    }
  });

  test("doctor reports lease problems; --fix removes only the long-expired lease files", async (t) => {
    const box = sandbox(t);
    twoAgents(box);
    writeLeaseFile(box.root, "a1", leaseOf("a1", { renewed_at_ms: Date.now() - 2 * HOUR }));
    writeLeaseFile(box.root, "b2", "not a lease\n");
    const report = await box.run(["doctor"]);
    assertExit(report, 4);
    assert.match(
      report.stdout,
      /leases\/a1\.lease\.json: the lease of "alpha" \(a1\) by .* expired/,
    );
    assert.match(
      report.stdout,
      /leases\/b2\.lease\.json: the lease of "bravo" \(b2\) cannot be read/,
    );
    assert.doesNotMatch(report.stdout, /problem leases is|problem leases\/ /);

    const fixed = await box.run(["doctor", "--fix"]);
    assertExit(fixed, 4);
    assert.match(fixed.stdout, /^removed stale leases\/a1\.lease\.json$/m);
    assert.ok(!existsSync(join(box.root, "leases", "a1.lease.json")));
    assert.deepEqual(readdirSync(join(box.root, "leases")).sort(), [
      "a1.epoch",
      "a1.lock",
      "b2.epoch",
      "b2.lease.json",
      "b2.lock",
    ]);
    assert.doesNotMatch((await box.run(["doctor"])).stdout, /a1\.lease\.json/);
  });
});
