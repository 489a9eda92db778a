/**
 * Leases across real processes (SPEC §15): every claimant is its own child process with its own
 * `LeaseStore`, hence its own boot id and pid (lease-child.ts, bundled once with esbuild so a
 * child starts in well under a second). The parent drives them through stdin/stdout and judges
 * by events and by the files, never by how long something took — except where the TTL itself is
 * the rule under test, and there by the stores' own clock readings.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as nodeFs from "node:fs";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { build } from "esbuild";
import { RegistryError } from "../../src/core/errors.js";
import { LEASE_TTL_MS } from "../../src/core/lease.js";
import type { FsOps } from "../../src/io/fs.js";
import { LeaseStore } from "../../src/store/lease-store.js";
import { tempDir } from "../helpers.js";
import { type Child, Children, type Message, sleep } from "./support.js";

const REPO = join(import.meta.dirname, "..", "..");
const ID = "contested";
const RACERS = 8;
const ROUNDS = 100;
/** The short TTL of the SIGSTOP cases: long enough that the first refusals come well inside it. */
const SHORT_TTL_MS = 800;

interface ErrorInfo {
  name: string;
  code?: string;
  message: string;
  data?: { id?: string; lost?: boolean; age_ms?: number; holder?: HolderData | null };
}

interface HolderData {
  owner_boot_id: string;
  block_id: string;
  pid: number;
  epoch: string;
}

interface Reply extends Message {
  seq: number;
  ok: boolean;
  pid: number;
  /** The store's first clock reading of the command: the time its decision was taken on. */
  decisionNow?: number;
  error?: ErrorInfo;
  epoch?: string;
  released?: boolean;
  holder?: { lease: HolderData | null; ageMs: number } | null;
}

/** One claimant process, driven by numbered commands. */
class Peer {
  private seq = 0;

  private constructor(
    readonly child: Child,
    readonly bootId: string,
    /** The process that holds (and renews) the lease: for a `nest` peer, the grandchild. */
    readonly pid: number,
  ) {}

  static async start(children: Children, label: string, args: string[]): Promise<Peer> {
    const child = children.spawn(label, args);
    const ready = await child.waitFor((m) => m.ready === true);
    return new Peer(child, String(ready.bootId), Number(ready.pid));
  }

  async call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const seq = ++this.seq;
    this.child.send(JSON.stringify({ seq, op, ...args }));
    return (await this.child.waitFor((m) => m.seq === seq)) as Reply;
  }

  async claim(key: string, opts?: Record<string, unknown>, id = ID): Promise<Reply> {
    return this.call("claim", { key, id, block: key, opts });
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const leasesDir = (root: string) => join(root, "leases");
const leaseFile = (root: string, id = ID) => join(leasesDir(root), `${id}.lease.json`);
const lockFile = (root: string, id = ID) => join(leasesDir(root), `${id}.lock`);
const epochFile = (root: string, id = ID) => join(leasesDir(root), `${id}.epoch`);

function wonEpoch(reply: Reply, what: string): bigint {
  assert.equal(reply.ok, true, `${what}: the claim failed: ${JSON.stringify(reply.error)}`);
  assert.match(String(reply.epoch), /^[0-9]+$/, what);
  return BigInt(String(reply.epoch));
}

/** A refusal naming `holder`: AGENT_IN_USE, with the holder's boot id and pid — nothing else. */
function assertInUse(reply: Reply, holder: Peer, what: string, id = ID): ErrorInfo {
  assert.equal(reply.ok, false, `${what}: the claim succeeded while ${holder.pid} held ${id}`);
  const error = reply.error;
  assert.ok(error, what);
  assert.equal(error.name, "RegistryError", `${what}: ${JSON.stringify(error)}`);
  assert.equal(error.code, "AGENT_IN_USE", `${what}: ${JSON.stringify(error)}`);
  assert.equal(error.data?.id, id, what);
  assert.equal(error.data?.holder?.owner_boot_id, holder.bootId, `${what}: the holder's boot`);
  assert.equal(error.data?.holder?.pid, holder.pid, `${what}: the holder's pid`);
  return error;
}

function assertStrictlyIncreasing(epochs: bigint[]): void {
  for (let i = 1; i < epochs.length; i++) {
    const [previous, current] = [epochs[i - 1] ?? 0n, epochs[i] ?? 0n];
    assert.ok(current > previous, `epoch ${i}: ${current} after ${previous} (${epochs.join(",")})`);
  }
}

function assertEpochFile(root: string, last: bigint | undefined, id = ID): void {
  const text = readFileSync(epochFile(root, id), "latin1");
  assert.match(text, /^[0-9]+\n$/, "the epoch file is ASCII digits and one newline");
  assert.equal(text, `${last}\n`, "the epoch file holds the last winner's epoch");
}

const inodeOf = (path: string) => statSync(path).ino;

const readLease = (root: string) =>
  JSON.parse(readFileSync(leaseFile(root), "utf8")) as Record<string, unknown> & {
    renewed_at_ms: number;
  };

/** Whether a pid exists (a zombie does). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The state letter of `/proc/<pid>/stat` (R, S, T, Z …), or null once the pid is gone. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 1).trim()[0] ?? null;
  } catch {
    return null;
  }
}

/** Waits (polling) until `ready()`; fails naming `what` after a generous bound. */
async function until(what: string, ready: () => boolean, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!ready()) {
    assert.ok(Date.now() < deadline, `gave up waiting: ${what}`);
    await sleep(2);
  }
}

