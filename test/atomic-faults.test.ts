/**
 * Fault injection through the injectable fs (SPEC §5 "Atomic replace"): whatever primitive fails,
 * the error is `IO`, the target keeps its old bytes (or stays absent), no temp file is left behind
 * and no descriptor leaks; once the fault is gone the same operation succeeds.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { type FsOps, Registry, RegistryError } from "../src/index.js";
import { TEMP_PREFIX } from "../src/io/files.js";
import { HOLDER_PREFIX, LOCK_PREFIX } from "../src/io/lock.js";
import { makeRecord, namesIn, tempDir } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// A file system whose primitives fail on demand

type FaultPoint =
  | "create-temp"
  | "write"
  | "fsync-temp"
  | "close-temp"
  | "rename"
  | "fsync-dir"
  | "link"
  | "create-lock"
  | "write-lock";

interface Fault {
  code: string;
  /** Calls that still succeed before the fault fires. */
  skip: number;
  /** How many more times it fires. */
  remaining: number;
}

const injected = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** What a descriptor was opened for, from the name the registry gave the file. */
type FdKind = "temp" | "lock" | "holder" | "other";

function kindOf(path: fs.PathLike, flags: fs.OpenMode | undefined): FdKind {
  const exclusive = typeof flags === "number" && (flags & fs.constants.O_EXCL) !== 0;
  if (!exclusive) return "other";
  const name = basename(String(path));
  if (name.startsWith(TEMP_PREFIX)) return "temp";
  if (name.startsWith(LOCK_PREFIX)) return "lock";
  if (name.startsWith(HOLDER_PREFIX)) return "holder";
  return "other";
}

class FaultyFs {
  private readonly faults = new Map<FaultPoint, Fault>();
  /** Descriptors opened through this fs and not closed yet (not the lock holder's, kept open). */
  readonly openFds = new Set<number>();
  /** What each open descriptor is: temp files and lock files are created with O_CREAT|O_EXCL. */
  private readonly kinds = new Map<number, FdKind>();
  /** When set, every write to a temp file writes at most this many bytes. */
  shortWrite = 0;
  readonly calls: Record<FaultPoint, number> = {
    "create-temp": 0,
    write: 0,
    "fsync-temp": 0,
    "close-temp": 0,
    rename: 0,
    "fsync-dir": 0,
    link: 0,
    "create-lock": 0,
    "write-lock": 0,
  };

  arm(point: FaultPoint, code: string, options: { times?: number; skip?: number } = {}): void {
    this.faults.set(point, {
      code,
      skip: options.skip ?? 0,
      remaining: options.times ?? Number.POSITIVE_INFINITY,
    });
  }

  disarm(): void {
    this.faults.clear();
  }

  private fire(point: FaultPoint): void {
    this.calls[point]++;
    const fault = this.faults.get(point);
    if (fault === undefined) return;
    if (fault.skip > 0) {
      fault.skip--;
      return;
    }
    if (fault.remaining <= 0) return;
    fault.remaining--;
    throw injected(fault.code);
  }

  readonly ops: FsOps = {
    ...fs,
    openSync: ((path: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
      // openSync also reads records and opens directories: only the exclusive creates can fail.
      const kind = kindOf(path, flags);
      if (kind === "temp") this.fire("create-temp");
      // Creating the lock holder file is the first lock's creation.
      if (kind === "lock" || kind === "holder") this.fire("create-lock");
      const fd = fs.openSync(path, flags ?? "r", mode);
      if (kind !== "holder") this.openFds.add(fd);
      this.kinds.set(fd, kind);
      return fd;
    }) as FsOps["openSync"],
    closeSync: (fd: number) => {
      const kind = this.kinds.get(fd);
      this.openFds.delete(fd);
      this.kinds.delete(fd);
      // close(2) releases the descriptor even when it reports an error.
      fs.closeSync(fd);
      if (kind === "temp") this.fire("close-temp");
    },
    writeSync: ((fd: number, buffer: NodeJS.ArrayBufferView, offset?: number, length?: number) => {
      const kind = this.kinds.get(fd);
      if (kind === "lock" || kind === "holder") this.fire("write-lock");
      if (kind === "temp") {
        this.fire("write");
        if (this.shortWrite > 0 && offset !== undefined && length !== undefined) {
          return fs.writeSync(fd, buffer, offset, Math.min(length, this.shortWrite));
        }
      }
      return fs.writeSync(fd, buffer, offset, length);
    }) as FsOps["writeSync"],
    fsyncSync: (fd: number) => {
      const kind = this.kinds.get(fd);
      if (kind === "temp") this.fire("fsync-temp");
      else if (fs.fstatSync(fd).isDirectory()) this.fire("fsync-dir");
      fs.fsyncSync(fd);
    },
    renameSync: (from: fs.PathLike, to: fs.PathLike) => {
      // Records only: a stale lock being moved aside is not a record rename.
      if (!basename(String(from)).startsWith(LOCK_PREFIX)) this.fire("rename");
      fs.renameSync(from, to);
    },
    linkSync: (existing: fs.PathLike, target: fs.PathLike) => {
      // Linking the holder file to a lock name takes a record lock; other links move records.
      if (basename(String(existing)).startsWith(HOLDER_PREFIX)) this.fire("create-lock");
      else this.fire("link");
      fs.linkSync(existing, target);
    },
  };
}

