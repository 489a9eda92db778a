/**
 * Generative test of the store's listing on a generated hostile tree: random entries in the root
 * and in `retired/` — regular files, directories (empty or not), symlinks (to a file, a directory,
 * nowhere, themselves), FIFOs, unix sockets; modes 000, 200, 400, 600, 644; sizes 0 to just over
 * 1 MiB; odd, hidden, non-`.json`, unicode and very long names, and the names reserved for lock,
 * holder, temp and marker files; valid records and garbage — plus file-system faults injected
 * through `FsOps` (EACCES, EPERM, EIO, EINVAL at open, fstat, read or lstat), since this suite
 * runs as root, for whom modes do not apply.
 *
 * Property: `Registry.open`, `listActive`, `listRetired`, `scan`, `get` of every candidate and
 * the service's `doctor()` never throw (`get`: only `INVALID_ID`/`INVALID_FILE`), never block,
 * account for every candidate file, report an injected fault as `unreadable`, and change nothing
 * (every entry's type, mode, size, bytes and link target are the same before and after).
 *
 * A blocking open would freeze the event loop, and with it any in-process timeout: so the property
 * runs in a child process (this same file, with FUZZ_CHILD set), which the test kills after a
 * deadline. Fixed seed; the child prints the seed and counterexample on failure, and its progress,
 * so a hang names the run it hung in.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as nodeFs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { MAX_FILE_BYTES } from "../src/core/schema.js";
import { Registry, RegistryError, RegistryService } from "../src/index.js";
import type { FsOps } from "../src/io/fs.js";
import { makeRecord } from "./helpers.js";

const SEED = 20261130;
const RUNS = 60;
const DEADLINE_MS = 90_000;

// ---------------------------------------------------------------------------------------------

type Fault = { stage: "open" | "fstat" | "read" | "lstat"; code: string };

type Kind =
  | { type: "file"; content: "valid" | "garbage" | "empty" | "huge" | "lock" | "bom" }
  | { type: "dir"; withContent: boolean }
  | { type: "link"; to: "file" | "dir" | "dangling" | "loop" }
  | { type: "fifo" }
  | { type: "socket" };

interface Entry {
  tree: "" | "retired";
  name: string;
  kind: Kind;
  mode: number;
  fault: Fault | null;
}

const stems = fc.oneof(
  fc.constantFrom(
    "aaa",
    "bbb",
    "CON",
    "nul.x",
    "x.",
    "-",
    "a b",
    "..",
    "é",
    "e\u0301",
    "日本語",
    "🙂",
    "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001",
    "a".repeat(128),
    "a".repeat(129),
  ),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
);

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: stems.map((stem) => `${stem}.json`) },
  { weight: 1, arbitrary: fc.constant(".json") },
  { weight: 1, arbitrary: fc.constant(`${"b".repeat(250)}.json`) },
  { weight: 1, arbitrary: stems.map((stem) => `.${stem}.json`) },
  { weight: 1, arbitrary: stems.map((stem) => `${stem}.txt`) },
  { weight: 2, arbitrary: stems.map((stem) => `.lock-${stem}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      ".lockholder-0123456789abcdef",
      ".tmp-aaa.123.abc",
      ".registry-tmp-Xy12Ab.json",
      ".lock-aaa.stale-001122",
      ".migrated_from_sqlite",
      ".service-token",
    ),
  },
);

const kindArb: fc.Arbitrary<Kind> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .constantFrom("valid", "valid", "garbage", "empty", "huge", "lock", "bom")
      .map((content) => ({ type: "file" as const, content })),
  },
  {
    weight: 2,
    arbitrary: fc.boolean().map((withContent) => ({ type: "dir" as const, withContent })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("file", "dir", "dangling", "loop")
      .map((to) => ({ type: "link" as const, to })),
  },
  { weight: 1, arbitrary: fc.constant({ type: "fifo" as const }) },
  { weight: 1, arbitrary: fc.constant({ type: "socket" as const }) },
);

const faultArb: fc.Arbitrary<Fault | null> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc.record({
      stage: fc.constantFrom("open", "open", "fstat", "read", "lstat"),
      code: fc.constantFrom("EACCES", "EPERM", "EIO", "EINVAL"),
    }),
  },
);

const entryArb: fc.Arbitrary<Entry> = fc.record({
  tree: fc.constantFrom("" as const, "" as const, "retired" as const),
  name: nameArb,
  kind: kindArb,
  mode: fc.constantFrom(0o000, 0o200, 0o400, 0o600, 0o644),
  fault: faultArb,
});

function contentFor(name: string, content: Extract<Kind, { type: "file" }>["content"]): Buffer {
  const stem = name.endsWith(".json") ? name.slice(0, -5) : name;
  const valid = `${JSON.stringify(makeRecord(stem), null, 2)}\n`;
  switch (content) {
    case "valid":
      return Buffer.from(valid);
    case "garbage":
      return Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x22, 0xc3]);
    case "empty":
      return Buffer.alloc(0);
    case "huge":
      return Buffer.concat([
        Buffer.from(valid),
        Buffer.alloc(MAX_FILE_BYTES + 1 - valid.length, 32),
      ]);
    case "lock":
      return Buffer.from(`${process.pid} localhost-fuzz 0123456789abcdef\n`);
    case "bom":
      return Buffer.from(`\ufeff${valid}`);
  }
}

/** Plants the entries; returns the ones that were made (a name can be taken only once). */
function plant(root: string, outside: string, entries: Entry[]): Entry[] {
  const made: Entry[] = [];
  const fifos: string[] = [];
  const sockets: string[] = [];
  const taken = new Set<string>();
  for (const entry of entries) {
    const path = join(root, entry.tree, entry.name);
    if (taken.has(path)) continue;
    taken.add(path);
    const { kind } = entry;
    try {
      if (kind.type === "file") nodeFs.writeFileSync(path, contentFor(entry.name, kind.content));
      else if (kind.type === "dir") {
        nodeFs.mkdirSync(path);
        if (kind.withContent) nodeFs.writeFileSync(join(path, "inner.json"), "{}");
      } else if (kind.type === "link") {
        const target = {
          file: join(outside, "aaa.json"),
          dir: outside,
          dangling: join(outside, "missing.json"),
          loop: path,
        }[kind.to];
        nodeFs.symlinkSync(target, path);
      } else if (kind.type === "fifo") fifos.push(path);
      else sockets.push(path);
    } catch (error) {
      // A name the file system refuses (too long in bytes): not planted.
      if ((error as NodeJS.ErrnoException).code === "ENAMETOOLONG") continue;
      throw error;
    }
    made.push(entry);
  }
  if (fifos.length > 0) {
    const result = spawnSync("mkfifo", fifos);
    if (result.status !== 0) throw new Error(`mkfifo failed: ${result.stderr}`);
  }
  if (sockets.length > 0) {
    const script =
      "import socket, sys\nfor p in sys.argv[1:]:\n  s = socket.socket(socket.AF_UNIX)\n  s.bind(p)";
    const result = spawnSync("python3", ["-c", script, ...sockets]);
    if (result.status !== 0) {
      // No python: make them plain FIFOs instead, which are as hostile to an open.
      spawnSync("mkfifo", sockets);
    }
  }
  for (const entry of made) {
    const path = join(root, entry.tree, entry.name);
    if (entry.kind.type === "file" || entry.kind.type === "dir" || entry.kind.type === "fifo") {
      nodeFs.chmodSync(path, entry.mode);
    }
  }
  return made;
}

