import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Registry } from "../src/index.js";
import { TreeReader } from "../src/io/tree-reader.js";
import { makeRecord, tempDir } from "./helpers.js";

const text = (id: string, name = `name-${id}`) =>
  `${JSON.stringify(makeRecord(id, { instance_name: name }), null, 2)}\n`;
const tick = () => new Promise((resolve) => setTimeout(resolve, 30));

/** An fs that counts file reads, to see what a listing really opened. */
function countingFs() {
  const counter = { reads: 0 };
  const counted = {
    ...fs,
    readSync: ((...args: Parameters<typeof fs.readSync>) => {
      counter.reads++;
      return fs.readSync(...args);
    }) as typeof fs.readSync,
  };
  return { counter, fs: counted };
}

function plant(dir: string, count: number): void {
  for (let i = 0; i < count; i++) fs.writeFileSync(join(dir, `r${i}.json`), text(`r${i}`));
}

/** What a brand-new reader (no cache) sees: the reference every cached listing must equal. */
function cold(dir: string) {
  const { records, skipped } = new TreeReader(fs, dir, "").read();
  return { records: records.map((r) => JSON.stringify(r)), skipped };
}

function warm(reader: TreeReader) {
  const { records, skipped } = reader.read();
  return { records: records.map((r) => JSON.stringify(r)), skipped };
}

describe("listing cache", () => {
  test("an unchanged, settled tree is listed without reading any file", (t) => {
    const dir = tempDir(t);
    plant(dir, 50);
    const { counter, fs: counted } = countingFs();
    const reader = new TreeReader(counted, dir, "", 0);
    assert.equal(reader.read().records.length, 50);
    const coldReads = counter.reads;
    assert.equal(coldReads, 50, "one read call per file: the size fstat gave ends it");
    assert.equal(reader.read().records.length, 50);
    assert.equal(counter.reads, coldReads, "the warm listing read nothing");
  });

  test("files changed within the racy window are read again every time", (t) => {
    const dir = tempDir(t);
    plant(dir, 10);
    const { counter, fs: counted } = countingFs();
    const reader = new TreeReader(counted, dir, "", 60_000);
    reader.read();
    const first = counter.reads;
    reader.read();
    assert.equal(counter.reads, first * 2, "nothing recent is trusted");
  });

  test("an in-place edit of the same size with the mtime put back is still seen (ctime)", async (t) => {
    const dir = tempDir(t);
    const path = join(dir, "aaa.json");
    fs.writeFileSync(path, text("aaa", "before"));
    // A fixed mtime to the nanosecond, set again after the edit: only the ctime can tell.
    const setMtime = () => execFileSync("touch", ["-m", "-d", "@1700000000.123456789", path]);
    setMtime();
    const reader = new TreeReader(fs, dir, "", 0);
    assert.equal(reader.read().records[0]?.data.instance_name, "before");
    const before = fs.statSync(path, { bigint: true });
    await tick();
    const fd = fs.openSync(path, "r+");
    fs.writeSync(fd, Buffer.from(text("aaa", "after!")), 0);
    fs.closeSync(fd);
    setMtime();
    const after = fs.statSync(path, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.equal(after.size, before.size);
    assert.equal(after.ino, before.ino);
    assert.equal(reader.read().records[0]?.data.instance_name, "after!");
  });

  test("created, deleted, replaced and corrupted files are all seen", async (t) => {
    const dir = tempDir(t);
    plant(dir, 3);
    const reader = new TreeReader(fs, dir, "", 0);
    reader.read();
    await tick();
    fs.writeFileSync(join(dir, "new.json"), text("new"));
    fs.rmSync(join(dir, "r0.json"));
    fs.writeFileSync(join(dir, "r1.json.tmp"), text("r1", "replaced"));
    fs.renameSync(join(dir, "r1.json.tmp"), join(dir, "r1.json"));
    fs.writeFileSync(join(dir, "r2.json"), "{ corrupt");
    assert.deepEqual(warm(reader), cold(dir));
    const listed = reader.read();
    assert.deepEqual(
      listed.records.map((r) => r.data.instance_name),
      ["name-new", "replaced"],
    );
    assert.deepEqual(
      listed.skipped.map((s) => [s.file, s.reason]),
      [["r2.json", "invalid-json"]],
    );
  });

  test("records from a listing are frozen: a caller cannot change what the next caller sees", async (t) => {
    const dir = tempDir(t);
    const registry = await Registry.open(dir);
    await registry.upsert(makeRecord("aaa"));
    const [record] = await registry.listActive();
    assert.ok(record);
    assert.throws(() => {
      (record.data as { instance_name: string }).instance_name = "mutated";
    }, TypeError);
    assert.equal((await registry.listActive())[0]?.data.instance_name, "name-aaa");
  });

  test("a cached listing always equals a cold one, whatever changes in between", async (t) => {
    const dir = tempDir(t);
    const outside = tempDir(t);
    fs.writeFileSync(join(outside, "x.json"), text("x"));
    const ids = ["a", "b", "c", "d", "e"];
    type Step =
      | { kind: "write"; id: string; name: string }
      | { kind: "edit-in-place"; id: string; name: string }
      | { kind: "delete" | "corrupt" | "symlink" | "dir"; id: string }
      | { kind: "list" };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        id: fc.constantFrom(...ids),
        name: fc.constantFrom("p", "q", "rr"),
      }),
      fc.record({
        kind: fc.constant("edit-in-place" as const),
        id: fc.constantFrom(...ids),
        name: fc.constantFrom("p", "q"),
      }),
      fc.record({
        kind: fc.constantFrom(
          "delete" as const,
          "corrupt" as const,
          "symlink" as const,
          "dir" as const,
        ),
        id: fc.constantFrom(...ids),
      }),
      fc.constant({ kind: "list" as const }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
        const root = join(dir, `run-${run++}`);
        fs.mkdirSync(root);
        const reader = new TreeReader(fs, root, "", 0);
        for (const s of steps) {
          const path = s.kind === "list" ? "" : join(root, `${s.id}.json`);
          if (s.kind !== "list") fs.rmSync(path, { recursive: true, force: true });
          if (s.kind === "write") fs.writeFileSync(path, text(s.id, s.name));
          else if (s.kind === "edit-in-place") {
            fs.writeFileSync(path, text(s.id, "zz"));
            reader.read();
            const { atime, mtime } = fs.statSync(path);
            await new Promise((resolve) => setTimeout(resolve, 5));
            fs.writeFileSync(path, text(s.id, s.name));
            fs.utimesSync(path, atime, mtime);
          } else if (s.kind === "corrupt") fs.writeFileSync(path, "{");
          else if (s.kind === "symlink") fs.symlinkSync(join(outside, "x.json"), path);
          else if (s.kind === "dir") fs.mkdirSync(path);
          else assert.deepEqual(warm(reader), cold(root));
        }
        assert.deepEqual(warm(reader), cold(root));
      }),
      { seed: 7, numRuns: 60 },
    );
  });
});
