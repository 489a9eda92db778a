import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry, RegistryError } from "../src/index.js";
import { makeRecord, namesIn, tempDir, tempRegistry } from "./helpers.js";

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
    encoding: "utf8",
  });
  return Number(child.stdout.trim());
}

function plantLock(root: string, id: string, pid: number, ageMs = 0, host = hostname()): string {
  const path = join(root, `.lock-${id}`);
  fs.writeFileSync(path, `${pid} ${host} feedface\n`);
  const when = new Date(Date.now() - ageMs);
  fs.utimesSync(path, when, when);
  return path;
}

describe("cross-process record locks", () => {
  test("a lock held by a live process makes writers wait, then LOCK_TIMEOUT, and nothing is written", async (t) => {
    const { registry, root } = await tempRegistry(t, { lockTimeoutMs: 150 });
    const lock = plantLock(root, "aaa", process.pid);
    const started = Date.now();
    await assert.rejects(
      registry.upsert(makeRecord("aaa")),
      (error: unknown) => error instanceof RegistryError && error.code === "LOCK_TIMEOUT",
    );
    assert.ok(Date.now() - started >= 140);
    assert.ok(fs.existsSync(lock), "a live holder's lock is never removed");
    assert.deepEqual(namesIn(root), [".lock-aaa", "retired"]);
    for (const operation of [
      () => registry.retire("aaa"),
      () => registry.unretire("aaa"),
      () => registry.hardDelete("aaa"),
      () => registry.update("aaa", (r) => r),
    ]) {
      await assert.rejects(
        operation(),
        (error: unknown) => error instanceof RegistryError && error.code === "LOCK_TIMEOUT",
      );
    }
  });

  test("a lock whose holder died is taken over at once", async (t) => {
    const { registry, root } = await tempRegistry(t, { lockTimeoutMs: 2_000 });
    plantLock(root, "aaa", deadPid());
    const started = Date.now();
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
    assert.ok(Date.now() - started < 1_000);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("a lock not refreshed for longer than lockStaleMs is taken over (holder on another host)", async (t) => {
    const { registry, root } = await tempRegistry(t, { lockStaleMs: 200, lockTimeoutMs: 5_000 });
    plantLock(root, "aaa", 1, 0, "another-host");
    const started = Date.now();
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
    const waited = Date.now() - started;
    assert.ok(waited >= 150 && waited < 3_000, `waited ${waited} ms`);
  });

  test("an empty lock (a holder killed before writing it) is taken over after a short grace", async (t) => {
    const { registry, root } = await tempRegistry(t, { lockTimeoutMs: 5_000 });
    const lock = join(root, ".lock-aaa");
    fs.writeFileSync(lock, "");
    const started = Date.now();
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
    const waited = Date.now() - started;
    assert.ok(waited >= 900 && waited < 3_000, `waited ${waited} ms`);
  });

  test("a holder refreshes its lock, so a long update is not taken over", async (t) => {
    const { registry, root } = await tempRegistry(t, { lockStaleMs: 150 });
    const other = await Registry.open(root, { lockStaleMs: 150, lockTimeoutMs: 5_000 });
    await registry.upsert(makeRecord("aaa"));
    const order: string[] = [];
    const slow = registry.update("aaa", async (r) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      order.push("slow done");
      return { ...r, data: { ...r.data, tags: ["slow"] } };
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Same process, different Registry: only the lock file keeps it out while the first holds it.
    const fast = other.update("aaa", (r) => {
      order.push("fast runs");
      return { ...r, data: { ...r.data, tags: [...((r.data.tags as string[]) ?? []), "fast"] } };
    });
    await Promise.all([slow, fast]);
    assert.deepEqual(order, ["slow done", "fast runs"]);
    assert.deepEqual((await registry.get("aaa"))?.data.tags, ["slow", "fast"]);
  });

  test("releasing never removes a lock that another process took over", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const lock = join(root, ".lock-aaa");
    await registry.update("aaa", (r) => {
      // Simulate a taker-over replacing our lock while we hold it.
      fs.rmSync(lock);
      fs.writeFileSync(lock, `${process.pid} ${hostname()} someone-else\n`);
      return r;
    });
    assert.equal(fs.readFileSync(lock, "utf8"), `${process.pid} ${hostname()} someone-else\n`);
  });

  test("lock files are hidden and never end in .json", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const seen: string[] = [];
    await registry.update("aaa", (r) => r);
    await registry.upsert(makeRecord("aaa"));
    await registry.update("aaa", (r) => {
      seen.push(...namesIn(root).filter((name) => name.startsWith(".")));
      return r;
    });
    // The lock, and the holder file every lock of this registry is a hard link to.
    assert.deepEqual(seen, [".lock-aaa"]);
    const holders = fs.readdirSync(root).filter((name) => name.startsWith(".lockholder-"));
    assert.equal(holders.length, 1);
    assert.ok(!(holders[0] as string).endsWith(".json"));
  });

  test("bad lock options are INVALID_ARGUMENT", async (t) => {
    const dir = tempDir(t);
    for (const options of [
      { lockTimeoutMs: 0 },
      { lockStaleMs: -1 },
      { sweepAfterMs: Number.NaN },
    ]) {
      await assert.rejects(
        Registry.open(join(dir, "r"), options),
        (error: unknown) => error instanceof RegistryError && error.code === "INVALID_ARGUMENT",
      );
    }
  });
});

describe("check before the rename", () => {
  test("a lock-ignoring writer that replaces the file mid-write causes a retry, not a lost update", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    let interfere = true;
    const faulty = {
      ...fs,
      fsyncSync(fd: number) {
        fs.fsyncSync(fd);
        if (interfere) {
          interfere = false;
          // Another writer (say the Rust server) replaces the record between our read and rename.
          const file = join(root, "aaa.json");
          const text = fs
            .readFileSync(file, "utf8")
            .replace('"0.1.0"\n', '"0.1.0",\n    "tags": ["from-rust"]\n');
          fs.writeFileSync(`${file}.other`, text);
          fs.renameSync(`${file}.other`, file);
        }
      },
    };
    const plain = await Registry.open(root);
    await plain.upsert(makeRecord("aaa"));
    interfere = true;
    const registry = await Registry.open(root, { fs: faulty });
    const outcome = await registry.update("aaa", (r) => ({
      ...r,
      data: { ...r.data, instance_name: "ours" },
    }));
    assert.deepEqual(outcome, { status: "updated" });
    const record = await registry.get("aaa");
    assert.equal(record?.data.instance_name, "ours");
    assert.deepEqual(record?.data.tags, ["from-rust"]);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("a file created under a creating upsert is merged into, not replaced", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    let interfere = true;
    const faulty = {
      ...fs,
      fsyncSync(fd: number) {
        fs.fsyncSync(fd);
        if (interfere) {
          interfere = false;
          const other = { ...makeRecord("aaa"), extra: "kept" };
          fs.writeFileSync(join(root, "aaa.json"), JSON.stringify(other, null, 2));
        }
      },
    };
    const registry = await Registry.open(root, { fs: faulty });
    assert.deepEqual(await registry.upsert(makeRecord("aaa", { instance_name: "ours" })), {
      status: "updated",
    });
    const record = await registry.get("aaa");
    assert.equal(record?.extra, "kept");
    assert.equal(record?.data.instance_name, "ours");
  });

  test("a file that changes on every attempt ends in CONFLICT with the file intact and no temp left", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const file = join(root, "aaa.json");
    let counter = 0;
    const faulty = {
      ...fs,
      fsyncSync(fd: number) {
        fs.fsyncSync(fd);
        if (fs.existsSync(file) && fs.fstatSync(fd).isFile()) {
          counter++;
          fs.writeFileSync(file, JSON.stringify({ ...makeRecord("aaa"), round: counter }, null, 2));
        }
      },
    };
    const plain = await Registry.open(root);
    await plain.upsert(makeRecord("aaa"));
    const registry = await Registry.open(root, { fs: faulty });
    await assert.rejects(
      registry.upsert(makeRecord("aaa", { instance_name: "never" })),
      (error: unknown) => error instanceof RegistryError && error.code === "CONFLICT",
    );
    assert.ok(counter >= 2);
    assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).round, counter);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });
});

