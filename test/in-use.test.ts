/**
 * Leases are visible everywhere (SPEC §15): an agent on the wire says whether a live process holds
 * it (`in_use`), in the service's listings and lookups and over HTTP, cached bodies of the live
 * index included; `GET /api/leases` lists them; `doctor` reports unreadable and long-expired lease
 * files and odd entries of `leases/`, and `--fix` removes only the long-expired lease files.
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Agent, InUse } from "../src/api.js";
import { RegistryService } from "../src/index.js";
import { thisHostname } from "../src/io/process-identity.js";
import { buildHttp } from "../src/server/http.js";
import { LeaseStore } from "../src/store/lease-store.js";
import { makeRecord, tempRegistry } from "./helpers.js";
import { age, DEAD_PID, leaseOf, writeLeaseFile } from "./in-use-support.js";
import { documentValidator, readOpenApi } from "./openapi-support.js";

const schemaNamed = documentValidator(readOpenApi());
const HOUR = 60 * 60_000;

async function setup(t: Parameters<typeof tempRegistry>[0], options: { live?: boolean } = {}) {
  const { registry, root } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  for (const id of ["a1", "b2"]) {
    await registry.upsert(makeRecord(id));
    fs.mkdirSync(join(registry.agentsBase, `${id}-wd`));
  }
  const service = new RegistryService(registry, {
    version: "1.0.0",
    live: options.live,
    feed: { report: () => {} },
  });
  t.after(() => service.close());
  const inUseOf = async (id: string) => {
    const body = JSON.parse(await service.listNamedAgentsBody()) as { agents: Agent[] };
    const agent = body.agents.find((a) => a.instance_id === id);
    assert.ok(agent, id);
    return agent.in_use;
  };
  return { registry, root, service, inUseOf };
}

const heldBy = (acquired: number): InUse => ({
  holder: {
    hostname: thisHostname(),
    pid: process.pid,
    channel: "agentmux",
    version: "0.34.1",
    block_id: "pane-7",
    session_id: "sess-1",
    acquired_at_ms: acquired,
  },
});

describe("in_use on the wire", () => {
  test("null when free; the holder while another live process holds the agent", async (t) => {
    const { root, service, inUseOf } = await setup(t);
    assert.equal(await inUseOf("a1"), null);
    assert.equal(fs.existsSync(join(root, "leases")), false, "listing creates no lease tree");

    const other = new LeaseStore(root, { bootId: "other", channel: "agentmux", version: "0.34.1" });
    const handle = await other.claim("a1", "pane-7", { sessionId: "sess-1" });
    const inUse = await inUseOf("a1");
    assert.ok(inUse?.holder);
    assert.deepEqual(inUse, heldBy(inUse.holder.acquired_at_ms));
    assert.equal(await inUseOf("b2"), null);
    assert.deepEqual((await service.getAgent("a1")).inUse, inUse);
    assert.equal((await service.getAgent("b2")).inUse, null);
    assert.deepEqual((await service.agentsInUse()).get("a1"), inUse);

    // A claim of this very process shows too: in use is in use, whoever holds it.
    const own = await service.claimAgent("b2", { blockId: "cli" });
    assert.equal((await inUseOf("b2"))?.holder?.channel, "agentmux-registry");
    await service.leases.release(own);

    assert.equal(await other.release(handle), true);
    assert.equal(await inUseOf("a1"), null);
    assert.equal(await inUseOf("b2"), null);
  });

  test("a renewal changes nothing on the wire", async (t) => {
    const { root, inUseOf } = await setup(t);
    const other = new LeaseStore(root, { bootId: "other" });
    const handle = await other.claim("a1", "pane");
    const before = await inUseOf("a1");
    await new Promise((resolve) => setTimeout(resolve, 5));
    await other.renew(handle);
    assert.deepEqual(await inUseOf("a1"), before);
  });

  test("an unreadable recent lease is an unknown holder; expired, dead or old ones hold nothing", async (t) => {
    const { root, inUseOf } = await setup(t);
    const torn = writeLeaseFile(root, "a1", '{\n  "instance_id": "a1",\n  "owner_bo');
    assert.deepEqual(await inUseOf("a1"), { holder: null });
    age(torn, 60_000);
    assert.equal(await inUseOf("a1"), null, "older than the TTL: it holds nothing");

    writeLeaseFile(root, "b2", leaseOf("b2", { renewed_at_ms: Date.now() - 20_000 }));
    assert.equal(await inUseOf("b2"), null, "expired");
    writeLeaseFile(root, "b2", leaseOf("b2", { pid: DEAD_PID }));
    assert.equal(await inUseOf("b2"), null, "its holder is provably gone");
    writeLeaseFile(root, "b2", leaseOf("b2", { pid: DEAD_PID, hostname: "another-host" }));
    assert.equal((await inUseOf("b2"))?.holder?.hostname, "another-host", "not provable elsewhere");
  });

  test("the live index never serves a cached body with a stale in_use", async (t) => {
    const { root, service, inUseOf } = await setup(t, { live: true });
    assert.equal(await inUseOf("a1"), null);
    assert.equal(await inUseOf("a1"), null, "cached now");
    const other = new LeaseStore(root, { bootId: "other" });
    const handle = await other.claim("a1", "pane");
    assert.equal((await inUseOf("a1"))?.holder?.pid, process.pid);
    assert.equal((await service.getAgent("a1")).inUse?.holder?.block_id, "pane");
    await other.release(handle);
    assert.equal(await inUseOf("a1"), null);
    // Expiry changes no file: the next answer still re-judges.
    writeLeaseFile(root, "b2", leaseOf("b2"));
    assert.notEqual(await inUseOf("b2"), null);
    writeLeaseFile(root, "b2", leaseOf("b2", { pid: DEAD_PID }));
    assert.equal(await inUseOf("b2"), null);
  });
});

describe("over HTTP", () => {
  test("agents, lookups, the Trash and /api/leases carry the holder, in their schemas", async (t) => {
    const { registry, root, service } = await setup(t);
    await registry.upsert(makeRecord("c3"));
    await registry.retire("c3");
    writeLeaseFile(root, "a1", leaseOf("a1"));
    writeLeaseFile(root, "c3", leaseOf("c3", { block_id: "trash-pane" }));
    writeLeaseFile(root, "zz", leaseOf("zz", { renewed_at_ms: Date.now() - 20_000 }));
    const token = service.loadOrCreateToken();
    const app = buildHttp({ service, token, port: () => 47996 });
    t.after(() => app.close());
    const get = async (url: string, schema: string) => {
      const response = await app.inject({
        method: "GET",
        url,
        headers: { host: "127.0.0.1:47996", authorization: `Bearer ${token}` },
      });
      assert.equal(response.statusCode, 200, response.body);
      const json = response.json();
      const validate = schemaNamed(schema);
      assert.ok(validate?.(json), `${url}: ${JSON.stringify(validate?.errors)}`);
      return json;
    };
    const list = (await get("/api/agents", "AgentList")) as { agents: Agent[] };
    const byId = new Map(list.agents.map((a) => [a.instance_id, a.in_use]));
    assert.equal(byId.get("a1")?.holder?.block_id, "pane-7");
    assert.equal(byId.get("b2"), null);
    const one = (await get("/api/agents/a1", "AgentLookup")) as { agent: Agent };
    assert.equal(one.agent.in_use?.holder?.pid, process.pid);
    const trash = (await get("/api/trash", "AgentList")) as { agents: Agent[] };
    assert.equal(trash.agents[0]?.in_use?.holder?.block_id, "trash-pane");

    const live = (await get("/api/leases", "LeaseList")) as { leases: Record<string, unknown>[] };
    assert.deepEqual(
      live.leases.map((l) => [l.instance_id, l.instance_name, l.tree, l.status]),
      [
        ["a1", "name-a1", "active", "live"],
        ["c3", "name-c3", "retired", "live"],
      ],
    );
    assert.equal(live.leases[0]?.epoch, "3");
    assert.equal(live.leases[0]?.file, "leases/a1.lease.json");
    const all = (await get("/api/leases?all=true", "LeaseList")) as {
      leases: Record<string, unknown>[];
    };
    assert.deepEqual(
      all.leases.map((l) => [l.instance_id, l.instance_name, l.status, l.holding]),
      [
        ["a1", "name-a1", "live", true],
        ["c3", "name-c3", "live", true],
        ["zz", null, "expired", false],
      ],
    );
  });
});

describe("continue over HTTP", () => {
  test("409 AGENT_IN_USE naming the holder while another process holds the agent; no launch recorded", async (t) => {
    const { registry, root, service } = await setup(t);
    const launched = (await registry.get("a1"))?.data.last_launched_at_ms;
    writeLeaseFile(root, "a1", leaseOf("a1"));
    const token = service.loadOrCreateToken();
    const app = buildHttp({ service, token, port: () => 47996 });
    t.after(() => app.close());
    const post = () =>
      app.inject({
        method: "POST",
        url: "/api/agents/a1/continue",
        headers: { host: "127.0.0.1:47996", authorization: `Bearer ${token}` },
      });
    const refused = await post();
    assert.equal(refused.statusCode, 409, refused.body);
    const { error } = refused.json() as { error: Record<string, unknown> };
    assert.equal(error.code, "AGENT_IN_USE");
    assert.match(
      String(error.message),
      /"name-a1" \(a1\) is in use by agentmux 0\.34\.1 \(pid \d+ on /,
    );
    assert.ok(schemaNamed("ErrorBody")?.(refused.json()));
    assert.equal((await registry.get("a1"))?.data.last_launched_at_ms, launched);
    writeLeaseFile(root, "a1", leaseOf("a1", { pid: DEAD_PID }));
    assert.equal((await post()).statusCode, 200);
  });
});

describe("doctor and the lease tree", () => {
  test("reports unreadable and long-expired leases and odd entries; never the tree itself", async (t) => {
    const { root, service } = await setup(t);
    writeLeaseFile(root, "a1", leaseOf("a1", { renewed_at_ms: Date.now() - 2 * HOUR }));
    writeLeaseFile(root, "b2", "not a lease\n");
    writeLeaseFile(root, "c3", leaseOf("c3", { renewed_at_ms: Date.now() - 60_000 }));
    writeLeaseFile(root, "d4", leaseOf("d4"));
    fs.mkdirSync(join(root, "leases", "e5.lock"));
    fs.writeFileSync(join(root, "leases", "notes.txt"), "mine");
    const temp = join(root, "leases", ".registry-tmp-Ab12Cd.json");
    fs.writeFileSync(temp, "{");
    age(temp, 10 * 60_000);
    fs.writeFileSync(join(root, "leases", ".tmp-fresh"), "{");

    const report = await service.doctor();
    const found = report.problems.map((p) => [p.kind, p.subject]).sort();
    assert.deepEqual(found, [
      ["lease-expired", "leases/a1.lease.json"],
      ["lease-unreadable", "leases/b2.lease.json"],
      ["odd-entry", "leases/e5.lock"],
      ["odd-entry", "leases/notes.txt"],
      ["stale-file", "leases/.registry-tmp-Ab12Cd.json"],
    ]);
    const expired = report.problems.find((p) => p.kind === "lease-expired");
    assert.match(expired?.message ?? "", /"name-a1" \(a1\)/);
    assert.match(expired?.message ?? "", /agentmux 0\.34\.1/);
    assert.equal(expired?.fix, "agentmux-registry doctor --fix (removes it; it holds nothing)");
    const unreadable = report.problems.find((p) => p.kind === "lease-unreadable");
    assert.match(unreadable?.message ?? "", /nobody can claim the agent/);
    assert.match(
      report.problems.find((p) => p.subject === "leases/e5.lock")?.message ?? "",
      /is a directory/,
    );
    assert.ok(schemaNamed("DoctorReport")?.(report));
  });

  test("a file where the lease tree belongs: listings still answer, doctor says what is wrong", async (t) => {
    const { root, service, inUseOf } = await setup(t);
    fs.writeFileSync(join(root, "leases"), "not a directory");
    assert.equal(await inUseOf("a1"), null);
    assert.equal((await service.getAgent("a1")).inUse, null);
    const report = await service.doctor({ fix: true });
    assert.deepEqual(
      report.problems.map((p) => [p.kind, p.subject]),
      [["odd-entry", "leases"]],
    );
    assert.deepEqual(report.fixed, []);
    assert.equal(fs.readFileSync(join(root, "leases"), "utf8"), "not a directory");
  });

  test("--fix removes only long-expired lease files, never locks, epochs or anything else", async (t) => {
    const { root, service } = await setup(t);
    writeLeaseFile(root, "a1", leaseOf("a1", { renewed_at_ms: Date.now() - 2 * HOUR }));
    writeLeaseFile(root, "zz", leaseOf("zz", { renewed_at_ms: Date.now() - 3 * HOUR }));
    const torn = writeLeaseFile(root, "b2", "not a lease\n");
    age(torn, 2 * HOUR);
    writeLeaseFile(root, "c3", leaseOf("c3", { renewed_at_ms: Date.now() - 60_000 }));
    writeLeaseFile(root, "d4", leaseOf("d4"));
    fs.writeFileSync(join(root, "leases", "notes.txt"), "mine");
    const before = fs.readdirSync(join(root, "leases")).sort();

    const report = await service.doctor({ fix: true });
    assert.deepEqual(report.fixed.sort(), ["leases/a1.lease.json", "leases/zz.lease.json"]);
    const after = fs.readdirSync(join(root, "leases")).sort();
    assert.deepEqual(
      after,
      before.filter((name) => name !== "a1.lease.json" && name !== "zz.lease.json"),
    );
    assert.ok(!report.problems.some((p) => p.kind === "lease-expired"));
    assert.equal((await service.doctor({ fix: true })).fixed.length, 0, "idempotent");
  });

  test("the repair re-judges under the lease's lock: a lease renewed meanwhile stays", async (t) => {
    const { root } = await tempRegistry(t);
    const path = writeLeaseFile(root, "a1", leaseOf("a1"));
    const repair = new LeaseStore(root, { bootId: "doctor" });
    assert.equal(await repair.removeExpired("a1", HOUR), false);
    assert.ok(fs.existsSync(path));
    writeLeaseFile(root, "a1", leaseOf("a1", { renewed_at_ms: Date.now() - 2 * HOUR }));
    // Another process holds the agent's critical section: the repair waits for it.
    const other = new LeaseStore(root, { bootId: "other" });
    await Promise.all([other.claim("a1", "pane"), repair.removeExpired("a1", HOUR)]);
    // Whichever ran first, the claim is never undone: its lease file is there at the end.
    assert.match(fs.readFileSync(path, "utf8"), /"owner_boot_id": "other"/);
    assert.ok(fs.existsSync(join(root, "leases", "a1.lock")));
    assert.ok(fs.existsSync(join(root, "leases", "a1.epoch")));
  });
});