/**
 * Samples, every millisecond, that the lock and epoch files exist and that the lock file keeps
 * its inode: a deletion, even one followed at once by a re-creation, shows up as a missing file
 * or a new inode.
 */
function watchNeverDeleted(root: string, id = ID) {
  const lockInode = inodeOf(lockFile(root, id));
  const violations = new Set<string>();
  let samples = 0;
  const sample = () => {
    samples++;
    const lock = statSync(lockFile(root, id), { throwIfNoEntry: false });
    if (!lock) violations.add("the lock file was missing");
    else if (lock.ino !== lockInode) violations.add("the lock file was replaced (new inode)");
    if (!existsSync(epochFile(root, id))) violations.add("the epoch file was missing");
  };
  const timer = setInterval(sample, 1);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { violations: [...violations], samples };
    },
  };
}

/**
 * One round: every peer claims `id` at once; exactly one wins and every other is refused. The
 * commands go out in an order rotated by `turn`, so that the first to hear is not always the
 * same process.
 */
async function raceRound(
  peers: Peer[],
  key: string,
  turn: number,
  id = ID,
): Promise<{ winner: Peer; epoch: bigint }> {
  const order = peers.map((_, i) => peers[(i + turn) % peers.length] as Peer);
  const sent = order.map((peer) => peer.claim(key, undefined, id));
  const replies = await Promise.all(
    peers.map((peer) => sent[order.indexOf(peer)] as Promise<Reply>),
  );
  const winners = peers.filter((_, i) => replies[i]?.ok);
  assert.equal(winners.length, 1, `${key}: ${winners.length} winners: ${JSON.stringify(replies)}`);
  const winner = winners[0] as Peer;
  replies.forEach((reply, i) => {
    if (peers[i] !== winner) assertInUse(reply, winner, `${key}, loser ${i}`, id);
  });
  return { winner, epoch: wonEpoch(replies[peers.indexOf(winner)] as Reply, key) };
}

/**
 * `taker` claims again and again while `holder` is stopped: every claim taken on an age within
 * `ttlMs` of the holder's last renewal must be refused, and the first success must come from an
 * age beyond it. Returns the winning reply and how many refusals came first.
 */