interface Harness {
  registry: Registry;
  faulty: FaultyFs;
  root: string;
  retired: string;
  /** Every delay the rename retry asked for. */
  sleeps: number[];
}

async function harness(
  t: Parameters<typeof tempDir>[0],
  platform: NodeJS.Platform = "linux",
): Promise<Harness> {
  const dir = tempDir(t);
  const root = join(dir, "registry");
  const faulty = new FaultyFs();
  const sleeps: number[] = [];
  const registry = await Registry.open(root, {
    agentsBase: join(dir, "agents"),
    // A lock left behind fails fast instead of after the default 10 s.
    lockTimeoutMs: 1000,
    fs: faulty.ops,
    platform,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { registry, faulty, root, retired: join(root, "retired"), sleeps };
}

/** An existing record written by a newer version: unknown fields, tokens JS cannot hold. */
const RECORD_WITH_UNKNOWN_FIELDS = `{
  "schema_version": 1,
  "written_by": {"tool": "agentmux", "build": 12345678901234567890},
  "data": {
    "instance_id": "aaa",
    "instance_name": "future",
    "definition_id": "gemini",
    "identity_id": "agenta",
    "memory_id": null,
    "working_dir": "future-0002",
    "created_at_ms": 1747049400000,
    "last_launched_at_ms": 1747061640000,
    "created_by_version": "0.40.0",
    "last_launched_by_version": "0.40.0",
    "tags": ["pinned", "long-running"],
    "weight": 1.0,
    "ratio": 1E5,
    "label": "caf\\u00e9 \\ud83d\\ude80"
  }
}
`;

/** A bystander record that must never be touched. */
const OTHER = "other";

function seedExisting(h: Harness): void {
  fs.writeFileSync(join(h.root, "aaa.json"), RECORD_WITH_UNKNOWN_FIELDS, { mode: 0o600 });
}

function seedBystander(h: Harness): Buffer {
  const text = `${JSON.stringify(makeRecord(OTHER), null, 2)}\n`;
  fs.writeFileSync(join(h.root, `${OTHER}.json`), text, { mode: 0o600 });
  return Buffer.from(text);
}

const readOrNull = (file: string): Buffer | null =>
  fs.existsSync(file) ? fs.readFileSync(file) : null;

/** Rejects with a RegistryError of `code` whose `data.errno` is `errno`. */
async function rejectsWithIo(promise: Promise<unknown>, errno: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RegistryError, `not a RegistryError: ${String(error)}`);
    assert.equal(error.code, "IO");
    assert.equal(error.data.errno, errno);
    return true;
  });
}

/** The root holds exactly `names` (hidden names included): no temp file, nothing else. */
function assertOnlyEntries(h: Harness, names: string[], retiredNames: string[] = []): void {
  assert.deepEqual(namesIn(h.root), [...names, "retired"].sort());
  assert.deepEqual(namesIn(h.retired), [...retiredNames].sort());
}

// ---------------------------------------------------------------------------------------------

type Operation = "create" | "update" | "upsert-merge";

