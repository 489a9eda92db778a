/**
 * SPEC §15's acceptance paragraph (the original's lease tests), one test each, plus the format:
 * AgentMux-written files read and written byte for byte. Time and liveness are injected; the
 * multi-process behaviour is in test/multiprocess/lease-*.test.ts.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { isRegistryError } from "../src/core/errors.js";
import { encodeLease, parseEpoch, parseLease } from "../src/core/lease.js";
import { Registry } from "../src/registry.js";
import { LeaseStore, type LeaseStoreOptions, type ProcessProbe } from "../src/store/lease-store.js";
import { tempDir } from "./helpers.js";

/** Hand-written in AgentMux's format; kept apart from the record fixtures, which are records. */
const leaseFixture = (name: string) =>
  readFileSync(join(import.meta.dirname, "lease-fixtures", name));

const ID = "76d73683-3c1d-4b0e-9f3a-2f1f1f0b8a11";
const TTL = 15_000;
const HOST = "thishost";
const T0 = 1_764_500_000_000;

/** One registry root, a shared clock, and stores (one per boot) over them. */
function setup(t: TestContext) {
  const root = tempDir(t);
  const clock = { now: T0 };
  const running = new Map<number, number>();
  const probe: ProcessProbe = {
    running: (pid) => running.has(pid),
    startSeconds: (pid) => running.get(pid),
  };
  let nextPid = 1000;
  const store = (bootId: string, options: LeaseStoreOptions = {}) => {
    const pid = nextPid++;
    running.set(pid, 1_764_400_000);
    return new LeaseStore(root, {
      bootId,
      hostname: HOST,
      pid,
      version: "1.0.0",
      now: () => clock.now,
      process: probe,
      ...options,
    });
  };
  const leasePath = join(root, "leases", `${ID}.lease.json`);
  const epochPath = join(root, "leases", `${ID}.epoch`);
  const lease = () => readFileSync(leasePath, "utf8");
  const writeLease = (text: string | Buffer) => {
    mkdirSync(join(root, "leases"), { recursive: true });
    writeFileSync(leasePath, text);
  };
  return { root, clock, running, store, leasePath, epochPath, lease, writeLease };
}

async function refused(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isRegistryError(error, "AGENT_IN_USE"), `expected AGENT_IN_USE, got ${error}`);
    return error.data as Record<string, unknown>;
  }
  assert.fail("expected AGENT_IN_USE");
}

/** A lease in AgentMux's format held by another process, renewed at `renewed`. */
function foreignLease(fields: Partial<Record<string, unknown>> = {}): string {
  return `${JSON.stringify(
    {
      instance_id: ID,
      owner_boot_id: "agentmux-boot",
      block_id: "pane-1",
      session_id: null,
      pid: 4242,
      acquired_at_ms: T0,
      renewed_at_ms: T0,
      epoch: 3,
      hostname: HOST,
      pid_start_s: 1_764_400_000,
      channel: "agentmux",
      version: "0.9.3",
      claim_id: "c1",
      ...fields,
    },
    null,
    2,
  )}\n`;
}