describe("sweep of stale temp and lock files", () => {
  test("open() removes old temp files (ours and Rust's) and dead holders' locks, keeps fresh and live ones", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    fs.mkdirSync(join(root, "retired"), { recursive: true });
    const old = (name: string, content = "x") => {
      fs.writeFileSync(join(root, name), content);
      const when = new Date(Date.now() - 10 * 60_000);
      fs.utimesSync(join(root, name), when, when);
    };
    old(".tmp-aaa.123.abcdef");
    old(".registry-tmp-Xy12Ab.json");
    old(".lock-dead", `${deadPid()} ${hostname()} t\n`);
    old(".lock-live", `${process.pid} ${hostname()} t\n`);
    old(".lock-aaa.stale-0011");
    old(".migrated_from_sqlite", "migration_version: 2\n");
    old("keep.txt");
    fs.writeFileSync(join(root, ".tmp-bbb.1.fresh"), "x");
    fs.writeFileSync(join(root, "retired", ".tmp-ccc.1.old"), "x");
    const when = new Date(Date.now() - 10 * 60_000);
    fs.utimesSync(join(root, "retired", ".tmp-ccc.1.old"), when, when);

    const registry = await Registry.open(root);
    assert.deepEqual(namesIn(root), [
      ".lock-live",
      ".migrated_from_sqlite",
      ".tmp-bbb.1.fresh",
      "keep.txt",
      "retired",
    ]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
    assert.deepEqual(registry.sweep(0).removed, [".tmp-bbb.1.fresh"]);
  });
});