const OPERATIONS: Record<
  Operation,
  {
    setup: (h: Harness) => void;
    run: (h: Harness) => Promise<unknown>;
    succeeded: { status: string };
    check: (text: string) => void;
  }
> = {
  create: {
    setup: () => {},
    run: (h) => h.registry.upsert(makeRecord("aaa", { last_launched_at_ms: 42 })),
    succeeded: { status: "created" },
    check: (text) => assert.match(text, /"last_launched_at_ms": 42,/),
  },
  update: {
    setup: seedExisting,
    run: (h) =>
      h.registry.update("aaa", (record) => {
        record.data.last_launched_at_ms = 42;
        return record;
      }),
    succeeded: { status: "updated" },
    check: (text) => {
      assert.match(text, /"last_launched_at_ms": 42,/);
      assert.match(text, /"build": 12345678901234567890\b/);
      assert.match(text, /"weight": 1\.0,/);
      assert.match(text, /"ratio": 1E5,/);
    },
  },
  "upsert-merge": {
    setup: seedExisting,
    run: (h) => h.registry.upsert(makeRecord("aaa", { last_launched_at_ms: 42 })),
    succeeded: { status: "updated" },
    check: (text) => {
      assert.match(text, /"last_launched_at_ms": 42,/);
      assert.match(text, /"build": 12345678901234567890\b/);
      assert.match(text, /"tags": \[/);
    },
  },
};

interface FaultCase {
  name: string;
  point: FaultPoint;
  code: string;
  skip?: number;
  shortWrite?: number;
}

const FAULTS: FaultCase[] = [
  {
    name: "exclusive create of the temp file fails (EMFILE)",
    point: "create-temp",
    code: "EMFILE",
  },
  {
    name: "exclusive create of the temp file fails (EACCES)",
    point: "create-temp",
    code: "EACCES",
  },
  { name: "write fails (ENOSPC)", point: "write", code: "ENOSPC" },
  {
    name: "write fails after a partial write (ENOSPC)",
    point: "write",
    code: "ENOSPC",
    skip: 2,
    shortWrite: 64,
  },
  { name: "fsync of the temp file fails (EIO)", point: "fsync-temp", code: "EIO" },
  { name: "close of the temp file fails (EIO)", point: "close-temp", code: "EIO" },
  { name: "rename fails (EPERM)", point: "rename", code: "EPERM" },
  { name: "rename fails (EXDEV)", point: "rename", code: "EXDEV" },
  { name: "rename fails (EIO)", point: "rename", code: "EIO" },
];

describe("a failed atomic write leaves the target intact and no temp file", () => {
  for (const [operation, op] of Object.entries(OPERATIONS) as [
    Operation,
    (typeof OPERATIONS)[Operation],
  ][]) {
    for (const fault of FAULTS) {
      test(`${operation}: ${fault.name} → IO, target unchanged, no temp, no leaked fd; retry succeeds`, async (t) => {
        const h = await harness(t);
        op.setup(h);
        const bystander = seedBystander(h);
        const target = join(h.root, "aaa.json");
        const before = readOrNull(target);
        const namesBefore = namesIn(h.root).filter((name) => name !== "retired");

        h.faulty.arm(fault.point, fault.code, fault.skip === undefined ? {} : { skip: fault.skip });
        h.faulty.shortWrite = fault.shortWrite ?? 0;
        await rejectsWithIo(op.run(h), fault.code);
        // The fault really fired at the point under test.
        assert.ok(h.faulty.calls[fault.point] > (fault.skip ?? 0));

        assert.deepEqual(readOrNull(target), before);
        assert.deepEqual(fs.readFileSync(join(h.root, `${OTHER}.json`)), bystander);
        assertOnlyEntries(h, namesBefore);
        assert.equal(h.faulty.openFds.size, 0, "a descriptor leaked");
        assert.deepEqual(h.sleeps, [], "linux never retries a rename");
        // Readers still see the old state.
        if (before === null) assert.equal(await h.registry.get("aaa"), null);
        else assert.equal((await h.registry.get("aaa"))?.data.last_launched_at_ms, 1747061640000);

        h.faulty.disarm();
        assert.deepEqual(await op.run(h), op.succeeded);
        const text = fs.readFileSync(target, "utf8");
        op.check(text);
        assert.equal((await h.registry.get("aaa"))?.data.last_launched_at_ms, 42);
        assertOnlyEntries(h, [...new Set([...namesBefore, "aaa.json"])]);
        assert.equal(h.faulty.openFds.size, 0);
      });
    }
  }
});

describe("short writes", () => {
  for (const chunk of [1, 7, 100]) {
    test(`writes of at most ${chunk} byte(s) per call still produce the complete file`, async (t) => {
      const h = await harness(t);
      seedExisting(h);
      h.faulty.shortWrite = chunk;
      assert.deepEqual(await OPERATIONS.update.run(h), { status: "updated" });
      const text = fs.readFileSync(join(h.root, "aaa.json"), "utf8");
      OPERATIONS.update.check(text);
      assert.ok(h.faulty.calls.write >= Math.ceil(text.length / chunk) - 1);
      assert.deepEqual(await h.registry.upsert(makeRecord("bbb", { last_launched_at_ms: 7 })), {
        status: "created",
      });
      // Byte-for-byte what a whole-buffer write produces.
      const fresh = await harness(t);
      await fresh.registry.upsert(makeRecord("bbb", { last_launched_at_ms: 7 }));
      assert.deepEqual(
        fs.readFileSync(join(h.root, "bbb.json")),
        fs.readFileSync(join(fresh.root, "bbb.json")),
      );
      assertOnlyEntries(h, ["aaa.json", "bbb.json"]);
    });
  }
});

describe("Windows rename retry", () => {
  for (const code of ["EPERM", "EACCES", "EBUSY"]) {
    for (const operation of ["create", "update"] as const) {
      test(`win32: ${operation} whose rename fails with ${code} twice is retried and succeeds`, async (t) => {
        const h = await harness(t, "win32");
        OPERATIONS[operation].setup(h);
        h.faulty.arm("rename", code, { times: 2 });
        assert.deepEqual(await OPERATIONS[operation].run(h), OPERATIONS[operation].succeeded);
        assert.equal(h.sleeps.length, 2);
        assert.equal(h.faulty.calls.rename, 3);
        OPERATIONS[operation].check(fs.readFileSync(join(h.root, "aaa.json"), "utf8"));
        assertOnlyEntries(h, ["aaa.json"]);
      });
    }
  }

  test("win32: a rename that always fails with EBUSY gives up after about 2 s of backoff → IO", async (t) => {
    const h = await harness(t, "win32");
    seedExisting(h);
    const before = fs.readFileSync(join(h.root, "aaa.json"));
    h.faulty.arm("rename", "EBUSY");
    await rejectsWithIo(OPERATIONS.update.run(h), "EBUSY");
    const total = h.sleeps.reduce((sum, ms) => sum + ms, 0);
    assert.ok(total >= 1500 && total <= 3000, `slept ${total} ms in total`);
    assert.ok(h.faulty.calls.rename >= 3 && h.faulty.calls.rename <= 40, "bounded attempts");
    assert.equal(h.faulty.calls.rename, h.sleeps.length + 1);
    assert.ok(h.sleeps.every((ms) => ms > 0 && ms <= 1000));
    assert.deepEqual(fs.readFileSync(join(h.root, "aaa.json")), before);
    assertOnlyEntries(h, ["aaa.json"]);
    assert.equal(h.faulty.openFds.size, 0);
  });

  test("win32: a rename that always fails on a create gives up → IO, nothing created", async (t) => {
    const h = await harness(t, "win32");
    h.faulty.arm("rename", "EACCES");
    await rejectsWithIo(OPERATIONS.create.run(h), "EACCES");
    assertOnlyEntries(h, []);
  });

  test("win32: a rename failing with a non-retryable code (EXDEV) is not retried", async (t) => {
    const h = await harness(t, "win32");
    h.faulty.arm("rename", "EXDEV");
    await rejectsWithIo(OPERATIONS.create.run(h), "EXDEV");
    assert.deepEqual(h.sleeps, []);
    assert.equal(h.faulty.calls.rename, 1);
    assertOnlyEntries(h, []);
  });

  for (const code of ["EPERM", "EACCES", "EBUSY"]) {
    test(`linux: a rename failing with ${code} is not retried`, async (t) => {
      const h = await harness(t, "linux");
      seedExisting(h);
      const before = fs.readFileSync(join(h.root, "aaa.json"));
      h.faulty.arm("rename", code, { times: 1 });
      await rejectsWithIo(OPERATIONS.update.run(h), code);
      assert.deepEqual(h.sleeps, []);
      assert.equal(h.faulty.calls.rename, 1);
      assert.deepEqual(fs.readFileSync(join(h.root, "aaa.json")), before);
      assertOnlyEntries(h, ["aaa.json"]);
    });
  }
});

describe("moves", () => {
  test("retire whose rename fails → IO, the active file stays byte-identical, no tombstone", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    const before = fs.readFileSync(join(h.root, "aaa.json"));
    h.faulty.arm("rename", "EIO");
    await rejectsWithIo(h.registry.retire("aaa"), "EIO");
    assert.deepEqual(fs.readFileSync(join(h.root, "aaa.json")), before);
    assertOnlyEntries(h, ["aaa.json"], []);
    assert.equal(await h.registry.existsAnywhere("aaa"), true);
    h.faulty.disarm();
    assert.deepEqual(await h.registry.retire("aaa"), { moved: true });
    assertOnlyEntries(h, [], ["aaa.json"]);
    assert.deepEqual(fs.readFileSync(join(h.retired, "aaa.json")), before);
  });

  test("retire over an existing tombstone whose rename fails leaves both files as they were", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    const active = fs.readFileSync(join(h.root, "aaa.json"));
    const tombstone = Buffer.from(`${JSON.stringify(makeRecord("aaa"), null, 2)}\n`);
    fs.writeFileSync(join(h.retired, "aaa.json"), tombstone);
    h.faulty.arm("rename", "EPERM");
    await rejectsWithIo(h.registry.retire("aaa"), "EPERM");
    assert.deepEqual(fs.readFileSync(join(h.root, "aaa.json")), active);
    assert.deepEqual(fs.readFileSync(join(h.retired, "aaa.json")), tombstone);
  });

  test("win32: retire retries a busy rename and then succeeds", async (t) => {
    const h = await harness(t, "win32");
    seedExisting(h);
    h.faulty.arm("rename", "EBUSY", { times: 2 });
    assert.deepEqual(await h.registry.retire("aaa"), { moved: true });
    assert.equal(h.sleeps.length, 2);
    assertOnlyEntries(h, [], ["aaa.json"]);
  });

  test("unretire whose link fails → IO, the tombstone stays, no active file appears", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    await h.registry.retire("aaa");
    const tombstone = fs.readFileSync(join(h.retired, "aaa.json"));
    h.faulty.arm("link", "EIO");
    await rejectsWithIo(h.registry.unretire("aaa"), "EIO");
    assert.deepEqual(fs.readFileSync(join(h.retired, "aaa.json")), tombstone);
    assertOnlyEntries(h, [], ["aaa.json"]);
    h.faulty.disarm();
    assert.deepEqual(await h.registry.unretire("aaa"), { moved: true });
    assertOnlyEntries(h, ["aaa.json"], []);
  });

  test("unretire on a file system without hard links falls back to a rename; its failure → IO", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    await h.registry.retire("aaa");
    const tombstone = fs.readFileSync(join(h.retired, "aaa.json"));
    h.faulty.arm("link", "EPERM");
    h.faulty.arm("rename", "EIO");
    await rejectsWithIo(h.registry.unretire("aaa"), "EIO");
    assert.deepEqual(fs.readFileSync(join(h.retired, "aaa.json")), tombstone);
    assertOnlyEntries(h, [], ["aaa.json"]);
    h.faulty.disarm();
    h.faulty.arm("link", "EPERM");
    assert.deepEqual(await h.registry.unretire("aaa"), { moved: true });
    assert.deepEqual(fs.readFileSync(join(h.root, "aaa.json")), tombstone);
    assertOnlyEntries(h, ["aaa.json"], []);
  });
});