describe("SPEC §15 acceptance", () => {
  test("a claim on an empty store succeeds: epoch 1, the lease and epoch files in the format", async (t) => {
    const { store, lease, epochPath, root } = setup(t);
    const handle = await store("boot-a").claim(ID, "block-1", { sessionId: "sess" });
    assert.equal(handle.epoch, 1n);
    const text = lease();
    assert.deepEqual(Object.keys(JSON.parse(text)), [
      "instance_id",
      "owner_boot_id",
      "block_id",
      "session_id",
      "pid",
      "acquired_at_ms",
      "renewed_at_ms",
      "epoch",
      "hostname",
      "pid_start_s",
      "channel",
      "version",
      "claim_id",
    ]);
    assert.ok(text.endsWith("}\n") && !text.endsWith("\n\n"));
    assert.match(text, /^ {2}"owner_boot_id": "boot-a",$/m);
    assert.equal(JSON.parse(text).claim_id, handle.claimId);
    assert.equal(JSON.parse(text).channel, "agentmux-registry");
    assert.equal(readFileSync(epochPath, "utf8"), "1\n");
    assert.equal(statSync(join(root, "leases", `${ID}.lease.json`)).mode & 0o777, 0o600);
    assert.ok(existsSync(join(root, "leases", `${ID}.lock`)));
  });

  test("a second boot is refused, naming the holder's boot, block and pid", async (t) => {
    const { store } = setup(t);
    const first = store("boot-a");
    await first.claim(ID, "block-1");
    const data = await refused(store("boot-b").claim(ID, "block-9"));
    const holder = data.holder as Record<string, unknown>;
    assert.equal(holder.owner_boot_id, "boot-a");
    assert.equal(holder.block_id, "block-1");
    assert.equal(typeof holder.pid, "number");
    assert.equal(holder.channel, "agentmux-registry");
    assert.equal(holder.version, "1.0.0");
  });

  test("the same boot and block re-claim keeps the epoch with a new claim id", async (t) => {
    const { store, lease } = setup(t);
    const a = store("boot-a");
    const first = await a.claim(ID, "block-1");
    const again = await a.claim(ID, "block-1");
    assert.equal(again.epoch, first.epoch);
    assert.notEqual(again.claimId, first.claimId);
    assert.equal(JSON.parse(lease()).claim_id, again.claimId);
  });

  test("a re-claim of an old-format lease (epoch 0) gets a fresh epoch", async (t) => {
    const { store, writeLease } = setup(t);
    writeLease(foreignLease({ owner_boot_id: "boot-a", epoch: 0, block_id: "" }));
    const handle = await store("boot-a").claim(ID, "block-1");
    assert.equal(handle.epoch, 1n);
  });

  test("after the TTL another boot claims", async (t) => {
    const { store, clock } = setup(t);
    const first = await store("boot-a").claim(ID, "block-1");
    clock.now += TTL;
    await refused(store("boot-b").claim(ID, "block-1"));
    clock.now += 1;
    const second = await store("boot-b").claim(ID, "block-1");
    assert.ok(second.epoch > first.epoch);
  });

  test("a fresh unparseable file is held, and holder reports someone", async (t) => {
    const { store, writeLease } = setup(t);
    writeLease(leaseFixture("torn.lease.json"));
    const data = await refused(store("boot-b").claim(ID, "block-1"));
    assert.equal(data.holder, null);
    const holder = await store("boot-b").holder(ID);
    assert.ok(holder);
    assert.equal(holder.lease, null);
  });

  test("an unreadable file with a future mtime is held (age 0, fail closed)", async (t) => {
    const { store, writeLease, leasePath, clock } = setup(t);
    writeLease("not json");
    utimesSync(leasePath, new Date(clock.now + 3_600_000), new Date(clock.now + 3_600_000));
    await refused(store("boot-b").claim(ID, "block-1"));
  });

  test("the same unparseable file older than a TTL is reclaimed", async (t) => {
    const { store, writeLease, leasePath, clock } = setup(t);
    writeLease(leaseFixture("torn.lease.json"));
    const old = new Date(clock.now - TTL - 1_000);
    utimesSync(leasePath, old, old);
    const handle = await store("boot-b").claim(ID, "block-1");
    assert.equal(handle.epoch, 1n);
    assert.equal(await store("boot-c").holder(ID, "boot-b"), null);
  });

  test("a file with only the seven original keys is honoured", async (t) => {
    const { store, writeLease, clock } = setup(t);
    writeLease(leaseFixture("original-seven-keys.lease.json"));
    clock.now = 1_764_500_010_000 + 1_000;
    // No hostname: never provably dead, even though its pid is not running here.
    const data = await refused(store("boot-b").claim(ID, "block-1"));
    assert.equal((data.holder as Record<string, unknown>).pid, 3131);
    clock.now += TTL;
    assert.equal((await store("boot-b").claim(ID, "block-1")).epoch, 1n);
  });

  test("epochs strictly increase across release, TTL takeover and dead-holder takeover", async (t) => {
    const { store, clock, running, epochPath } = setup(t);
    const seen: bigint[] = [];
    const a = store("boot-a");
    let handle = await a.claim(ID, "b");
    seen.push(handle.epoch);
    await a.release(handle);
    handle = await a.claim(ID, "b");
    seen.push(handle.epoch);
    clock.now += TTL + 1;
    const b = store("boot-b");
    handle = await b.claim(ID, "b");
    seen.push(handle.epoch);
    const c = store("boot-c");
    running.clear();
    handle = await c.claim(ID, "b");
    seen.push(handle.epoch);
    assert.deepEqual(seen, [1n, 2n, 3n, 4n]);
    assert.equal(readFileSync(epochPath, "utf8"), "4\n");
  });

  test("the new epoch is above both the counter and the file's epoch", async (t) => {
    const { store, writeLease, epochPath, clock } = setup(t);
    writeLease(
      foreignLease({ epoch: 9_007_199_254_740_993n.toString() }).replace(
        '"9007199254740993"',
        "9007199254740993",
      ),
    );
    writeFileSync(epochPath, "5\n");
    clock.now += TTL + 1;
    const handle = await store("boot-b").claim(ID, "b");
    assert.equal(handle.epoch, 9_007_199_254_740_994n);
    assert.equal(readFileSync(epochPath, "utf8"), "9007199254740994\n");
  });

  test("a holder whose pid does not exist on this host is taken over at once", async (t) => {
    const { store, writeLease } = setup(t);
    writeLease(foreignLease({ pid: 4242 }));
    const handle = await store("boot-b").claim(ID, "b");
    assert.equal(handle.epoch, 4n);
  });

  test("a holder whose pid runs with another start time is taken over", async (t) => {
    const { store, writeLease, running } = setup(t);
    running.set(4242, 1_764_499_999);
    writeLease(foreignLease({ pid: 4242, pid_start_s: 1_764_400_000 }));
    await store("boot-b").claim(ID, "b");
  });

  test("a holder whose pid runs with the recorded start time (or an unknown one) is held", async (t) => {
    const { store, writeLease, running } = setup(t);
    running.set(4242, 1_764_400_000);
    writeLease(foreignLease({ pid: 4242 }));
    await refused(store("boot-b").claim(ID, "b"));
    running.set(4242, 1_764_499_999);
    writeLease(foreignLease({ pid: 4242, pid_start_s: 0 }));
    await refused(store("boot-b").claim(ID, "b"));
  });

  test("a holder on another host with a dead pid is still refused", async (t) => {
    const { store, writeLease } = setup(t);
    writeLease(foreignLease({ hostname: "otherhost", pid: 4242 }));
    await refused(store("boot-b").claim(ID, "b"));
    writeLease(foreignLease({ hostname: "", pid: 4242 }));
    await refused(store("boot-b").claim(ID, "b"));
    writeLease(foreignLease({ pid: 0 }));
    await refused(store("boot-b").claim(ID, "b"));
  });

  test("renew keeps another boot out", async (t) => {
    const { store, clock } = setup(t);
    const a = store("boot-a");
    const handle = await a.claim(ID, "b");
    clock.now += TTL - 1_000;
    await a.renew(handle);
    clock.now += TTL - 1_000;
    await refused(store("boot-b").claim(ID, "b"));
  });

  test("renew after a takeover is lost and leaves the new owner's file", async (t) => {
    const { store, clock, lease } = setup(t);
    const a = store("boot-a");
    const handle = await a.claim(ID, "b");
    clock.now += TTL + 1;
    await store("boot-b").claim(ID, "b");
    const before = lease();
    const data = await refused(a.renew(handle));
    assert.equal(data.lost, true);
    assert.equal(lease(), before);
  });

  test("verify: fine while held and after expiry without takeover, lost after one; never writes", async (t) => {
    const { store, clock, lease, leasePath } = setup(t);
    const a = store("boot-a");
    const handle = await a.claim(ID, "b");
    const before = { text: lease(), mtime: statSync(leasePath).mtimeMs };
    await a.verify(handle);
    clock.now += TTL * 10;
    await a.verify(handle);
    assert.deepEqual({ text: lease(), mtime: statSync(leasePath).mtimeMs }, before);
    await store("boot-b").claim(ID, "b");
    await refused(a.verify(handle));
  });

  test("release deletes the lease file, is a no-op after a takeover, and is idempotent", async (t) => {
    const { store, clock, leasePath, epochPath, root } = setup(t);
    const a = store("boot-a");
    const handle = await a.claim(ID, "b");
    assert.equal(await a.release(handle), true);
    assert.equal(existsSync(leasePath), false);
    assert.equal(await a.release(handle), false);
    assert.ok(existsSync(epochPath));
    assert.ok(existsSync(join(root, "leases", `${ID}.lock`)));
    const again = await a.claim(ID, "b");
    clock.now += TTL + 1;
    await store("boot-b").claim(ID, "b");
    assert.equal(await a.release(again), false);
    assert.ok(existsSync(leasePath));
  });

  test("release of an unreadable lease leaves it", async (t) => {
    const { store, writeLease, leasePath } = setup(t);
    const a = store("boot-a");
    const handle = await a.claim(ID, "b");
    writeLease("{");
    assert.equal(await a.release(handle), false);
    assert.equal(readFileSync(leasePath, "utf8"), "{");
  });

  test("another block of the same boot is refused while the first holds, and claims after release", async (t) => {
    const { store } = setup(t);
    const a = store("boot-a");
    const first = await a.claim(ID, "pane-1");
    await refused(a.claim(ID, "pane-2"));
    await a.release(first);
    await a.claim(ID, "pane-2");
  });

  test("a same-block re-claim supersedes the older handle", async (t) => {
    const { store, lease } = setup(t);
    const a = store("boot-a");
    const older = await a.claim(ID, "pane-1");
    const newer = await a.claim(ID, "pane-1");
    await refused(a.renew(older));
    await refused(a.verify(older));
    assert.equal(await a.release(older), false);
    assert.equal(JSON.parse(lease()).claim_id, newer.claimId);
    await a.verify(newer);
  });

  test("a block that took over after expiry fences the old block", async (t) => {
    const { store, clock } = setup(t);
    const a = store("boot-a");
    const old = await a.claim(ID, "pane-1");
    clock.now += TTL + 1;
    const taken = await a.claim(ID, "pane-2");
    assert.ok(taken.epoch > old.epoch);
    await refused(a.renew(old));
    assert.equal(await a.release(old), false);
    await a.verify(taken);
  });

  test("holder ignores its own boot, names channel and version, and ignores an expired lease", async (t) => {
    const { store, clock } = setup(t);
    const a = store("boot-a", { channel: "agentmux", version: "0.9.3" });
    await a.claim(ID, "b");
    assert.equal(await a.holder(ID, "boot-a"), null);
    const holder = await store("boot-b").holder(ID, "boot-b");
    assert.equal(holder?.lease?.channel, "agentmux");
    assert.equal(holder?.lease?.version, "0.9.3");
    assert.equal((await store("boot-b").holder(ID))?.lease?.owner_boot_id, "boot-a");
    clock.now += TTL + 1;
    assert.equal(await store("boot-b").holder(ID), null);
  });

  test("8 concurrent claimants with separate stores: exactly one wins", async (t) => {
    const { store } = setup(t);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store(`boot-${i}`).claim(ID, "b")),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const result of results) {
      if (result.status === "rejected") assert.ok(isRegistryError(result.reason, "AGENT_IN_USE"));
    }
  });
});

