import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry, RegistryError } from "../src/index.js";
import { makeRecord, namesIn, tempDir, tempRegistry } from "./helpers.js";

describe("importRecords (bulk creation)", () => {
  test("writes absent ids, never overwrites or resurrects, tombstones go to retired/", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("live", { instance_name: "kept" }));
    await registry.upsert(makeRecord("gone"));
    await registry.retire("gone");
    const live = fs.readFileSync(join(root, "live.json"));
    const progress: [number, number][] = [];
    const result = await registry.importRecords(
      [
        { record: makeRecord("live", { instance_name: "stale" }) },
        { record: makeRecord("gone") },
        { record: makeRecord("new-1") },
        { record: makeRecord("new-2"), retired: true },
      ],
      (done, total) => progress.push([done, total]),
    );
    assert.deepEqual(result, { written: 2, skippedExisting: 2 });
    assert.deepEqual(fs.readFileSync(join(root, "live.json")), live);
    assert.ok(!fs.existsSync(join(root, "gone.json")));
    assert.deepEqual(namesIn(root), ["live.json", "new-1.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), ["gone.json", "new-2.json"]);
    assert.deepEqual(progress, [[4, 4]]);
    assert.equal((await registry.get("new-1"))?.data.instance_name, "name-new-1");
  });

  test("an invalid record anywhere in the batch fails it before anything is written", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await assert.rejects(
      registry.importRecords([
        { record: makeRecord("ok-1") },
        { record: makeRecord("bad", { working_dir: "/abs" }) },
      ]),
      (error: unknown) => error instanceof RegistryError && error.code === "INVALID_RECORD",
    );
    await assert.rejects(
      registry.importRecords([{ record: makeRecord("ok-1") }, { record: makeRecord("../x") }]),
      (error: unknown) => error instanceof RegistryError && error.code === "INVALID_ID",
    );
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  test("a file that appears between the check and the link is kept and counted as existing", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const foreign = `${JSON.stringify(makeRecord("race", { instance_name: "theirs" }), null, 2)}\n`;
    const racing = {
      ...fs,
      linkSync(from: fs.PathLike, to: fs.PathLike) {
        if (String(to).endsWith("race.json")) fs.writeFileSync(to, foreign);
        return fs.linkSync(from, to);
      },
    };
    const registry = await Registry.open(root, { fs: racing });
    const result = await registry.importRecords([
      { record: makeRecord("race") },
      { record: makeRecord("calm") },
    ]);
    assert.deepEqual(result, { written: 1, skippedExisting: 1 });
    assert.equal(fs.readFileSync(join(root, "race.json"), "utf8"), foreign);
    assert.deepEqual(namesIn(root), ["calm.json", "race.json", "retired"]);
  });

  test("a flush failure writes no record and leaves no temp", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const failing = {
      ...fs,
      fsyncSync(fd: number) {
        if (fs.fstatSync(fd).isFile())
          throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
        return fs.fsyncSync(fd);
      },
    };
    const registry = await Registry.open(root, { fs: failing });
    await assert.rejects(
      registry.importRecords([{ record: makeRecord("a1") }, { record: makeRecord("a2") }]),
      (error: unknown) =>
        error instanceof RegistryError && error.code === "IO" && error.data.errno === "EIO",
    );
    assert.deepEqual(namesIn(root), ["retired"]);
  });

  test("without syncfs every temp is fsynced before the first link, one descriptor open at a time", async (t) => {
    const dir = tempDir(t);
    const events: string[] = [];
    let open = 0;
    let mostOpen = 0;
    const recording = {
      ...fs,
      openSync: ((...args: Parameters<typeof fs.openSync>) => {
        const fd = fs.openSync(...args);
        mostOpen = Math.max(mostOpen, ++open);
        return fd;
      }) as typeof fs.openSync,
      closeSync: (fd: number) => {
        open--;
        fs.closeSync(fd);
      },
      fsyncSync: (fd: number) => {
        if (fs.fstatSync(fd).isFile()) events.push("fsync");
        fs.fsyncSync(fd);
      },
      linkSync: (from: fs.PathLike, to: fs.PathLike) => {
        events.push("link");
        fs.linkSync(from, to);
      },
    };
    const registry = await Registry.open(join(dir, "registry"), { fs: recording });
    const items = Array.from({ length: 300 }, (_, i) => ({ record: makeRecord(`bulk-${i}`) }));
    assert.deepEqual(await registry.importRecords(items), { written: 300, skippedExisting: 0 });
    const firstLink = events.indexOf("link");
    assert.equal(events.slice(0, firstLink).filter((e) => e === "fsync").length, 300);
    assert.equal(events.slice(firstLink).includes("fsync"), false);
    assert.equal(mostOpen, 1);
    registry.close();
  });

  test("more records than one progress step are all written with the real file system", async (t) => {
    const { registry, root } = await tempRegistry(t);
    const items = Array.from({ length: 600 }, (_, i) => ({ record: makeRecord(`bulk-${i}`) }));
    const progress: number[] = [];
    const result = await registry.importRecords(items, (done) => progress.push(done));
    assert.deepEqual(progress, [256, 512, 600]);
    assert.deepEqual(result, { written: 600, skippedExisting: 0 });
    assert.equal(namesIn(root).filter((n) => n.endsWith(".json")).length, 600);
    assert.equal((await registry.scan()).skipped.length, 0);
    assert.equal(fs.statSync(join(root, "bulk-0.json")).mode & 0o777, 0o600);
  });
});
