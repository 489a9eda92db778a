/**
 * Races around a dead holder's lock (SPEC §6), forced deterministically: the registry under test
 * gets an fs that pauses just before its first rename or unlink of the lock path — after it has
 * judged the dead lock stale — until a real child process has taken that lock over and is
 * inside its read-merge-write. Whatever the registry under test does next must not remove the
 * child's live lock, and it must not enter the record's critical section while the child is in
 * it.
 */

import assert from "node:assert/strict";
import * as nodeFs from "node:fs";
import { existsSync, lstatSync, readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { type FsOps, Registry, RegistryError } from "../../src/index.js";
import { makeRecord, tempDir } from "../helpers.js";
import { type Bundle, bundleChild, type Child, Children } from "./support.js";

const ID = "contested";

/** Blocks this thread (the fs calls are synchronous) until `ready()` or `timeoutMs`. */
function blockUntil(ready: () => boolean, timeoutMs: number): boolean {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (ready()) return true;
    Atomics.wait(cell, 0, 0, 5);
  }
  return ready();
}

function lockHolderPid(lockFile: string): number {
  try {
    return Number(readFileSync(lockFile, "utf8").split(" ")[0]);
  } catch {
    return Number.NaN;
  }
}

const inode = (path: string) => {
  try {
    return lstatSync(path).ino;
  } catch {
    return null;
  }
};

/**
 * A registry root holding `ID`, whose lock was left by a SIGKILLed holder, and an fs that, once
 * armed, lets a child ("taker") take that lock over just before the first rename or unlink of it.
 */
async function deadLockRace(t: TestContext, script: string) {
  const children = new Children(t, script); // before tempDir: killed before rm
  const dir = tempDir(t);
  const root = join(dir, "registry");
  const agentsBase = join(dir, "agents");
  const lockFile = join(root, `.lock-${ID}`);
  const race = {
    root,
    agentsBase,
    lockFile,
    armed: false,
    taker: undefined as Child | undefined,
    /** The dead lock's inode, and the inode of the lock the taker created. */
    inodes: { dead: null as number | null, taker: null as number | null },
  };
  const takeOverNow = (path: unknown) => {
    if (!race.armed || String(path) !== lockFile) return;
    race.armed = false;
    race.inodes.dead = inode(lockFile);
    const child = children.spawn("taker", ["hold", root, ID, "sleep"]);
    race.taker = child;
    const tookOver = blockUntil(() => lockHolderPid(lockFile) === child.proc.pid, 10_000);
    assert.ok(tookOver, `the child took the dead lock over; ${child.stderr}`);
    race.inodes.taker = inode(lockFile);
  };
  const fs: FsOps = {
    ...nodeFs,
    unlinkSync(path) {
      takeOverNow(path);
      nodeFs.unlinkSync(path);
    },
    renameSync(from, to) {
      takeOverNow(from);
      nodeFs.renameSync(from, to);
    },
  };

  const setup = await Registry.open(root, { agentsBase });
  await setup.upsert(makeRecord(ID));
  const dead = children.spawn("dead holder", ["hold", root, ID, "sleep"]);
  await dead.waitFor((m) => m.holding === ID);
  dead.kill("SIGKILL");
  await dead.closed;
  assert.ok(existsSync(lockFile), "the killed holder left its lock");
  return { race, fs };
}

/** While the taker holds the lock, another writer must wait (here: time out). */
async function assertTakerExcludes(race: { root: string; agentsBase: string }) {
  const writer = await Registry.open(race.root, {
    agentsBase: race.agentsBase,
    lockTimeoutMs: 300,
  });
  await assert.rejects(
    writer.upsert(makeRecord(ID, { last_launched_at_ms: 7 })),
    (error: unknown) => error instanceof RegistryError && error.code === "LOCK_TIMEOUT",
    "a second writer entered the record's critical section while the child was in it",
  );
}

describe("multi-process: races on a dead holder's lock (SPEC §6)", () => {
  let bundle: Bundle;
  before(async () => {
    bundle = await bundleChild();
  });
  after(() => bundle?.remove());

  test("a waiter that judged a dead lock does not remove the lock another waiter took over", {
    timeout: 30_000,
    // The other waiter unlinked the dead lock and created its own, and ext4 hands the freed
    // inode number straight to the new file: takeOver must compare the token, not only the inode.
  }, async (t) => {
    const { race, fs } = await deadLockRace(t, bundle.file);
    const waiter = await Registry.open(race.root, { agentsBase: race.agentsBase, fs });

    // The waiter finds the dead holder's lock, judges it stale (pid dead) and takes it over.
    race.armed = true;
    const upsert = waiter.upsert(makeRecord(ID, { last_launched_at_ms: 5 }));
    const outcome = await Promise.race([
      upsert,
      new Promise((resolve) => setTimeout(() => resolve("still waiting"), 2_000)),
    ]);
    assert.ok(race.taker, "the waiter took the dead lock over");
    await race.taker.waitFor((m) => m.holding === ID);
    t.diagnostic(
      `dead lock inode ${race.inodes.dead}, the taker's new lock inode ${race.inodes.taker}; ` +
        `the waiter's upsert, while the taker holds the lock: ${JSON.stringify(outcome)}`,
    );
    assert.ok(existsSync(race.lockFile), "the taker's live lock is still there");
    assert.equal(lockHolderPid(race.lockFile), race.taker.proc.pid);
    assert.equal(outcome, "still waiting", "the waiter wrote while the taker held the lock");
    await assertTakerExcludes(race);
    race.taker.kill("SIGKILL");
    await upsert.catch(() => {});
  });

  test("a sweep racing a takeover of a dead lock does not remove the new holder's lock", {
    timeout: 30_000,
    // A sweep that judged a lock (age, holder) must not unlink it by path: a lock taken over in
    // between would be the one to go.
  }, async (t) => {
    const { race, fs } = await deadLockRace(t, bundle.file);
    const sweeper = await Registry.open(race.root, { agentsBase: race.agentsBase, fs });
    // The dead holder's lock is 10 minutes old: older than the 5-minute sweep age.
    const longAgo = new Date(Date.now() - 10 * 60_000);
    utimesSync(race.lockFile, longAgo, longAgo);

    race.armed = true;
    const swept = sweeper.sweep();
    assert.ok(race.taker, "the sweep reached the dead lock");
    await race.taker.waitFor((m) => m.holding === ID);
    t.diagnostic(
      `sweep removed ${JSON.stringify(swept.removed)}; dead lock inode ${race.inodes.dead}, ` +
        `the taker's new lock inode ${race.inodes.taker}`,
    );
    assert.ok(existsSync(race.lockFile), "the taker's live lock is still there after the sweep");
    await assertTakerExcludes(race);
  });
});