describe("record lock faults", () => {
  for (const operation of ["create", "update"] as const) {
    test(`${operation}: creating the record lock fails (EACCES) → IO before any temp file, nothing left`, async (t) => {
      const h = await harness(t);
      OPERATIONS[operation].setup(h);
      const before = readOrNull(join(h.root, "aaa.json"));
      const names = namesIn(h.root).filter((name) => name !== "retired");
      h.faulty.arm("create-lock", "EACCES");
      await rejectsWithIo(OPERATIONS[operation].run(h), "EACCES");
      assert.equal(h.faulty.calls["create-temp"], 0, "no write started without the lock");
      assert.deepEqual(readOrNull(join(h.root, "aaa.json")), before);
      assertOnlyEntries(h, names);
      h.faulty.disarm();
      assert.deepEqual(await OPERATIONS[operation].run(h), OPERATIONS[operation].succeeded);
    });

    test(`${operation}: writing the record lock fails (ENOSPC) → IO, the half-made lock is removed`, async (t) => {
      const h = await harness(t);
      OPERATIONS[operation].setup(h);
      const before = readOrNull(join(h.root, "aaa.json"));
      const names = namesIn(h.root).filter((name) => name !== "retired");
      h.faulty.arm("write-lock", "ENOSPC");
      await rejectsWithIo(OPERATIONS[operation].run(h), "ENOSPC");
      assert.equal(h.faulty.calls["create-temp"], 0);
      assert.deepEqual(readOrNull(join(h.root, "aaa.json")), before);
      assertOnlyEntries(h, names);
      assert.equal(h.faulty.openFds.size, 0, "a descriptor leaked");
      h.faulty.disarm();
      // A lock left behind would make this wait for LOCK_TIMEOUT instead.
      assert.deepEqual(await OPERATIONS[operation].run(h), OPERATIONS[operation].succeeded);
    });
  }

  test("retire whose lock cannot be created → IO, nothing moved", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    h.faulty.arm("create-lock", "EIO");
    await rejectsWithIo(h.registry.retire("aaa"), "EIO");
    assertOnlyEntries(h, ["aaa.json"], []);
  });
});

