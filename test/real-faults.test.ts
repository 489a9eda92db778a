/**
 * Faults from the real kernel, where this machine allows them (root, tmpfs mounts, chattr):
 * a full disk, an immutable target, an immutable directory. Each must leave the target
 * byte-identical, no temp file behind, and surface an `IO` error naming the errno. Skipped where
 * the privileges are missing; the injectable-fs tests cover the same paths everywhere.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { Registry, RegistryError } from "../src/index.js";
import { makeRecord, namesIn, tempDir } from "./helpers.js";

function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const isRoot = process.getuid?.() === 0;

/**
 * Registers the undo of a privileged change before the temp dir exists: after-hooks run in
 * registration order, and the dir can only be removed once the change is undone.
 */
function undoLater(t: TestContext): (command: string, args: string[]) => void {
  const undos: [string, string[]][] = [];
  t.after(() => {
    for (const [command, args] of undos) tryRun(command, args);
  });
  return (command, args) => undos.push([command, args]);
}

const ioErrorWith = (errno: string) => (error: unknown) =>
  error instanceof RegistryError && error.code === "IO" && error.data.errno === errno;

describe("real faults", () => {
  test("ENOSPC on a full tmpfs leaves the record intact and no temp behind", async (t) => {
    const undo = undoLater(t);
    const dir = tempDir(t);
    const mount = join(dir, "small");
    mkdirSync(mount);
    if (!isRoot || !tryRun("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount])) {
      t.skip("cannot mount a tmpfs here");
      return;
    }
    undo("umount", [mount]);
    const root = join(mount, "registry");
    const registry = await Registry.open(root);
    await registry.upsert(makeRecord("aaa"));
    const before = readFileSync(join(root, "aaa.json"));
    // Fill every free block.
    try {
      writeFileSync(join(mount, "filler"), Buffer.alloc(1024 * 1024));
    } catch {
      // ENOSPC: the filler took what there was.
    }
    const big = makeRecord("aaa", { instance_name: "x".repeat(8_000) });
    await assert.rejects(registry.upsert(big), ioErrorWith("ENOSPC"));
    await assert.rejects(
      registry.upsert(makeRecord("bbb", { instance_name: "y".repeat(8_000) })),
      ioErrorWith("ENOSPC"),
    );
    assert.deepEqual(readFileSync(join(root, "aaa.json")), before);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
    // The registry keeps its lock holder file open between writes: close it, or umount fails.
    registry.close();
    assert.deepEqual(readdirSync(root).sort(), ["aaa.json", "retired"]);
  });

  test("EPERM renaming over an immutable record leaves it intact and no temp behind", async (t) => {
    const undo = undoLater(t);
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root);
    await registry.upsert(makeRecord("aaa"));
    const file = join(root, "aaa.json");
    if (!isRoot || !tryRun("chattr", ["+i", file])) {
      t.skip("chattr +i is not available here");
      return;
    }
    undo("chattr", ["-i", file]);
    const before = readFileSync(file);
    await assert.rejects(
      registry.upsert(makeRecord("aaa", { instance_name: "changed" })),
      ioErrorWith("EPERM"),
    );
    await assert.rejects(registry.retire("aaa"), ioErrorWith("EPERM"));
    assert.deepEqual(readFileSync(file), before);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
    assert.deepEqual(namesIn(join(root, "retired")), []);
  });

  test("an immutable registry directory refuses the write with a clear IO error", async (t) => {
    const undo = undoLater(t);
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root);
    await registry.upsert(makeRecord("aaa"));
    if (!isRoot || !tryRun("chattr", ["+i", root])) {
      t.skip("chattr +i is not available here");
      return;
    }
    undo("chattr", ["-i", root]);
    const before = readFileSync(join(root, "aaa.json"));
    await assert.rejects(
      registry.upsert(makeRecord("aaa", { instance_name: "changed" })),
      ioErrorWith("EPERM"),
    );
    assert.deepEqual(readFileSync(join(root, "aaa.json")), before);
    assert.deepEqual(namesIn(root), ["aaa.json", "retired"]);
  });
});