describe("keep", () => {
  test("renews on its interval, and reports a takeover once without touching the new owner's file", async (t) => {
    const { store, clock, lease } = setup(t);
    const a = store("boot-a", { renewMs: 5 });
    const handle = await a.claim(ID, "b");
    const lost: string[] = [];
    const keeper = a.keep(handle, (error) => lost.push(error.code));
    t.after(() => keeper.stop());
    clock.now += 1_000;
    await until(() => JSON.parse(lease()).renewed_at_ms === clock.now);
    // A claimant whose clock is a TTL ahead sees every renew of `a` as expired: the takeover a
    // stopped holder would suffer, while `a` keeps renewing.
    const b = store("boot-b", { now: () => clock.now + TTL + 1 });
    const taken = await b.claim(ID, "b");
    const theirs = lease();
    await until(() => lost.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(lost, ["AGENT_IN_USE"]);
    assert.equal(lease(), theirs);
    assert.equal(JSON.parse(theirs).claim_id, taken.claimId);
  });

  test("stop ends the renewing", async (t) => {
    const { store, clock, lease } = setup(t);
    const a = store("boot-a", { renewMs: 5 });
    const keeper = a.keep(await a.claim(ID, "b"), () => assert.fail("not lost"));
    keeper.stop();
    const before = lease();
    clock.now += 1_000;
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(lease(), before);
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 10_000) assert.fail("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("AgentMux's files", () => {
  test("a full lease is read and written back byte for byte", () => {
    const bytes = leaseFixture("full.lease.json");
    const lease = parseLease(bytes);
    assert.ok(lease);
    assert.equal(lease.epoch, 7n);
    assert.equal(lease.session_id, "sess-42");
    assert.equal(encodeLease(lease), bytes.toString("utf8"));
  });

  test("missing fields read as their defaults; unknown keys are ignored", () => {
    const seven = parseLease(leaseFixture("original-seven-keys.lease.json"));
    assert.ok(seven);
    assert.deepEqual(
      [
        seven.epoch,
        seven.hostname,
        seven.pid_start_s,
        seven.channel,
        seven.version,
        seven.claim_id,
      ],
      [0n, "", 0, "", "", ""],
    );
    const unknown = parseLease(leaseFixture("unknown-keys.lease.json"));
    assert.equal(unknown?.epoch, 18_446_744_073_709_551_615n);
    assert.equal(unknown?.session_id, null);
  });

  for (const name of ["torn", "null-epoch", "string-pid"]) {
    test(`${name}.lease.json is unreadable, never free`, () => {
      assert.equal(parseLease(leaseFixture(`${name}.lease.json`)), undefined);
    });
  }

  test("mistyped, repeated, signed or fractional fields make a lease unreadable", () => {
    const base = JSON.parse(leaseFixture("full.lease.json").toString("utf8"));
    const variants = [
      { ...base, pid: -1 },
      { ...base, pid: 4_294_967_296 },
      { ...base, pid: 1.5 },
      { ...base, renewed_at_ms: "1" },
      { ...base, hostname: null },
      { ...base, channel: 3 },
      { ...base, session_id: 3 },
      { ...base, block_id: undefined },
    ];
    for (const variant of variants) {
      assert.equal(
        parseLease(Buffer.from(JSON.stringify(variant))),
        undefined,
        JSON.stringify(variant),
      );
    }
    const repeated = leaseFixture("full.lease.json")
      .toString("utf8")
      .replace('"pid": 4242,', '"pid": 4242,\n  "pid": 1,');
    assert.equal(parseLease(Buffer.from(repeated)), undefined);
    assert.equal(parseLease(Buffer.from("[]")), undefined);
    assert.equal(parseLease(Buffer.from(`\ufeff${JSON.stringify(base)}`)), undefined);
  });

  test("epoch files: trimmed, a leading + accepted, anything else is 0", () => {
    assert.equal(parseEpoch(leaseFixture("seven.epoch").toString()), 7n);
    assert.equal(parseEpoch(leaseFixture("plus-twelve.epoch").toString()), 12n);
    assert.equal(parseEpoch(leaseFixture("garbage.epoch").toString()), 0n);
    assert.equal(parseEpoch(""), 0n);
    assert.equal(parseEpoch("-3"), 0n);
    assert.equal(parseEpoch("18446744073709551616"), 0n);
  });

  test("an AgentMux-written epoch file is continued from", async (t) => {
    const { store, epochPath, root } = setup(t);
    mkdirSync(join(root, "leases"));
    writeFileSync(epochPath, leaseFixture("plus-twelve.epoch"));
    assert.equal((await store("boot-a").claim(ID, "b")).epoch, 13n);
  });

  test("a lease held by AgentMux on this host with a live pid refuses us with its details", async (t) => {
    const { store, writeLease, running, clock } = setup(t);
    running.set(4242, 1_764_490_000);
    writeLease(leaseFixture("full.lease.json"));
    clock.now = 1_764_500_010_000 + 2_000;
    const a = store("boot-a", { hostname: "devbox" });
    const data = await refused(a.claim(ID, "b"));
    assert.equal(data.age_ms, 2_000);
    assert.deepEqual(data.holder, {
      owner_boot_id: "5e0c1a0e-8d44-4a31-9a4b-0d6f0e9f7c21",
      block_id: "pane-3",
      pid: 4242,
      hostname: "devbox",
      channel: "agentmux",
      version: "0.9.3",
      session_id: "sess-42",
      renewed_at_ms: 1_764_500_010_000,
      epoch: "7",
    });
    running.delete(4242);
    assert.equal((await a.claim(ID, "b")).epoch, 8n);
  });
});

describe("the sweep", () => {
  test("removes a crashed lease write's old temp file and nothing else of the lease tree", async (t) => {
    const { store, root } = setup(t);
    const a = store("a");
    await a.claim(ID, "b");
    const dir = join(root, "leases");
    for (const name of [`.tmp-${ID}.lease.json.1.2`, ".registry-tmp-abc123.json"]) {
      writeFileSync(join(dir, name), "{");
    }
    const old = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(dir)) utimesSync(join(dir, name), old, old);
    // A temp file of a write in flight right now: too young to sweep.
    writeFileSync(join(dir, `.tmp-${ID}.new`), "{");
    const registry = await Registry.open(root);
    registry.close();
    assert.deepEqual(readdirSync(dir).sort(), [
      `.tmp-${ID}.new`,
      `${ID}.epoch`,
      `${ID}.lease.json`,
      `${ID}.lock`,
    ]);
  });

  test("a file where the lease tree belongs does not stop the registry from opening", async (t) => {
    const { root } = setup(t);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, "leases"), "not a directory");
    const registry = await Registry.open(root);
    assert.deepEqual(await registry.listActive(), []);
    registry.close();
    assert.equal(readFileSync(join(root, "leases"), "utf8"), "not a directory");
  });
});