describe("directory fsync", () => {
  for (const code of ["EINVAL", "ENOTSUP"]) {
    test(`a directory fsync failing with ${code} is tolerated: the write succeeds`, async (t) => {
      const h = await harness(t);
      h.faulty.arm("fsync-dir", code);
      assert.deepEqual(await OPERATIONS.create.run(h), { status: "created" });
      assert.ok(h.faulty.calls["fsync-dir"] >= 1, "the directory was fsynced");
      OPERATIONS.create.check(fs.readFileSync(join(h.root, "aaa.json"), "utf8"));
      assertOnlyEntries(h, ["aaa.json"]);
      assert.equal(h.faulty.openFds.size, 0);
      // Moves tolerate it too.
      assert.deepEqual(await h.registry.retire("aaa"), { moved: true });
    });
  }

  test("a directory fsync failing with EIO surfaces as IO, with no temp left and no fd leaked", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    h.faulty.arm("fsync-dir", "EIO");
    await rejectsWithIo(OPERATIONS.update.run(h), "EIO");
    // The rename had happened: the file holds the complete new bytes, never a mix.
    OPERATIONS.update.check(fs.readFileSync(join(h.root, "aaa.json"), "utf8"));
    assertOnlyEntries(h, ["aaa.json"]);
    assert.equal(h.faulty.openFds.size, 0);
  });

  test("a retire whose directory fsync fails with EIO surfaces as IO", async (t) => {
    const h = await harness(t);
    seedExisting(h);
    h.faulty.arm("fsync-dir", "EIO");
    await rejectsWithIo(h.registry.retire("aaa"), "EIO");
    assert.equal(h.faulty.openFds.size, 0);
  });

  test("win32 never opens a directory to fsync it", async (t) => {
    const h = await harness(t, "win32");
    await OPERATIONS.create.run(h);
    await h.registry.retire("aaa");
    assert.equal(h.faulty.calls["fsync-dir"], 0);
  });
});