/** Every entry under `dir` (not followed): type, mode, size, content hash, link target. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string, rel: string) => {
    for (const name of nodeFs.readdirSync(at)) {
      const path = join(at, name);
      const key = rel ? `${rel}/${name}` : name;
      const stat = nodeFs.lstatSync(path);
      const head = `${stat.mode.toString(8)}:${stat.size}:${stat.mtimeMs}:${stat.ino}`;
      if (stat.isSymbolicLink()) out.set(key, `link:${head}:${nodeFs.readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        out.set(key, `dir:${head}`);
        walk(path, key);
      } else if (stat.isFile()) {
        const hash = createHash("sha256").update(nodeFs.readFileSync(path)).digest("hex");
        out.set(key, `file:${head}:${hash}`);
      } else out.set(key, `special:${head}`);
    }
  };
  walk(dir, "");
  return out;
}

function injected(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault, ${syscall}`), { code, syscall });
}

/** Real fs, with each entry's fault (if any) injected at its stage, keyed by path. */
function faultyFs(faults: Map<string, Fault>): FsOps {
  const byFd = new Map<number, Fault>();
  const faultAt = (path: unknown, stage: Fault["stage"]) => {
    const fault = faults.get(String(path));
    return fault?.stage === stage ? fault : undefined;
  };
  return {
    ...nodeFs,
    openSync: ((path: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode | null) => {
      const fault = faultAt(path, "open");
      if (fault) throw injected(fault.code, "open");
      const fd = nodeFs.openSync(path, flags ?? "r", mode);
      const any = faults.get(String(path));
      if (any) byFd.set(fd, any);
      return fd;
    }) as FsOps["openSync"],
    closeSync: (fd: number) => {
      byFd.delete(fd);
      nodeFs.closeSync(fd);
    },
    fstatSync: ((fd: number, options?: nodeFs.StatOptions) => {
      const fault = byFd.get(fd);
      if (fault?.stage === "fstat") throw injected(fault.code, "fstat");
      return nodeFs.fstatSync(fd, options);
    }) as FsOps["fstatSync"],
    readSync: ((fd: number, ...rest: unknown[]) => {
      const fault = byFd.get(fd);
      if (fault?.stage === "read") throw injected(fault.code, "read");
      return (nodeFs.readSync as (...args: unknown[]) => number)(fd, ...rest);
    }) as FsOps["readSync"],
    lstatSync: ((path: nodeFs.PathLike, options?: nodeFs.StatOptions) => {
      const fault = faultAt(path, "lstat");
      if (fault) throw injected(fault.code, "lstat");
      return nodeFs.lstatSync(path, options);
    }) as FsOps["lstatSync"],
  };
}