describe("lock holder file", () => {
  const holderNames = (root: string) =>
    fs.readdirSync(root).filter((name) => name.startsWith(".lockholder-"));

  /** An fs that counts exclusive creates, and can refuse hard links. */
  function countingFs(refuseLinks?: string) {
    const count = { exclusiveCreates: 0, links: 0 };
    const ops = {
      ...fs,
      openSync: ((path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
        if (typeof flags === "number" && (flags & fs.constants.O_EXCL) !== 0)
          count.exclusiveCreates++;
        return fs.openSync(path, flags ?? "r", mode);
      }) as typeof fs.openSync,
      linkSync: ((existing: fs.PathLike, target: fs.PathLike) => {
        count.links++;
        if (refuseLinks) throw Object.assign(new Error(refuseLinks), { code: refuseLinks });
        fs.linkSync(existing, target);
      }) as typeof fs.linkSync,
    };
    return { count, ops };
  }

  test("every lock is a hard link to one holder file: a write creates no lock inode", async (t) => {
    const { count, ops } = countingFs();
    const { registry, root } = await tempRegistry(t, { fs: ops });
    let lockIno: number | undefined;
    await registry.upsert(makeRecord("aaa"));
    await registry.update("aaa", (record) => {
      lockIno = fs.statSync(join(root, ".lock-aaa")).ino;
      return record;
    });
    for (let i = 0; i < 10; i++) await registry.upsert(makeRecord(`r${i}`));
    const [holder] = holderNames(root);
    assert.ok(holder);
    assert.equal(lockIno, fs.statSync(join(root, holder)).ino);
    assert.match(fs.readFileSync(join(root, holder), "utf8"), new RegExp(`^${process.pid} `));
    // 12 locks (one per operation) are 12 links; 11 writes (the update changed nothing) are 11
    // temp files, and the holder file is the only other exclusive create.
    assert.deepEqual(count, { exclusiveCreates: 12, links: 12 });
    assert.deepEqual(
      namesIn(root).filter((name) => name.startsWith(".")),
      [],
    );
  });

  test("where hard links are refused, locks are created as files, and links are not tried again", async (t) => {
    const { count, ops } = countingFs("EPERM");
    const { registry, root } = await tempRegistry(t, { fs: ops });
    await registry.upsert(makeRecord("aaa"));
    let lockContent = "";
    await registry.update("aaa", (record) => {
      lockContent = fs.readFileSync(join(root, ".lock-aaa"), "utf8");
      return record;
    });
    await registry.upsert(makeRecord("bbb"));
    assert.match(lockContent, new RegExp(`^${process.pid} ${hostname()} [0-9a-f]{16}\n$`));
    assert.equal(count.links, 1, "one refused link, then lock files");
    assert.equal((await registry.get("bbb"))?.data.instance_id, "bbb");
  });

  test("a holder file removed under a live registry is made again", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    const [first] = holderNames(root);
    fs.unlinkSync(join(root, first as string));
    await registry.upsert(makeRecord("bbb"));
    const [second] = holderNames(root);
    assert.ok(second && second !== first);
    assert.equal((await registry.get("bbb"))?.data.instance_id, "bbb");
  });

  test("close() removes the holder file; a later write makes a new one", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    assert.equal(holderNames(root).length, 1);
    registry.close();
    assert.deepEqual(fs.readdirSync(root).sort(), ["aaa.json", "retired"]);
    await registry.upsert(makeRecord("bbb"));
    assert.equal(holderNames(root).length, 1);
    registry.close();
    assert.deepEqual(holderNames(root), []);
  });

  test("close() while a lock is held: the write completes, and the descriptor closes with the lock", async (t) => {
    if (!fs.existsSync("/proc/self/fd")) return t.skip("needs /proc/self/fd");
    const openFds = () => fs.readdirSync("/proc/self/fd").length;
    const { registry, root } = await tempRegistry(t);
    const before = openFds();
    await registry.upsert(makeRecord("aaa"));
    assert.equal(openFds(), before + 1, "the holder file stays open between writes");
    let duringLock = 0;
    await registry.update("aaa", (record) => {
      registry.close();
      duringLock = openFds();
      record.data.instance_name = "renamed";
      return record;
    });
    assert.equal(duringLock, before + 1, "kept open while its lock is held");
    assert.equal(openFds(), before);
    assert.deepEqual(fs.readdirSync(root).sort(), ["aaa.json", "retired"]);
    assert.equal((await registry.get("aaa"))?.data.instance_name, "renamed");
  });

  test("a process that exits removes its holder file; the sweep removes a dead one's", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const child = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { Registry } = await import(${JSON.stringify(new URL("../src/index.ts", import.meta.url).href)});
         const registry = await Registry.open(process.argv[1], { agentsBase: process.argv[2] });
         await registry.upsert(${JSON.stringify(makeRecord("aaa"))});`,
        root,
        join(dir, "agents"),
      ],
      { encoding: "utf8", cwd: join(import.meta.dirname, "..") },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(fs.readdirSync(root).sort(), ["aaa.json", "retired"]);

    // A holder file left by a process killed before its exit: swept once it is old enough.
    const dead = join(root, ".lockholder-0123456789abcdef");
    fs.writeFileSync(dead, `${deadPid()} ${hostname()} 0123456789abcdef\n`);
    const live = join(root, ".lockholder-fedcba9876543210");
    fs.writeFileSync(live, `${process.pid} ${hostname()} fedcba9876543210\n`);
    const registry = await Registry.open(root, { sweepOnOpen: false });
    assert.deepEqual(registry.sweep(0).removed, [".lockholder-0123456789abcdef"]);
    assert.ok(fs.existsSync(live));
  });
});
