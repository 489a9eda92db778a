/**
 * The live index and the service's own writes: each reaches subscribers by the time the call
 * returns (applied to the index at once, no listing), and answers read the index — including the
 * refusals a cold read gives (an invalid active file is `INVALID_FILE` for `getAgent`).
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ChangeEvent } from "../../src/api.js";
import { RegistryError, RegistryService } from "../../src/index.js";
import { makeRecord, tempRegistry } from "../helpers.js";

async function liveService(t: Parameters<typeof tempRegistry>[0]) {
  const { registry, root } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  const service = new RegistryService(registry, {
    version: "1.0.0",
    live: true,
    feed: { report: () => {} },
  });
  t.after(() => service.close());
  return { service, registry, root };
}

test("own writes reach subscribers before the call returns, each as one event", async (t) => {
  const { service } = await liveService(t);
  const seen: ChangeEvent[] = [];
  const { snapshot, unsubscribe } = await service.subscribe((changes) => seen.push(...changes));
  t.after(unsubscribe);
  assert.deepEqual(snapshot.active, []);
  const kinds = () => seen.splice(0).map((c) => c.type);

  const { record } = await service.createAgent({ name: "one", definitionId: "claude-code" });
  const id = record.data.instance_id;
  assert.deepEqual(kinds(), ["created"]);
  await service.renameAgent(id, "uno");
  assert.deepEqual(kinds(), ["updated"]);
  assert.equal((await service.getAgent(id)).record.data.instance_name, "uno");
  await service.forgetAgent(id);
  assert.deepEqual(kinds(), ["retired"]);
  assert.deepEqual(
    (await service.listRetired()).map((r) => r.data.instance_id),
    [id],
  );
  assert.equal((await service.getAgent(id)).retired, true);
  await service.restoreAgent(id);
  assert.deepEqual(kinds(), ["restored"]);
  await service.deleteAgent(id);
  assert.deepEqual(kinds(), ["deleted"]);
  // The verification that follows finds nothing new: no event is repeated.
  await service.listNamedAgents();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(kinds(), []);
});

test("answers from the index agree with a cold read, refusals included", async (t) => {
  const { service, registry, root } = await liveService(t);
  await registry.upsert(makeRecord("a1"));
  await registry.upsert(makeRecord("b2"));
  fs.writeFileSync(join(root, "c3.json"), "{ not json");
  assert.deepEqual((await service.listNamedAgents()).map((r) => r.data.instance_id).sort(), [
    "a1",
    "b2",
  ]);
  assert.equal(service.skippedCount, 1);
  await assert.rejects(
    service.getAgent("c3"),
    (error) => error instanceof RegistryError && error.code === "INVALID_FILE",
  );
  await assert.rejects(
    service.getAgent("zz"),
    (error) => error instanceof RegistryError && error.code === "AGENT_NOT_FOUND",
  );
  const report = await service.doctor();
  assert.equal(report.active, 2);
  assert.ok(report.problems.some((p) => p.kind === "skipped-file" && p.subject === "c3.json"));
  const body = JSON.parse(await service.listNamedAgentsBody({ limit: 1 }));
  assert.equal(body.agents.length, 1);
});