async function takeOverStopped(
  root: string,
  holder: Peer,
  taker: Peer,
  key: string,
  ttlMs: number,
  opts?: Record<string, unknown>,
) {
  const stopped = readLease(root);
  let refusals = 0;
  for (;;) {
    const reply = await taker.claim(key, opts);
    const age = Number(reply.decisionNow) - stopped.renewed_at_ms;
    if (reply.ok) {
      assert.ok(
        age > ttlMs,
        `taken over ${age} ms after the stopped holder's renewal (TTL ${ttlMs})`,
      );
      return { reply, refusals };
    }
    const error = assertInUse(reply, holder, `claim ${refusals} on the stopped holder`);
    assert.ok(age <= ttlMs, `refused at age ${age} ms, beyond the TTL ${ttlMs}`);
    assert.ok(Number(error.data?.age_ms) <= ttlMs, `reported age ${error.data?.age_ms}`);
    refusals++;
    assert.ok(refusals < 2_000, "the stopped holder was never taken over");
    await sleep(20);
  }
}

function startPeer(children: Children, label: string, mode: string, root: string, opts = {}) {
  return Peer.start(children, label, [mode, root, JSON.stringify(opts)]);
}

/** A temp root for one test, its children killed and reaped before the directory is removed. */
function setup(t: TestContext, script: string) {
  const children = new Children(t, script); // before tempDir: killed before rm
  const dir = tempDir(t, "amr-lease-mp-");
  return { children, dir, root: join(dir, "registry") };
}

/** Whether util-linux `flock(1)` can be run here. */
const flockMissing = spawnSync("flock", ["--version"], { encoding: "utf8" }).error !== undefined;

