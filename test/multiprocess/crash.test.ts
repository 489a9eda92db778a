/**
 * Crash safety across processes (SPEC §5 atomic replace, §6 stale-lock recovery): writers killed
 * with SIGKILL at random moments never leave a torn or invalid record, never lose a write they
 * acknowledged, and leave only temp/lock files that the sweep removes; a lock whose holder was
 * killed, or stopped refreshing it, does not block the next writer.
 *
 * `CRASH_KILLS=N` raises the number of kills for longer local runs (default 200);
 * `MP_SEED=N` replays a run (the seed is printed as a diagnostic).
 */

import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type NamedAgentRecord, Registry } from "../../src/index.js";
import { makeRecord, tempDir } from "../helpers.js";
import { between, prng } from "./prng.js";
import {
  assertCleanExit,
  type Bundle,
  bundleChild,
  type Child,
  Children,
  jsonStems,
  runSeed,
  sleep,
  transientNames,
} from "./support.js";

const KILLS = Math.max(1, Number(process.env.CRASH_KILLS) || 200);
/** Children running (and killed) at a time. */
const PARALLEL = 3;

describe("multi-process: crashes (SPEC §5, §6)", () => {
  let bundle: Bundle;
  before(async () => {
    bundle = await bundleChild();
  });
  after(() => bundle?.remove());

  test(`${KILLS} SIGKILLs at random moments: every file valid, every acknowledged write kept`, {
    timeout: Math.max(120_000, KILLS * 1_000),
  }, async (t) => {
    const seed = runSeed();
    t.diagnostic(`seed ${seed} (MP_SEED=${seed} replays the kill delays and child seeds)`);
    const random = prng(seed);
    const children = new Children(t, bundle.file); // before tempDir: killed before rm
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const retiredDir = join(root, "retired");
    const agentsBase = join(dir, "agents");
    await Registry.open(root, { agentsBase });

    /** Ids whose upsert was acknowledged, and the markers whose update was. */
    const acked = new Set<string>();
    const markers = new Map<string, Set<string>>();
    const stats = { kills: 0, batches: 0, sweptLocks: 0, sweptTemps: 0, inBothTrees: 0 };
    const startupMs: number[] = [];
    const started = performance.now();

    while (stats.kills < KILLS) {
      stats.batches++;
      const batch = Array.from({ length: Math.min(PARALLEL, KILLS - stats.kills) }, () => {
        const childSeed = between(random, 1, 2 ** 31 - 1);
        return {
          child: children.spawn(`crash child ${children.count} (seed ${childSeed})`, [
            "crash",
            root,
            String(childSeed),
          ]),
          delay: between(random, 20, 150),
          spawned: performance.now(),
        };
      });
      await Promise.all(
        batch.map(async ({ child, delay, spawned }) => {
          await child.waitFor((m) => m.ready === true);
          startupMs.push(performance.now() - spawned);
          await sleep(delay);
          child.kill("SIGKILL");
          const exit = await child.closed;
          // A child that stopped on its own hit an error: that is a failure, not a crash.
          assert.deepEqual(exit, { code: null, signal: "SIGKILL" }, explain(child));
        }),
      );
      stats.kills += batch.length;
      for (const { child } of batch) collectAcks(child, acked, markers);

      // No child runs now: the trees must be consistent as they are.
      const registry = await Registry.open(root, { agentsBase });
      const scan = await registry.scan();
      assert.deepEqual(scan.skipped, [], `after ${stats.kills} kills`);
      // Every *.json name is a valid record (nothing hidden from the scan either).
      assert.deepEqual(ids(scan.active), jsonStems(root));
      assert.deepEqual(ids(scan.retired), jsonStems(retiredDir));
      const present = new Map<string, Set<string>>();
      for (const record of [...scan.active, ...scan.retired]) {
        const tags = present.get(record.data.instance_id) ?? new Set<string>();
        for (const tag of (record.data.tags as string[] | undefined) ?? []) tags.add(tag);
        present.set(record.data.instance_id, tags);
      }
      const missing = [...acked].filter((id) => !present.has(id));
      assert.deepEqual(missing, [], `acknowledged ids missing after ${stats.kills} kills`);
      for (const [id, tags] of markers) {
        const lost = [...tags].filter((tag) => !present.get(id)?.has(tag));
        assert.deepEqual(lost, [], `acknowledged markers of ${id} lost after ${stats.kills} kills`);
      }
      const activeIds = new Set(ids(scan.active));
      // A kill between the link and the unlink of an unretire leaves one file under both names
      // (valid, nothing lost; but see the TODO test below). Counted, not an error here.
      stats.inBothTrees += ids(scan.retired).filter((id) => activeIds.has(id)).length;

      // Every other batch leaves the dead holders' locks for the next children to take over;
      // the others (and the last) sweep: every leftover is removable once its writer is dead.
      if (stats.batches % 2 === 0 || stats.kills >= KILLS) {
        const { removed } = registry.sweep(0);
        stats.sweptLocks += removed.filter((path) => path.startsWith(".lock-")).length;
        stats.sweptTemps += removed.filter((path) => !path.startsWith(".lock-")).length;
        assert.deepEqual(transientNames(root, retiredDir), [], "left after sweep(0)");
      }
    }

    const elapsed = performance.now() - started;
    startupMs.sort((a, b) => a - b);
    const markerCount = [...markers.values()].reduce((sum, tags) => sum + tags.size, 0);
    t.diagnostic(
      `${stats.kills} kills in ${stats.batches} batches, ${(elapsed / 1000).toFixed(1)} s; ` +
        `${acked.size} ids and ${markerCount} markers acknowledged; ` +
        `swept ${stats.sweptLocks} lock and ${stats.sweptTemps} temp files; ` +
        `id in both trees ${stats.inBothTrees}×; child startup median ` +
        `${startupMs[startupMs.length >> 1]?.toFixed(0)} ms`,
    );
    assert.ok(acked.size > 0, "the children acknowledged writes before they were killed");
  });

  test("a lock left by a SIGKILLed holder does not block the next writer", {
    timeout: 30_000,
  }, async (t) => {
    const children = new Children(t, bundle.file);
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root, { agentsBase: join(dir, "agents") });
    await registry.upsert(makeRecord("held"));

    const holder = children.spawn("holder", ["hold", root, "held", "sleep"]);
    const holding = await holder.waitFor((m) => m.holding === "held");
    const lockFile = join(root, ".lock-held");
    assert.match(readFileSync(lockFile, "utf8"), new RegExp(`^${holding.pid} `));
    holder.kill("SIGKILL");
    assert.deepEqual(await holder.closed, { code: null, signal: "SIGKILL" });
    // The dead holder's lock is still there (a link to its holder file, there too)…
    const [holderFile] = transientNames(root).filter((path) => path !== lockFile);
    assert.deepEqual(transientNames(root), [lockFile, holderFile]);
    assert.equal(statSync(lockFile).ino, statSync(holderFile as string).ino);

    // …and a writer with default settings takes it over at once (the holder pid is dead).
    const started = performance.now();
    const outcome = await registry.upsert(makeRecord("held", { last_launched_at_ms: 42 }));
    const elapsed = performance.now() - started;
    t.diagnostic(`upsert past the dead holder's lock took ${elapsed.toFixed(0)} ms`);
    assert.deepEqual(outcome, { status: "updated" });
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`);
    assert.equal((await registry.get("held"))?.data.last_launched_at_ms, 42);
    // The dead process's holder file is the sweep's to remove.
    assert.deepEqual(transientNames(root, join(root, "retired")), [holderFile]);
    assert.deepEqual(registry.sweep(0).removed, [basename(holderFile as string)]);
    assert.deepEqual(transientNames(root, join(root, "retired")), []);
  });

  test("a holder that stopped refreshing its lock (SIGSTOP) is taken over after lockStaleMs; " +
    "its late write, once resumed, merges instead of overwriting", {
    timeout: 30_000,
  }, async (t) => {
    const staleMs = 600;
    const children = new Children(t, bundle.file);
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root, {
      agentsBase: join(dir, "agents"),
      lockStaleMs: staleMs,
    });
    await registry.upsert(makeRecord("frozen"));

    const holder = children.spawn("holder", [
      "hold",
      root,
      "frozen",
      "stdin",
      String(staleMs),
      "from-the-frozen-holder",
    ]);
    t.after(() => holder.kill("SIGCONT"));
    await holder.waitFor((m) => m.holding === "frozen");
    holder.kill("SIGSTOP");

    const started = performance.now();
    const outcome = await registry.update("frozen", (r) => ({
      ...r,
      data: { ...r.data, last_launched_at_ms: 42, tags: ["from-the-parent"] },
    }));
    const elapsed = performance.now() - started;
    t.diagnostic(`update past a frozen holder took ${elapsed.toFixed(0)} ms (stale ${staleMs})`);
    assert.deepEqual(outcome, { status: "updated" });
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`);

    // The holder wakes up still believing it holds the lock: its write finds the file changed
    // since it read it, re-reads, re-applies its change, and both changes survive.
    holder.kill("SIGCONT");
    holder.send("go");
    const exit = await holder.closed;
    assertCleanExit(holder, exit);
    const released = holder.messages.find((m) => m.released === "frozen");
    assert.deepEqual(released?.outcome, { status: "updated" });
    assert.equal(released?.calls, 2, "the change ran again on the re-read record");
    const record = await registry.get("frozen");
    assert.equal(record?.data.last_launched_at_ms, 42);
    assert.deepEqual(record?.data.tags, ["from-the-parent", "from-the-frozen-holder"]);
    assert.deepEqual(transientNames(root, join(root, "retired")), []);
  });
  test("a crash at each file-system call of a mutation leaves the old or the new state, " +
    "and the next writer recovers", { timeout: 120_000 }, async (t) => {
    const children = new Children(t, bundle.file);
    const dir = tempDir(t);
    const fresh = async (name: string) => {
      const root = join(dir, name, "registry");
      const registry = await Registry.open(root, { agentsBase: join(dir, "agents") });
      return { root, registry };
    };
    const report: string[] = [];
    await Promise.all(
      CRASH_CASES.map(async (crashCase, caseIndex) => {
        const { name, op } = crashCase;
        // A run to the end: how many fs calls the operation makes, and the state it leaves.
        const full = await fresh(`case${caseIndex}-full`);
        await crashCase.prepare(full.registry, full.root);
        const before = snapshot(full.root);
        const finisher = children.spawn(`${name} (no crash)`, [
          "crash-at",
          full.root,
          op,
          VICTIM,
          "*",
          "0",
        ]);
        assertCleanExit(finisher, await finisher.closed);
        const calls = Number(finisher.messages.find((m) => m.done === true)?.calls);
        assert.ok(calls > 0, `${name}: ${JSON.stringify(finisher.messages)}`);
        const afterState = snapshot(full.root);
        assert.notEqual(afterState, before, `${name} changes something`);
        // An unretire killed between its link and its unlink leaves the file in both trees.
        const retiredBefore = (JSON.parse(before) as { retired: string | null }).retired;
        const halfMoved = JSON.stringify({ active: retiredBefore, retired: retiredBefore });
        // A hard delete of both trees is one unlink per tree: killed between, one is gone.
        const halfDeleted = JSON.stringify({ active: null, retired: retiredBefore });

        const seen = { before: 0, after: 0, halfMoved: 0, halfDeleted: 0, emptyLock: 0 };
        let slowestRecovery = 0;
        for (let k = 1; k <= calls; k++) {
          const { root, registry } = await fresh(`case${caseIndex}-k${k}`);
          await crashCase.prepare(registry, root);
          const child = children.spawn(`${name} killed at fs call ${k}`, [
            "crash-at",
            root,
            op,
            VICTIM,
            "*",
            String(k),
          ]);
          const exit = await child.closed;
          const crashing = child.messages.find((m) => m.crashing === k);
          assert.ok(crashing, `${child.label}: ${JSON.stringify(child.messages)} ${child.stderr}`);
          assert.deepEqual(exit, { code: null, signal: "SIGKILL" }, child.label);
          const where = `${child.label} (${crashing.call} ${crashing.path})`;

          const state = snapshot(root);
          const kind =
            state === before
              ? "before"
              : state === afterState
                ? "after"
                : op === "unretire" && state === halfMoved
                  ? "halfMoved"
                  : op === "hardDelete" && state === halfDeleted
                    ? "halfDeleted"
                    : null;
          assert.ok(kind, `${where}: neither the old nor the new state: ${state}`);
          seen[kind]++;
          const opened = await Registry.open(root, { agentsBase: join(dir, "agents") });
          assert.deepEqual((await opened.scan()).skipped, [], where);

          // The next writer (default settings) is not blocked by the dead writer's lock: it
          // takes it over at once — except a lock killed before its first byte was written,
          // whose holder is unknown: that one is judged by its age (lockStaleMs, 5 s).
          const lockFile = join(root, `.lock-${VICTIM}`);
          const emptyLock = existsSync(lockFile) && statSync(lockFile).size === 0;
          const started = performance.now();
          const outcome = await runOp(opened, op);
          const elapsed = performance.now() - started;
          if (emptyLock) {
            seen.emptyLock++;
            assert.ok(elapsed < 5_000 + 3_000, `${where}: recovery took ${elapsed} ms`);
          } else {
            slowestRecovery = Math.max(slowestRecovery, elapsed);
            assert.ok(elapsed < 2_000, `${where}: recovery took ${elapsed} ms`);
          }
          if (kind === "halfMoved") {
            // Both names are one file: SPEC §5 has unretire leave both and say so; finishing the
            // interrupted move (dropping the tombstone name) would be fine too.
            const finished = JSON.stringify(outcome) === JSON.stringify({ moved: true });
            if (finished) assert.equal(snapshot(root), afterState, where);
            else assert.deepEqual(outcome, { moved: false, reason: "active-exists" }, where);
          } else if (kind === "before" || op !== "update") {
            assert.equal(
              snapshot(root),
              afterState,
              `${where}: recovery → ${JSON.stringify(outcome)}`,
            );
          }
          opened.sweep(0);
          assert.deepEqual(transientNames(root, join(root, "retired")), [], where);
        }
        report.push(
          `${name}: ${calls} fs calls; killed before → ${seen.before} old state, ` +
            `${seen.after} new state, ${seen.halfMoved} in both trees, ` +
            `${seen.halfDeleted} deleted from one tree; ` +
            `slowest recovery past a dead holder's lock ${slowestRecovery.toFixed(0)} ms, ` +
            `${seen.emptyLock} empty lock(s) waited out`,
        );
      }),
    );
    for (const line of report.sort()) t.diagnostic(line);
  });
  test("after a crash between unretire's link and unlink, retire still retires the record", {
    timeout: 30_000,
    // rename(2) between two hard links of one file does nothing and succeeds: move() must see
    // the two names of one file and drop the source name instead.
  }, async (t) => {
    const children = new Children(t, bundle.file);
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root, { agentsBase: join(dir, "agents") });
    await registry.upsert(makeRecord(VICTIM));
    await registry.retire(VICTIM);
    const active = join(root, `${VICTIM}.json`);
    const tombstone = join(root, "retired", `${VICTIM}.json`);

    // unretire = link(retired → active), then unlink(retired): kill it between the two.
    const child = children.spawn("unretire killed before its unlink", [
      "crash-at",
      root,
      "unretire",
      VICTIM,
      "unlinkSync",
      "1",
    ]);
    assert.deepEqual(await child.closed, { code: null, signal: "SIGKILL" });
    assert.equal(child.messages.find((m) => m.crashing === 1)?.path, tombstone);
    assert.equal(statSync(active).ino, statSync(tombstone).ino, "one file, two names");

    // forgetAgent / retire must really retire it.
    const outcome = await registry.retire(VICTIM);
    assert.deepEqual(outcome, { moved: true });
    assert.equal(existsSync(active), false, "retire said moved, yet the record is still active");
    assert.equal(await registry.get(VICTIM), null);
    assert.deepEqual(
      (await registry.listRetired()).map((r) => r.data.instance_id),
      [VICTIM],
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Crashes at exact points

const VICTIM = "victim";

type CrashOp = "upsert" | "update" | "retire" | "unretire" | "hardDelete";

interface CrashCase {
  name: string;
  op: CrashOp;
  /** Puts the record in the state the operation starts from. */
  prepare(registry: Registry, root: string): Promise<void>;
}

/** A valid active file for VICTIM beside a tombstone of it, as another process's writer makes. */
async function activeOverTombstone(registry: Registry, root: string): Promise<void> {
  await registry.upsert(makeRecord(VICTIM, { instance_name: "the tombstone" }));
  await registry.retire(VICTIM);
  const side = await Registry.open(join(root, "..", "side"), { agentsBase: registry.agentsBase });
  await side.upsert(makeRecord(VICTIM, { instance_name: "the active one" }));
  copyFileSync(join(side.root, `${VICTIM}.json`), join(root, `${VICTIM}.json`));
}

const withKeptTag = async (registry: Registry) => {
  await registry.upsert(makeRecord(VICTIM));
  await registry.update(VICTIM, (r) => ({ ...r, data: { ...r.data, tags: ["kept"] } }));
};

const CRASH_CASES: CrashCase[] = [
  { name: "upsert creating", op: "upsert", prepare: async () => {} },
  { name: "upsert merging", op: "upsert", prepare: withKeptTag },
  { name: "update", op: "update", prepare: withKeptTag },
  { name: "retire", op: "retire", prepare: withKeptTag },
  { name: "retire over a tombstone", op: "retire", prepare: activeOverTombstone },
  {
    name: "unretire",
    op: "unretire",
    prepare: async (registry) => {
      await withKeptTag(registry);
      await registry.retire(VICTIM);
    },
  },
  { name: "hardDelete of both trees", op: "hardDelete", prepare: activeOverTombstone },
];

/** The bytes of VICTIM in both trees (null when absent), as one comparable string. */
function snapshot(root: string): string {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : null);
  return JSON.stringify({
    active: read(join(root, `${VICTIM}.json`)),
    retired: read(join(root, "retired", `${VICTIM}.json`)),
  });
}

async function runOp(registry: Registry, op: CrashOp): Promise<unknown> {
  switch (op) {
    case "upsert":
      return registry.upsert(makeRecord(VICTIM, { last_launched_at_ms: 99 }));
    case "update":
      return registry.update(VICTIM, (r) => ({
        ...r,
        data: { ...r.data, tags: [...((r.data.tags as string[]) ?? []), "crash-at"] },
      }));
    case "retire":
      return registry.retire(VICTIM);
    case "unretire":
      return registry.unretire(VICTIM);
    case "hardDelete":
      return registry.hardDelete(VICTIM);
  }
}

function collectAcks(child: Child, acked: Set<string>, markers: Map<string, Set<string>>): void {
  for (const message of child.messages) {
    if (typeof message.ack === "string") acked.add(message.ack);
    if (typeof message.marker === "string" && typeof message.tag === "string") {
      const tags = markers.get(message.marker) ?? new Set<string>();
      tags.add(message.tag);
      markers.set(message.marker, tags);
    }
  }
}

const ids = (records: NamedAgentRecord[]) => records.map((r) => r.data.instance_id).sort();

function explain(child: Child): string {
  const last = child.messages.slice(-3).map((m) => JSON.stringify(m));
  return `${child.label}: last messages ${last.join(" ")}; stderr: ${child.stderr.slice(-2000)}`;
}