// ---------------------------------------------------------------------------------------------
// A real full disk: a tiny tmpfs in a private mount namespace (needs CAP_SYS_ADMIN; skipped
// where that is not available). Nothing is mounted outside the child process.

const CHILD = `
import * as fs from "node:fs";
import { basename, join } from "node:path";
const { Registry, RegistryError } = await import(process.env.AMR_SRC);
const root = join(process.env.AMR_MNT, "registry");
const registry = await Registry.open(root, { agentsBase: join(process.env.AMR_MNT, "agents") });
fs.writeFileSync(join(root, "aaa.json"), process.env.AMR_RECORD);
const before = fs.readFileSync(join(root, "aaa.json"));
// Fill the file system.
const filler = join(process.env.AMR_MNT, "filler");
const chunk = Buffer.alloc(4096, 120);
const fd = fs.openSync(filler, "w");
try { for (;;) fs.writeSync(fd, chunk); } catch (error) { if (error.code !== "ENOSPC") throw error; }
fs.closeSync(fd);
// Give back one page: enough for the record's lock file, not for the temp file as well, so the
// failure is the temp write's.
fs.truncateSync(filler, fs.statSync(filler).size - 4096);
const attempt = async (run) => {
  try { return { outcome: await run() }; }
  catch (error) {
    if (!(error instanceof RegistryError)) return { code: String(error) };
    return { code: error.code, errno: error.data.errno, op: error.data.op };
  }
};
const change = (record) => { record.data.last_launched_at_ms = 42; return record; };
const record = {
  data: {
    instance_id: "bbb", instance_name: "b", definition_id: "d", working_dir: "b-wd",
    created_at_ms: 1, last_launched_at_ms: 2, created_by_version: "", last_launched_by_version: "",
  },
};
const result = {};
result.update = await attempt(() => registry.update("aaa", change));
result.create = await attempt(() => registry.upsert(record));
result.intact = fs.readFileSync(join(root, "aaa.json")).equals(before);
// This live process's lock holder file is not a leftover.
const names = () => fs.readdirSync(root).filter((name) => !name.startsWith(".lockholder-")).sort();
result.names = names();
fs.unlinkSync(filler);
result.retryUpdate = await attempt(() => registry.update("aaa", change));
result.retryCreate = await attempt(() => registry.upsert(record));
result.namesAfter = names();
process.stdout.write(JSON.stringify(result));
`;