describe("multi-process: leases (SPEC §15)", () => {
  let script = "";
  let bundleDir = "";
  before(async () => {
    // Under node_modules/.cache so node resolves the external packages (fs-ext is native).
    const cache = join(REPO, "node_modules", ".cache");
    mkdirSync(cache, { recursive: true });
    bundleDir = mkdtempSync(join(cache, "amr-lease-bundle-"));
    script = join(bundleDir, "lease-child.mjs");
    await build({
      entryPoints: [join(import.meta.dirname, "lease-child.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      outfile: script,
      logLevel: "error",
    });
  });
  after(() => {
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  });

  test(`${RACERS} processes race for one agent over ${ROUNDS} claim/release rounds: one winner each`, {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const peers = await Promise.all(
      range(RACERS).map((i) => startPeer(children, `racer-${i}`, "serve", root)),
    );
    assert.equal(new Set(peers.map((p) => p.bootId)).size, RACERS, "one boot id per process");
    assert.equal(new Set(peers.map((p) => p.pid)).size, RACERS, "one pid per process");

    const epochs: bigint[] = [];
    const wins = new Map<Peer, number>();
    let watcher: ReturnType<typeof watchNeverDeleted> | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const key = `round-${round}`;
      const { winner, epoch } = await raceRound(peers, key, round);
      epochs.push(epoch);
      wins.set(winner, (wins.get(winner) ?? 0) + 1);
      watcher ??= watchNeverDeleted(root);
      const released = await winner.call("release", { key });
      assert.equal(released.released, true, `${key}: the winner's release`);
      assert.ok(!existsSync(leaseFile(root)), `${key}: release deletes the lease file`);
    }
    const watched = watcher?.stop();
    t.diagnostic(
      `wins per racer: ${peers.map((p) => wins.get(p) ?? 0).join(" ")}; ` +
        `${watched?.samples} samples of the lock and epoch files`,
    );
    assert.deepEqual(watched?.violations, []);
    assertStrictlyIncreasing(epochs);
    // Each claim after a release finds no lease: the new epoch is the stored counter plus one.
    assert.deepEqual(
      epochs,
      range(ROUNDS).map((i) => BigInt(i + 1)),
    );
    assertEpochFile(root, epochs.at(-1));
    assert.deepEqual(readdirSync(leasesDir(root)).sort(), [`${ID}.epoch`, `${ID}.lock`]);
  });

  test(`${RACERS} processes race for a fresh agent in each of ${ROUNDS} rounds: one winner each`, {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const peers = await Promise.all(
      range(RACERS).map((i) => startPeer(children, `racer-${i}`, "serve", root)),
    );
    const ids = range(ROUNDS).map((round) => `fresh-${String(round).padStart(3, "0")}`);
    for (const [round, id] of ids.entries()) {
      // Every racer creates the lock file (and, in round 0, the leases directory) at once.
      const { winner, epoch } = await raceRound(peers, `round-${round}`, round, id);
      assert.equal(epoch, 1n, `${id}: the first claim ever gets epoch 1`);
      const lease = JSON.parse(readFileSync(leaseFile(root, id), "utf8")) as Record<
        string,
        unknown
      >;
      assert.equal(lease.owner_boot_id, winner.bootId);
      assert.equal(lease.pid, winner.pid);
      assertEpochFile(root, 1n, id);
    }
    const expected = ids.flatMap((id) => [`${id}.epoch`, `${id}.lease.json`, `${id}.lock`]);
    assert.deepEqual(readdirSync(leasesDir(root)).sort(), expected.sort());
  });

  test("a holder killed with SIGKILL is taken over at once (its pid is gone), not by expiry", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const [a, b, c] = await Promise.all(
      ["holder", "taker", "bystander"].map((label) => startPeer(children, label, "serve", root)),
    );
    assert.ok(a && b && c);
    const epochs: bigint[] = [];
    // Some history first, so the takeover has a stored counter to go past.
    for (const key of ["warm-1", "warm-2"]) {
      epochs.push(wonEpoch(await a.claim(key), key));
      assert.equal((await a.call("release", { key })).released, true);
    }
    epochs.push(wonEpoch(await a.claim("held"), "held"));
    const lockInode = inodeOf(lockFile(root));
    assertInUse(await b.claim("early"), a, "a claim while the holder lives");

    const killed = readLease(root);
    a.child.kill("SIGKILL");
    assert.deepEqual(await a.child.closed, { code: null, signal: "SIGKILL" });
    // The parent (this process) has reaped it: its pid no longer exists.
    assert.equal(pidExists(a.pid), false);

    const holder = await b.call("holder", { id: ID });
    assert.equal(holder.ok, true);
    assert.equal(holder.holder, null, "a dead holder holds nothing");
    const taken = await b.claim("taken");
    epochs.push(wonEpoch(taken, "the takeover"));
    const age = Number(taken.decisionNow) - killed.renewed_at_ms;
    assert.ok(age <= LEASE_TTL_MS, `taken over at age ${age} ms: within the default TTL`);
    assertInUse(await c.claim("late"), b, "a claim after the takeover");

    assertStrictlyIncreasing(epochs);
    assertEpochFile(root, epochs.at(-1));
    assert.equal(inodeOf(lockFile(root)), lockInode, "the lock file was never replaced");
    assert.equal((await b.call("release", { key: "taken" })).released, true);
    assert.deepEqual(readdirSync(leasesDir(root)).sort(), [`${ID}.epoch`, `${ID}.lock`]);
  });

  test("a holder stopped with SIGSTOP keeps its lease until the TTL, then loses it for good", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const opts = { ttlMs: SHORT_TTL_MS, renewMs: 50 };
    const [a, b] = await Promise.all(
      ["holder", "taker"].map((label) => startPeer(children, label, "serve", root, opts)),
    );
    assert.ok(a && b);
    const epochs: bigint[] = [];
    epochs.push(wonEpoch(await a.claim("a"), "the holder's claim"));
    const lockInode = inodeOf(lockFile(root));
    // A renewal just before the stop: the lease is as fresh as it gets, and a is idle (outside
    // any critical section) when it is stopped.
    assert.equal((await a.call("renew", { key: "a" })).ok, true);
    a.child.kill("SIGSTOP");
    await until("the holder is stopped", () => procState(a.pid) === "T");

    const seen = await b.call("holder", { id: ID });
    if (Number(seen.decisionNow) - readLease(root).renewed_at_ms <= SHORT_TTL_MS) {
      assert.equal(seen.holder?.lease?.pid, a.pid, "a stopped holder within its TTL is live");
    }
    const { reply, refusals } = await takeOverStopped(root, a, b, "b", SHORT_TTL_MS);
    t.diagnostic(`${refusals} claims refused before the TTL ran out`);
    assert.ok(refusals > 0, "no claim came within the TTL: the machine is too slow for this test");
    epochs.push(wonEpoch(reply, "the takeover"));
    assert.equal(procState(a.pid), "T", "the holder was stopped throughout");

    const taken = readFileSync(leaseFile(root));
    const unchanged = (what: string) =>
      assert.deepEqual(readFileSync(leaseFile(root)), taken, `${what} wrote the new owner's file`);
    a.child.kill("SIGCONT");
    await until("the holder runs again", () => procState(a.pid) !== "T");

    const renew = await a.call("renew", { key: "a" });
    assert.equal(renew.ok, false, "the old holder's renew succeeded");
    assert.equal(renew.error?.code, "AGENT_IN_USE");
    assert.equal(renew.error?.data?.lost, true);
    assert.equal(renew.error?.data?.holder?.owner_boot_id, b.bootId);
    unchanged("the old holder's renew");
    const verify = await a.call("verify", { key: "a" });
    assert.equal(verify.error?.code, "AGENT_IN_USE");
    assert.equal(verify.error?.data?.lost, true);
    unchanged("the old holder's verify");
    const release = await a.call("release", { key: "a" });
    assert.equal(release.ok, true);
    assert.equal(release.released, false, "the old holder's release is a no-op");
    unchanged("the old holder's release");
    // `keep` hears the loss on its first tick, and writes nothing either.
    assert.equal((await a.call("keep", { key: "a" })).ok, true);
    const lost = await a.child.waitFor((m) => m.lost === "a");
    assert.equal((lost.error as ErrorInfo).code, "AGENT_IN_USE");
    unchanged("the old holder's keep");

    assert.equal((await b.call("verify", { key: "b" })).ok, true);
    assertStrictlyIncreasing(epochs);
    assertEpochFile(root, epochs.at(-1));
    assert.equal((await b.call("release", { key: "b" })).released, true);
    assert.equal(inodeOf(lockFile(root)), lockInode, "the lock file was never replaced");
    assert.deepEqual(readdirSync(leasesDir(root)).sort(), [`${ID}.epoch`, `${ID}.lock`]);
  });

  test("a stopped holder whose lease expired but was not taken over renews it when continued", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const opts = { ttlMs: SHORT_TTL_MS };
    const [holder, watcher] = await Promise.all(
      ["holder", "watcher"].map((label) => startPeer(children, label, "serve", root, opts)),
    );
    assert.ok(holder && watcher);
    const epoch = wonEpoch(await holder.claim("h"), "the holder's claim");
    holder.child.kill("SIGSTOP");
    await until("the holder is stopped", () => procState(holder.pid) === "T");
    // Expired as others see it: `holder()` stops reporting it once the TTL has passed.
    let asked = 0;
    for (;;) {
      const seen: Reply = await watcher.call("holder", { id: ID });
      asked++;
      if (seen.holder === null) break;
      assert.equal(seen.holder?.lease?.pid, holder.pid);
      assert.ok(asked < 2_000, "the stopped holder's lease never expired");
      await sleep(20);
    }
    const expired = readFileSync(leaseFile(root));
    holder.child.kill("SIGCONT");
    await until("the holder runs again", () => procState(holder.pid) !== "T");

    // Neither checks the TTL: nobody took it over, so it is still the holder's.
    assert.equal((await holder.call("verify", { key: "h" })).ok, true);
    assert.deepEqual(readFileSync(leaseFile(root)), expired, "verify wrote");
    assert.equal((await holder.call("renew", { key: "h" })).ok, true);
    const renewed = readLease(root);
    assert.equal(renewed.epoch, Number(epoch), "a renew keeps the epoch");
    assertInUse(await watcher.claim("w"), holder, "a claim after the renewal");
    assertEpochFile(root, epoch);
  });

  test("a holder that keeps its lease is not taken over across several TTLs; killed, at once", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const opts = { ttlMs: SHORT_TTL_MS, renewMs: 100 };
    const [holder, taker] = await Promise.all(
      ["holder", "taker"].map((label) => startPeer(children, label, "serve", root, opts)),
    );
    assert.ok(holder && taker);
    const epochs = [wonEpoch(await holder.claim("kept"), "the holder's claim")];
    assert.equal((await holder.call("keep", { key: "kept" })).ok, true);
    const acquired = readLease(root).acquired_at_ms as number;

    // Claims until the taker's own clock is three TTLs past the claim: all refused.
    let refusals = 0;
    for (;;) {
      const reply = await taker.claim("taker");
      assertInUse(reply, holder, `claim ${refusals} on a kept lease`);
      refusals++;
      if (Number(reply.decisionNow) - acquired > 3 * SHORT_TTL_MS) break;
      await sleep(25);
    }
    const renewed = readLease(root).renewed_at_ms;
    assert.ok(renewed > acquired, "keep renewed the lease");
    assert.equal(holder.child.messages.filter((m) => m.lost !== undefined).length, 0);
    t.diagnostic(`${refusals} claims refused over three TTLs`);

    // Killed, possibly in the middle of a renewal: the kernel drops its flock with it.
    holder.child.kill("SIGKILL");
    await holder.child.closed;
    epochs.push(wonEpoch(await taker.claim("taker"), "the claim after the kill"));
    assertStrictlyIncreasing(epochs);
    assertEpochFile(root, epochs.at(-1));
  });

  test("a claimant killed inside its critical section: the lock frees, its epoch is never reused", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const [crasher, other] = await Promise.all(
      ["crasher", "other"].map((label) => startPeer(children, label, "serve", root)),
    );
    assert.ok(crasher && other);
    const first = wonEpoch(await crasher.claim("first"), "the first claim");
    assert.equal((await crasher.call("release", { key: "first" })).released, true);
    const lockInode = inodeOf(lockFile(root));

    // The claim stops itself after writing the new epoch, before renaming its lease into place.
    void crasher.claim("crashing", { stopBeforeLeaseRename: true }).catch(() => {});
    await crasher.child.waitFor((m) => m.stopping === "before-lease-rename");
    await until("the claimant is stopped", () => procState(crasher.pid) === "T");
    assert.equal(existsSync(leaseFile(root)), false, "no lease was written yet");
    assertEpochFile(root, first + 1n);
    // Stopped inside the critical section, it holds the lock: everyone else waits.
    const waited = await other.claim("impatient", { lockTimeoutMs: 300 });
    assert.equal(waited.error?.code, "LOCK_TIMEOUT", JSON.stringify(waited));

    crasher.child.kill("SIGKILL");
    await crasher.child.closed;
    const after = wonEpoch(await other.claim("after"), "the claim after the crash");
    assert.ok(after > first + 1n, `epoch ${after} reuses the crashed claim's ${first + 1n}`);
    assertStrictlyIncreasing([first, first + 1n, after]);
    assertEpochFile(root, after);
    assert.equal(inodeOf(lockFile(root)), lockInode, "the lock file was never replaced");
    const left = readdirSync(leasesDir(root)).filter((name) => name.startsWith("."));
    t.diagnostic(`left by the killed claimant: ${left.join(", ") || "nothing"}`);
    // Only a temp of the write it never finished (nothing in SPEC §15 removes it).
    assert.ok(
      left.every((name) => name.startsWith(".tmp-") || name.startsWith(".registry-tmp-")),
      left.join(", "),
    );
    const files = readdirSync(leasesDir(root)).filter((name) => !name.startsWith("."));
    assert.deepEqual(files.sort(), [`${ID}.epoch`, `${ID}.lease.json`, `${ID}.lock`]);
  });

  test("the epoch strictly increases across races, a SIGKILL takeover and a SIGSTOP takeover", {
    timeout: 60_000,
  }, async (t) => {
    const { children, root } = setup(t, script);
    const peers = await Promise.all(
      range(4).map((i) => startPeer(children, `peer-${i}`, "serve", root)),
    );
    const epochs: bigint[] = [];
    let watcher: ReturnType<typeof watchNeverDeleted> | undefined;
    for (let round = 0; round < 10; round++) {
      const { winner, epoch } = await raceRound(peers, `round-${round}`, round);
      epochs.push(epoch);
      watcher ??= watchNeverDeleted(root);
      assert.equal((await winner.call("release", { key: `round-${round}` })).released, true);
    }
    // A winner that keeps its lease is killed; the others take it over at once.
    const { winner: killed, epoch } = await raceRound(peers, "killed", 0);
    epochs.push(epoch);
    killed.child.kill("SIGKILL");
    await killed.child.closed;
    const alive = peers.filter((p) => p !== killed);
    const { winner: stopped, epoch: afterKill } = await raceRound(alive, "after-kill", 1);
    epochs.push(afterKill);
    // That one is stopped; the rest (judging with a short TTL) take it over once it expires.
    stopped.child.kill("SIGSTOP");
    await until("the holder is stopped", () => procState(stopped.pid) === "T");
    const [taker, ...others] = alive.filter((p) => p !== stopped);
    assert.ok(taker);
    const { reply } = await takeOverStopped(root, stopped, taker, "after-stop", SHORT_TTL_MS, {
      ttlMs: SHORT_TTL_MS,
    });
    epochs.push(wonEpoch(reply, "the takeover of the stopped holder"));
    stopped.child.kill("SIGCONT");
    const renew = await stopped.call("renew", { key: "after-kill" });
    assert.equal(renew.error?.code, "AGENT_IN_USE");
    for (const other of others) assertInUse(await other.claim("late"), taker, "a late claim");
    assert.equal((await taker.call("release", { key: "after-stop" })).released, true);
    const { epoch: last } = await raceRound(alive, "last", 2);
    epochs.push(last);

    const watched = watcher?.stop();
    assert.deepEqual(watched?.violations, []);
    t.diagnostic(`epochs: ${epochs.join(" ")}`);
    assertStrictlyIncreasing(epochs);
    assertEpochFile(root, epochs.at(-1));
  });

  test("a zombie holder (killed, not yet reaped) still holds; once reaped it is taken over at once", {
    timeout: 60_000,
    skip: process.platform !== "linux" && "zombies are observed through /proc (Linux only)",
  }, async (t) => {
    const { children, dir, root } = setup(t, script);
    // The holder is the grandchild of a `nest` process that stops reaping on command.
    const zombie = await startPeer(children, "nested holder", "nest", root);
    const claimant = await startPeer(children, "claimant", "serve", root);
    const epochs = [wonEpoch(await zombie.claim("z"), "the nested holder's claim")];
    assertInUse(await claimant.claim("early"), zombie, "a claim while the holder lives");

    const reapNow = join(dir, "reap-now");
    const blocking = await zombie.call("block", { file: reapNow });
    assert.equal(blocking.blocking, true);
    process.kill(zombie.pid, "SIGKILL");
    await until("the killed holder is a zombie", () => procState(zombie.pid) === "Z");
    assert.equal(pidExists(zombie.pid), true, "a zombie's pid exists");

    const holder = await claimant.call("holder", { id: ID });
    assert.equal(holder.holder?.lease?.pid, zombie.pid, "holder() reports the zombie");
    assert.equal(holder.holder?.lease?.owner_boot_id, zombie.bootId);
    assertInUse(await claimant.claim("during"), zombie, "a claim while the holder is a zombie");
    assert.equal(procState(zombie.pid), "Z", "it stayed a zombie throughout");

    writeFileSync(reapNow, "");
    const exit = await zombie.child.waitFor((m) => m.grandchildExit !== undefined);
    assert.deepEqual(exit.grandchildExit, { code: null, signal: "SIGKILL" });
    assert.equal(pidExists(zombie.pid), false, "reaped");
    const taken = await claimant.claim("after");
    epochs.push(wonEpoch(taken, "the claim after the reap"));
    assertStrictlyIncreasing(epochs);
    assertEpochFile(root, epochs.at(-1));
  });

  test("flock(1) excludes a claim, and a claim's critical section excludes flock(1)", {
    timeout: 60_000,
    skip: flockMissing && "util-linux flock(1) is not installed",
  }, async (t) => {
    const dir = tempDir(t, "amr-lease-mp-");
    const root = join(dir, "registry");
    const lease = leaseFile(root);
    const lock = lockFile(root);
    const events: string[] = [];
    let probeFlock = false;
    let probed: number | null | undefined;
    // Opening the lease file is the first thing a lease operation does inside its critical section.
    const fs: FsOps = {
      ...nodeFs,
      openSync: ((path: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode) => {
        if (String(path) === lease) {
          events.push("lease-opened");
          if (probeFlock) {
            probeFlock = false;
            probed = spawnSync("flock", ["-n", "-E", "42", lock, "true"]).status;
          }
        }
        return nodeFs.openSync(path, flags ?? "r", mode);
      }) as FsOps["openSync"],
    };
    const store = new LeaseStore(root, { fs });
    const first = await store.claim(ID, "first");
    assert.equal(await store.release(first), true);
    const lockInode = inodeOf(lock);

    const holders: ChildProcess[] = [];
    t.after(() => {
      for (const holder of holders) holder.kill("SIGKILL");
    });
    /** flock(1) holding the lock until its stdin ends. */
    const holdWithFlock = async () => {
      const holder = spawn("flock", ["-x", lock, "sh", "-c", "echo locked; cat >/dev/null"], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      holders.push(holder);
      const exited = new Promise<number | null>((resolve) => holder.on("close", resolve));
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once("data", () => resolve());
        holder.once("error", reject);
      });
      return { holder, exited };
    };

    // 1. While flock(1) holds the lock, the claim waits; it completes once flock(1) lets go.
    const held = await holdWithFlock();
    events.length = 0;
    const claim = store.claim(ID, "after-flock").finally(() => events.push("claim-settled"));
    // Enough for many of the claim's LOCK_NB retries (every ≤ 25 ms); the event loop stays free.
    await sleep(400);
    assert.equal(events.length, 0, `the claim got in while flock(1) held the lock: ${events}`);
    assert.equal(held.holder.exitCode, null, "flock(1) still holds the lock");
    events.push("flock-released");
    held.holder.stdin.end();
    const handle = await claim;
    assert.equal(await held.exited, 0);
    assert.equal(events[0], "flock-released", `order of events: ${events.join(", ")}`);
    assert.ok(events.includes("lease-opened"));
    assert.equal(events.at(-1), "claim-settled");
    assert.equal(handle.epoch, 2n);

    // 2. With a short lock timeout, every operation gives up with LOCK_TIMEOUT, touching nothing.
    const bytes = readFileSync(lease);
    const again = await holdWithFlock();
    const impatient = new LeaseStore(root, { fs, lockTimeoutMs: 150 });
    events.length = 0;
    const timesOut = (error: unknown) =>
      error instanceof RegistryError && error.code === "LOCK_TIMEOUT";
    await assert.rejects(impatient.claim(ID, "impatient"), timesOut);
    await assert.rejects(impatient.holder(ID), timesOut);
    await assert.rejects(impatient.renew(handle), timesOut);
    await assert.rejects(impatient.verify(handle), timesOut);
    await assert.rejects(impatient.release(handle), timesOut);
    assert.equal(events.length, 0, `an operation got in without the lock: ${events}`);
    assert.equal(again.holder.exitCode, null);
    again.holder.stdin.end();
    assert.equal(await again.exited, 0);
    assert.deepEqual(readFileSync(lease), bytes);

    // 3. The other way round: inside a lease operation, `flock -n` finds the lock taken.
    probeFlock = true;
    await store.verify(handle);
    assert.equal(probed, 42, "flock(1) took the lock during a lease operation");
    assert.equal(spawnSync("flock", ["-n", "-E", "42", lock, "true"]).status, 0);

    assert.equal(await store.release(handle), true);
    assert.equal(inodeOf(lock), lockInode, "the lock file was never replaced");
    assertEpochFile(root, 2n);
    assert.deepEqual(readdirSync(leasesDir(root)).sort(), [`${ID}.epoch`, `${ID}.lock`]);
  });
});
