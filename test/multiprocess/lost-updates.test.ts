/**
 * SPEC §6: the read-merge-write of one record is locked across processes, so a field added by a
 * newer version can never be lost to a concurrent older writer (the hole in the original, §14).
 *
 * Four processes hammer ONE record: two "newer versions" append a marker to `data.tags` (a field
 * the older version does not know) with `update`, two "older versions" `upsert` the known fields
 * only with a new `last_launched_at_ms`. Every marker must survive exactly once.
 *
 * Measured by hand on 2 cores (scratch copies outside the repo, same 4 × 200 scenario, ext4):
 * - a naive read-merge-write without any lock (JSON.parse, append, write a temp file, fsync,
 *   renameSync) lost 270–318 of the 400 markers (5 runs; ~282 without the fsync);
 * - this library with the lock file taken out — only its pre-rename identity check left —
 *   still lost 23–56 acknowledged markers per run (13 runs), besides 22–40 operations failing
 *   with CONFLICT (27–69 lost without the temp-file fsync, 3 runs). The check narrows the race to
 *   the gap between the check and the rename, still wide enough under contention; only the lock
 *   closes it.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Registry } from "../../src/index.js";
import { makeRecord, tempDir } from "../helpers.js";
import {
  assertCleanExit,
  type Bundle,
  bundleChild,
  Children,
  jsonStems,
  transientNames,
} from "./support.js";

const ID = "shared-agent";
const ROUNDS = 200;
/** [role, name] of each process; index i stamps `last_launched_at_ms` = 1.8e12 + i·1e5 + round. */
const PROCESSES = [
  ["newer", "new0"],
  ["older", "old1"],
  ["newer", "new2"],
  ["older", "old3"],
] as const;

describe("multi-process: no lost updates on one record (SPEC §6)", () => {
  let bundle: Bundle;
  before(async () => {
    bundle = await bundleChild();
  });
  after(() => bundle?.remove());

  test(`2 newer-version updaters and 2 older-version upserters × ${ROUNDS} rounds lose no marker`, {
    timeout: 120_000,
  }, async (t) => {
    const children = new Children(t, bundle.file); // before tempDir: killed before rm
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root, { agentsBase: join(dir, "agents") });
    assert.deepEqual(await registry.upsert(makeRecord(ID)), { status: "created" });

    const spawned = performance.now();
    const kids = PROCESSES.map(([role, name], index) =>
      children.spawn(name, ["lost-updates", root, ID, role, name, String(index), String(ROUNDS)]),
    );
    await Promise.all(kids.map((kid) => kid.waitFor((m) => m.ready === true)));
    const startupMs = performance.now() - spawned;
    const started = performance.now();
    for (const kid of kids) kid.send("go");
    const exits = await Promise.all(kids.map((kid) => kid.closed));
    t.diagnostic(
      `bundle ${bundle.buildMs.toFixed(0)} ms; 4 children ready after ${startupMs.toFixed(0)} ms; ` +
        `${4 * ROUNDS} writes in ${(performance.now() - started).toFixed(0)} ms`,
    );

    kids.forEach((kid, index) => {
      assertCleanExit(kid, exits[index] ?? { code: null, signal: null });
      const done = kid.messages.find((m) => m.done === true);
      // Every round wrote: a marker is always new, and so is every older timestamp.
      assert.deepEqual(done?.outcomes, { updated: ROUNDS }, `${kid.label}: ${kid.stderr}`);
    });

    const record = await registry.get(ID);
    assert.ok(record);
    const tags: unknown = record.data.tags;
    assert.ok(Array.isArray(tags), "data.tags is still an array");
    const expected = PROCESSES.filter(([role]) => role === "newer").flatMap(([, name]) =>
      Array.from({ length: ROUNDS }, (_, round) => `${name}-${round}`),
    );
    const counts = new Map<unknown, number>();
    for (const tag of tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    const lost = expected.filter((tag) => !counts.has(tag));
    const doubled = [...counts].filter(([, count]) => count > 1).map(([tag]) => tag);
    assert.deepEqual(lost, [], `${lost.length} of ${expected.length} markers were lost`);
    assert.deepEqual(doubled, [], "markers present more than once");
    assert.equal(tags.length, expected.length);
    // Each process's own markers stay in the order it appended them.
    for (const [role, name] of PROCESSES) {
      if (role !== "newer") continue;
      const own: unknown[] = tags.filter(
        (tag: unknown) => typeof tag === "string" && tag.startsWith(`${name}-`),
      );
      assert.deepEqual(
        own,
        Array.from({ length: ROUNDS }, (_, round) => `${name}-${round}`),
      );
    }
    // The last older write overall is the last round of one of the older processes.
    const lastRounds = PROCESSES.flatMap(([role], index) =>
      role === "older" ? [1_800_000_000_000 + index * 100_000 + ROUNDS - 1] : [],
    );
    assert.ok(
      lastRounds.includes(record.data.last_launched_at_ms),
      `last_launched_at_ms ${record.data.last_launched_at_ms} is an older writer's last round`,
    );

    const scan = await registry.scan();
    assert.deepEqual(scan.skipped, []);
    assert.deepEqual(
      scan.active.map((r) => r.data.instance_id),
      [ID],
    );
    assert.deepEqual(scan.retired, []);
    assert.deepEqual(jsonStems(root), [ID]);
    // Children that finished normally leave nothing behind, without any sweep.
    assert.deepEqual(transientNames(root, join(root, "retired")), []);
  });
});
