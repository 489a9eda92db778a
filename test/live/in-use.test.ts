/**
 * The live index carries leases: a claim, a release, an expiry and a holder's death each reach a
 * subscriber as an `updated` change of that agent with its new `in_use` — the last two change no
 * file, so the index re-judges leases on a timer. The lease directory is watched once the first
 * claim creates it, after the index started.
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Agent, ChangeEvent } from "../../src/api.js";
import { RegistryService } from "../../src/index.js";
import { LeaseStore } from "../../src/store/lease-store.js";
import { eventually } from "../browser/support.js";
import { makeRecord, tempRegistry } from "../helpers.js";
import { DEAD_PID, leaseOf, writeLeaseFile } from "../in-use-support.js";

const TTL_MS = 400;

async function subscribed(
  t: Parameters<typeof tempRegistry>[0],
  options: { watch?: boolean; renewMs?: number },
) {
  const { registry, root } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  await registry.upsert(makeRecord("a1"));
  await registry.upsert(makeRecord("b2"));
  const service = new RegistryService(registry, {
    version: "1.0.0",
    live: true,
    // Long rescans: only the watcher or the lease timer can deliver what the test waits for.
    feed: { report: () => {}, rescanMs: 60_000, watch: options.watch },
    leases: { ttlMs: TTL_MS, renewMs: options.renewMs ?? 50 },
  });
  t.after(() => service.close());
  const seen: ChangeEvent[] = [];
  const { snapshot, unsubscribe } = await service.subscribe((changes) => seen.push(...changes));
  t.after(unsubscribe);
  /** Waits for the next change and returns what arrived (each an `updated` of one agent). */
  const next = () =>
    eventually(() => {
      assert.ok(seen.length > 0, "a change arrives");
      return seen.splice(0);
    }, 5_000);
  return { root, service, snapshot, next, seen };
}

const inUse = (changes: ChangeEvent[]) =>
  changes.map((c) => [c.type, c.id, c.agent?.in_use?.holder?.block_id ?? null]);

for (const watch of [true, false]) {
  test(`claim, release, expiry and a dead holder reach subscribers (watching: ${watch})`, async (t) => {
    const { root, snapshot, next, seen } = await subscribed(t, { watch });
    assert.ok(snapshot.active.every((agent) => agent.in_use === null));
    assert.equal(fs.existsSync(join(root, "leases")), false, "no lease tree yet");

    const other = new LeaseStore(root, { bootId: "other" });
    const handle = await other.claim("a1", "pane-1");
    assert.deepEqual(inUse(await next()), [["updated", "a1", "pane-1"]]);
    await other.release(handle);
    assert.deepEqual(inUse(await next()), [["updated", "a1", null]]);

    // Never renewed: expired after the TTL, with no file event.
    await other.claim("b2", "pane-2");
    assert.deepEqual(inUse(await next()), [["updated", "b2", "pane-2"]]);
    const expired = await next();
    assert.deepEqual(inUse(expired), [["updated", "b2", null]]);
    assert.equal(expired[0]?.tree, "active");

    // A holder whose pid is gone: let go of at the next look, without any file changing.
    const path = writeLeaseFile(root, "a1", leaseOf("a1", { block_id: "pane-3" }));
    assert.deepEqual(inUse(await next()), [["updated", "a1", "pane-3"]]);
    const text = fs
      .readFileSync(path, "utf8")
      .replace(`"pid": ${process.pid}`, `"pid": ${DEAD_PID}`);
    fs.writeFileSync(path, text);
    assert.deepEqual(inUse(await next()), [["updated", "a1", null]]);

    // Nothing more: re-judging an unchanged lease tree tells nobody anything.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(seen, []);
  });
}

test("the lease directory, created after the index started, is watched", async (t) => {
  // The timer would take a minute: only watching can deliver these in time.
  const { root, next } = await subscribed(t, { watch: true, renewMs: 60_000 });
  const other = new LeaseStore(root, { bootId: "other" });
  const handle = await other.claim("a1", "pane-1");
  assert.deepEqual(inUse(await next()), [["updated", "a1", "pane-1"]]);
  await other.release(handle);
  assert.deepEqual(inUse(await next()), [["updated", "a1", null]]);
  await other.claim("b2", "pane-2");
  assert.deepEqual(inUse(await next()), [["updated", "b2", "pane-2"]]);
});

test("a claim and a release through the service reach subscribers before the call returns", async (t) => {
  // Neither watching nor the timer (a minute) could deliver these in time.
  const { service, seen } = await subscribed(t, { watch: false, renewMs: 60_000 });
  const handle = await service.claimAgent("a1", { blockId: "cli" });
  assert.deepEqual(inUse(seen.splice(0)), [["updated", "a1", "cli"]]);
  assert.equal(await service.releaseAgent(handle), true);
  assert.deepEqual(inUse(seen.splice(0)), [["updated", "a1", null]]);
  assert.equal(await service.releaseAgent(handle), false);
  assert.deepEqual(seen, []);
});

test("a new subscriber's snapshot and the cached list show who holds what", async (t) => {
  const { root, service, next } = await subscribed(t, { watch: true });
  await new LeaseStore(root, { bootId: "other" }).claim("b2", "pane-9");
  await next();
  const { snapshot, unsubscribe } = await service.subscribe(() => {});
  unsubscribe();
  const held = snapshot.active.find((agent) => agent.instance_id === "b2");
  assert.equal(held?.in_use?.holder?.block_id, "pane-9");
  const body = JSON.parse(await service.listNamedAgentsBody()) as { agents: Agent[] };
  assert.deepEqual(
    body.agents.map((agent) => [agent.instance_id, agent.in_use?.holder?.block_id ?? null]),
    [
      ["a1", null],
      ["b2", "pane-9"],
    ],
  );
});