describe("a real full disk", () => {
  test("ENOSPC on a full tmpfs → IO, target intact, no temp; after freeing space the writes succeed", (t) => {
    if (process.platform !== "linux") return t.skip("needs Linux mount namespaces");
    const probe = spawnSync("unshare", ["--mount", "--propagation", "private", "true"]);
    if (probe.error !== undefined || probe.status !== 0) {
      return t.skip("unshare --mount is not permitted here (needs CAP_SYS_ADMIN)");
    }
    const mnt = tempDir(t);
    const script = [
      'mount -t tmpfs -o size=64k,nr_inodes=64 tmpfs "$AMR_MNT" || exit 99',
      `exec "${process.execPath}" --import tsx --input-type=module -e "$AMR_CHILD"`,
    ].join(" && ");
    const child = spawnSync(
      "unshare",
      ["--mount", "--propagation", "private", "sh", "-c", script],
      {
        cwd: join(import.meta.dirname, ".."),
        env: {
          ...process.env,
          AMR_MNT: mnt,
          AMR_CHILD: CHILD,
          AMR_RECORD: RECORD_WITH_UNKNOWN_FIELDS,
          AMR_SRC: pathToFileURL(join(import.meta.dirname, "..", "src", "index.ts")).href,
        },
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    if (child.status === 99) return t.skip("mounting a tmpfs is not permitted here");
    assert.equal(child.status, 0, child.stderr);
    const result = JSON.parse(child.stdout);
    assert.deepEqual(result.update, { code: "IO", errno: "ENOSPC", op: "write" });
    assert.deepEqual(result.create, { code: "IO", errno: "ENOSPC", op: "write" });
    assert.equal(result.intact, true);
    assert.deepEqual(result.names, ["aaa.json", "retired"]);
    assert.deepEqual(result.retryUpdate, { outcome: { status: "updated" } });
    assert.deepEqual(result.retryCreate, { outcome: { status: "created" } });
    assert.deepEqual(result.namesAfter, ["aaa.json", "bbb.json", "retired"]);
    // The mount lived only in the child's namespace.
    assert.deepEqual(fs.readdirSync(mnt), []);
  });
});
