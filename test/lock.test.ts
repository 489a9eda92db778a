import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry, RegistryError } from "../src/index.js";
import {
  makeRecord,
  namesIn,
  runScriptWithDeadline,
  SRC_INDEX,
  tempDir,
  tempRegistry,
} from "./helpers.js";

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

/**
 * No lock of any version is ever anything but a regular file; a FIFO, directory, socket or symlink
 * at `.lock-<id>` is junk (or hostile), and no holder will ever remove it.
 */
describe("odd entries at a lock path", () => {
  const isInvalidLock = (kind: string) => (error: unknown) =>
    error instanceof RegistryError &&
    error.code === "INVALID_LOCK" &&
    error.data.kind === kind &&
    String(error.data.path).endsWith(".lock-aaa");

  /**
   * Runs `script` (ESM, with `Registry`, `RegistryService`, `root` in scope) in a child process
   * and returns what it printed last as JSON. A child that blocks is killed: the test then fails
   * with "blocked" instead of hanging the suite.
   */
  function runChild(script: string, root: string, timeoutMs = 20_000): Record<string, unknown> {
    const child = runScriptWithDeadline(
      `const { Registry, RegistryService } = await import(${JSON.stringify(SRC_INDEX)});
         const root = process.argv[1];
         const out = {};
         const attempt = async (name, work) => {
           const started = Date.now();
           try { out[name] = { ok: await work() }; }
           catch (error) { out[name] = { code: error.code, kind: error.data?.kind, message: error.message }; }
           out[name].ms = Date.now() - started;
         };
         ${script}
         console.log(JSON.stringify(out));`,
      [root],
      timeoutMs,
    );
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout.trim().split("\n").pop() as string);
  }

  const mkfifo = (path: string) => spawnSync("mkfifo", [path]).status === 0;

  test("a FIFO at the lock path: writes fail at once with INVALID_LOCK, nothing blocks (writes, sweep, doctor)", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    fs.mkdirSync(join(root, "retired"), { recursive: true });
    if (!mkfifo(join(root, ".lock-aaa")) || !mkfifo(join(root, ".lock-bbb"))) {
      t.skip("mkfifo is not available");
      return;
    }
    fs.writeFileSync(join(root, "aaa.json"), `${JSON.stringify(makeRecord("aaa"), null, 2)}\n`);
    const record = JSON.stringify(makeRecord("aaa"));
    const out = runChild(
      `const registry = await Registry.open(root, { lockTimeoutMs: 5000 });
       await attempt("upsert", () => registry.upsert(${record}));
       await attempt("update", () => registry.update("aaa", (r) => r));
       await attempt("retire", () => registry.retire("aaa"));
       await attempt("hardDelete", () => registry.hardDelete("aaa"));
       await attempt("get", async () => (await registry.get("aaa"))?.data.instance_id);
       // A directory listing that calls everything a file, as one taken before a FIFO replaced
       // a lock file would: the sweep opens .lock-bbb and must not block on it.
       const { readdirSync } = await import("node:fs");
       const fsOps = { ...(await import("node:fs")), readdirSync: (path, options) =>
         readdirSync(path, options).map((entry) => Object.assign(entry, { isFile: () => true })) };
       await attempt("lyingSweep", async () => {
         const lying = await Registry.open(root, { fs: fsOps, sweepAfterMs: 1 });
         return lying.staleFiles(0).length + lying.sweep(0).removed.length;
       });
       const service = new RegistryService(registry, { version: "1" });
       await attempt("doctor", async () => (await service.doctor()).problems.map((p) => p.kind + ":" + p.subject + ":" + p.fix));
       await attempt("fix", async () => (await service.doctor({ fix: true })).fixed);
       await attempt("after", async () => (await registry.upsert(${record})).status);`,
      root,
    );
    for (const op of ["upsert", "update", "retire", "hardDelete"]) {
      const result = out[op] as { code: string; kind: string; ms: number; message: string };
      assert.equal(result.code, "INVALID_LOCK", `${op}: ${JSON.stringify(result)}`);
      assert.equal(result.kind, "fifo");
      assert.ok(result.ms < 2_000, `${op} failed at once, not after the lock timeout`);
      assert.match(result.message, /\.lock-aaa is a fifo/);
    }
    assert.deepEqual(out.get, { ok: "aaa", ms: (out.get as { ms: number }).ms });
    assert.deepEqual((out.lyingSweep as { ok: number }).ok, 0);
    const doctor = (out.doctor as { ok: string[] }).ok;
    assert.ok(
      doctor.some((p) => p.startsWith("odd-entry:.lock-aaa:") && p.includes("doctor --fix")),
      JSON.stringify(doctor),
    );
    assert.deepEqual((out.fix as { ok: string[] }).ok.sort(), [".lock-aaa", ".lock-bbb"]);
    assert.equal((out.after as { ok: string }).ok, "updated");
  });

  test("a directory, a symlink or a socket at the lock path: INVALID_LOCK at once, and it is left as it was", async (t) => {
    const { registry, root, dir } = await tempRegistry(t, { lockTimeoutMs: 5_000 });
    const lock = join(root, ".lock-aaa");
    const target = join(dir, "elsewhere");
    fs.writeFileSync(target, `${process.pid} ${hostname()} feedface\n`);
    const cases: [string, () => void, () => void][] = [
      ["directory", () => fs.mkdirSync(lock), () => fs.rmdirSync(lock)],
      [
        "directory",
        () => {
          fs.mkdirSync(lock);
          fs.writeFileSync(join(lock, "data"), "keep me");
        },
        () => {
          assert.equal(fs.readFileSync(join(lock, "data"), "utf8"), "keep me");
          fs.rmSync(lock, { recursive: true });
        },
      ],
      ["symlink", () => fs.symlinkSync(target, lock), () => fs.unlinkSync(lock)],
      ["symlink", () => fs.symlinkSync(join(dir, "missing"), lock), () => fs.unlinkSync(lock)],
      ["symlink", () => fs.symlinkSync(dir, lock), () => fs.unlinkSync(lock)],
    ];
    for (const [kind, make, check] of cases) {
      make();
      const started = Date.now();
      await assert.rejects(registry.upsert(makeRecord("aaa")), isInvalidLock(kind));
      await assert.rejects(registry.retire("aaa"), isInvalidLock(kind));
      assert.ok(Date.now() - started < 2_000);
      assert.ok(!fs.existsSync(join(root, "aaa.json")), "nothing was written");
      check();
    }
    assert.equal(fs.readFileSync(target, "utf8"), `${process.pid} ${hostname()} feedface\n`);

    const { createServer } = await import("node:net");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(lock, resolve));
    t.after(() => server.close());
    await assert.rejects(registry.upsert(makeRecord("aaa")), isInvalidLock("socket"));
  });

  test("doctor reports every odd entry at a reserved name; --fix removes only those that hold nothing", async (t) => {
    const { registry, root, dir } = await tempRegistry(t);
    await registry.upsert(makeRecord("aaa"));
    await registry.upsert(makeRecord("bbb"));
    const keep = join(dir, "keep.json");
    fs.writeFileSync(keep, "the target of a symlink");
    fs.mkdirSync(join(root, ".lock-empty"));
    fs.mkdirSync(join(root, ".lock-full"));
    fs.writeFileSync(join(root, ".lock-full", "data"), "keep me");
    fs.symlinkSync(keep, join(root, ".lock-link"));
    fs.symlinkSync(join(dir, "missing"), join(root, ".lockholder-dangling"));
    fs.writeFileSync(join(root, ".lock-foreign"), "this is not a lock\n");
    fs.writeFileSync(join(root, ".lock-aaa"), `${process.pid} ${hostname()} feedface\n`);
    fs.mkdirSync(join(root, "retired", ".tmp-x.1.dir"));
    const fifo = mkfifo(join(root, ".lock-fifo"));
    const before = fs.readFileSync(join(root, "aaa.json"));

    const { RegistryService } = await import("../src/index.js");
    const service = new RegistryService(registry, { version: "1" });
    const odd = (report: { problems: { kind: string; subject: string; fix: string }[] }) =>
      Object.fromEntries(
        report.problems.filter((p) => p.kind === "odd-entry").map((p) => [p.subject, p.fix]),
      );
    const found = odd(await service.doctor());
    assert.deepEqual(Object.keys(found).sort(), [
      ".lock-empty",
      ...(fifo ? [".lock-fifo"] : []),
      ".lock-foreign",
      ".lock-full",
      ".lock-link",
      ".lockholder-dangling",
      "retired/.tmp-x.1.dir",
    ]);
    assert.match(found[".lock-empty"] as string, /doctor --fix/);
    assert.match(found[".lock-full"] as string, /move what is in/);
    assert.match(found[".lock-foreign"] as string, /remove it/);
    assert.ok(fs.existsSync(join(root, ".lock-empty")), "doctor without --fix changes nothing");

    const fixed = await service.doctor({ fix: true });
    assert.deepEqual(fixed.fixed.sort(), [
      ".lock-empty",
      ...(fifo ? [".lock-fifo"] : []),
      ".lock-link",
      ".lockholder-dangling",
      "retired/.tmp-x.1.dir",
    ]);
    assert.deepEqual(Object.keys(odd(fixed)).sort(), [".lock-foreign", ".lock-full"]);
    assert.equal(fs.readFileSync(join(root, ".lock-full", "data"), "utf8"), "keep me");
    assert.equal(fs.readFileSync(keep, "utf8"), "the target of a symlink");
    assert.ok(fs.existsSync(join(root, ".lock-aaa")), "a live lock is never removed");
    assert.ok(fs.existsSync(join(root, ".lock-foreign")), "content we do not know is kept");
    assert.deepEqual(fs.readFileSync(join(root, "aaa.json")), before);
    assert.ok(fs.existsSync(join(root, "bbb.json")));
  });

  test("a lock file this process may not read (EACCES) is waited on and judged by age, not an IO error", async (t) => {
    // The lock and its name after a takeover's rename aside: the same unreadable file.
    const denied = (path: fs.PathLike) => String(path).includes(".lock-aaa");
    const ops = {
      ...fs,
      openSync: ((path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
        if (denied(path) && typeof flags === "number" && (flags & fs.constants.O_CREAT) === 0)
          throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), {
            code: "EACCES",
          });
        return fs.openSync(path, flags ?? "r", mode);
      }) as typeof fs.openSync,
    };
    const { registry, root } = await tempRegistry(t, {
      fs: ops,
      lockTimeoutMs: 300,
      lockStaleMs: 60_000,
    });
    const lock = plantLock(root, "aaa", process.pid);
    await assert.rejects(
      registry.upsert(makeRecord("aaa")),
      (error: unknown) => error instanceof RegistryError && error.code === "LOCK_TIMEOUT",
    );
    assert.ok(fs.existsSync(lock));
    // Not refreshed for longer than lockStaleMs: taken over like any other holder's.
    const when = new Date(Date.now() - 120_000);
    fs.utimesSync(lock, when, when);
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });

  test("an entry the sweep cannot remove (EACCES at rename) is logged and left; open() still works", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    fs.mkdirSync(join(root, "retired"), { recursive: true });
    const lock = plantLock(root, "dead", deadPid(), 10 * 60_000);
    const ops = {
      ...fs,
      renameSync: ((from: fs.PathLike, to: fs.PathLike) => {
        if (String(from).endsWith(".lock-dead"))
          throw Object.assign(new Error("EACCES: injected"), { code: "EACCES" });
        fs.renameSync(from, to);
      }) as typeof fs.renameSync,
    };
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn(_: object, message: string) {
        warnings.push(message);
      },
      error() {},
    };
    const registry = await Registry.open(root, { fs: ops, logger });
    assert.ok(fs.existsSync(lock));
    assert.ok(
      warnings.some((w) => w.includes(".lock-dead") && w.includes("EACCES")),
      warnings.join("\n"),
    );
    assert.deepEqual(await registry.upsert(makeRecord("aaa")), { status: "created" });
  });
});