describe("hostile lease trees", () => {
  test("a symlink, directory or FIFO at the lock path is INVALID_LOCK, and nothing is followed", async (t) => {
    const { store, root } = setup(t);
    const dir = join(root, "leases");
    mkdirSync(dir);
    const lockPath = join(dir, `${ID}.lock`);
    const target = join(root, "elsewhere");
    symlinkSync(target, lockPath);
    await assert.rejects(store("a").claim(ID, "b"), (e) => isRegistryError(e, "INVALID_LOCK"));
    assert.equal(existsSync(target), false);
    execFileSync("rm", [lockPath]);
    mkdirSync(lockPath);
    await assert.rejects(store("a").holder(ID), (e) => isRegistryError(e, "INVALID_LOCK"));
    execFileSync("rmdir", [lockPath]);
    execFileSync("mkfifo", [lockPath]);
    await assert.rejects(store("a").claim(ID, "b"), (e) => isRegistryError(e, "INVALID_LOCK"));
  });

  test("a lease path that cannot be read is an I/O error, neither free nor held", async (t) => {
    const { store, leasePath } = setup(t);
    mkdirSync(leasePath, { recursive: true });
    await assert.rejects(store("a").claim(ID, "b"), (e) => isRegistryError(e, "IO"));
    assert.equal(existsSync(join(leasePath, "..", `${ID}.epoch`)), false);
  });

  test("an invalid id is refused before any path is made", async (t) => {
    const { store, root } = setup(t);
    await assert.rejects(store("a").claim("../x", "b"), (e) => isRegistryError(e, "INVALID_ID"));
    assert.equal(existsSync(join(root, "leases")), false);
  });

  test("holder and release read nothing and create nothing when the lease tree is absent", async (t) => {
    const { store, root } = setup(t);
    assert.equal(await store("a").holder(ID), null);
    assert.deepEqual(store("a").inspect(), []);
    assert.equal(existsSync(join(root, "leases")), false);
  });
});