async function runProperty(): Promise<void> {
  const base = nodeFs.mkdtempSync(join(tmpdir(), "amr-fuzz-"));
  const outside = join(base, "outside");
  nodeFs.mkdirSync(outside);
  nodeFs.writeFileSync(join(outside, "aaa.json"), `${JSON.stringify(makeRecord("aaa"))}\n`);
  const home = join(base, "home");
  nodeFs.mkdirSync(home);
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 24 }), async (entries) => {
        const dir = join(base, `r${run++}`);
        const root = join(dir, "registry");
        nodeFs.mkdirSync(join(root, "retired"), { recursive: true });
        const made = plant(root, outside, entries);
        process.stderr.write(
          `run ${run}: ${made.map((e) => `${e.tree}/${e.name}:${e.kind.type}${e.fault ? `!${e.fault.stage}:${e.fault.code}` : ""}`).join(" ")}\n`,
        );
        const faults = new Map<string, Fault>();
        for (const entry of made) {
          if (entry.fault) faults.set(join(root, entry.tree, entry.name), entry.fault);
        }
        const before = snapshot(base);

        const registry = await Registry.open(root, {
          fs: faultyFs(faults),
          agentsBase: join(dir, "agents"),
        });
        await registry.listActive();
        await registry.listRetired();
        const scan = await registry.scan();
        const service = new RegistryService(registry, { version: "0.0.0", home });
        const report = await service.doctor();
        assert.ok(Array.isArray(report.problems));
        for (const name of nodeFs.readdirSync(root)) {
          if (!name.endsWith(".json") || name.startsWith(".")) continue;
          try {
            await registry.get(name.slice(0, -5));
          } catch (error) {
            assert.ok(
              error instanceof RegistryError && ["INVALID_ID", "INVALID_FILE"].includes(error.code),
              `get(${name}) threw ${String(error)}`,
            );
          }
        }
        registry.close();
        assert.deepEqual(snapshot(base), before, "nothing on disk changed");

        // Every candidate (`*.json`, not hidden) is a record or a skip with a reason.
        const accounted = new Map<string, string>();
        for (const record of scan.active) accounted.set(`${record.data.instance_id}.json`, "ok");
        for (const record of scan.retired) {
          accounted.set(`retired/${record.data.instance_id}.json`, "ok");
        }
        for (const skipped of scan.skipped) {
          assert.ok(skipped.reason && skipped.message, "every skip has a reason and a message");
          accounted.set(skipped.file, skipped.reason);
        }
        for (const tree of ["", "retired"] as const) {
          for (const name of nodeFs.readdirSync(join(root, tree))) {
            const file = tree ? `${tree}/${name}` : name;
            const candidate = name.endsWith(".json") && !name.startsWith(".");
            assert.equal(accounted.has(file), candidate, file);
            if (!candidate) continue;
            const stat = nodeFs.lstatSync(join(root, tree, name));
            const fault = faults.get(join(root, tree, name));
            if (!stat.isFile()) {
              assert.equal(accounted.get(file), "not-regular-file", file);
            } else if (
              fault &&
              fault.stage !== "lstat" &&
              // A read fault fires only when there is something to read within the limit.
              (fault.stage !== "read" || (stat.size > 0 && stat.size <= MAX_FILE_BYTES))
            ) {
              assert.equal(accounted.get(file), "unreadable", `${file} with ${fault.code}`);
            }
          }
        }
        assert.equal(
          accounted.size,
          scan.active.length + scan.retired.length + scan.skipped.length,
        );
        for (const problem of report.problems) assert.ok(problem.fix, problem.message);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    console.log(`fuzz: ${RUNS} runs ok`);
  } finally {
    nodeFs.rmSync(base, { recursive: true, force: true });
  }
}

// Last: the arbitraries above must exist before the child runs the property.
if (process.env.FUZZ_CHILD === "1") {
  await runProperty();
} else {
  test("a hostile tree: listings and doctor never throw, never block, and change nothing", () => {
    const started = Date.now();
    const child = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
      encoding: "utf8",
      env: { ...process.env, FUZZ_CHILD: "1" },
      timeout: DEADLINE_MS,
      killSignal: "SIGKILL",
      maxBuffer: 64 * 1024 * 1024,
    });
    const tail = `${child.stdout.slice(-4000)}\n${child.stderr.slice(-4000)}`;
    assert.notEqual(
      child.signal,
      "SIGKILL",
      `blocked: no result within ${DEADLINE_MS} ms (seed ${SEED}); last output:\n${tail}`,
    );
    assert.equal(child.status, 0, `property failed (seed ${SEED}):\n${tail}`);
    assert.match(child.stdout, new RegExp(`fuzz: ${RUNS} runs ok`));
    // About 10 s on an idle machine; not asserted, so a loaded machine cannot make it flaky.
    console.log(`hostile tree fuzz: ${RUNS} runs in ${Date.now() - started} ms`);
  });
}
