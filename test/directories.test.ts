/**
 * Making the registry's and the agents' directories: owner-only, bounded, and never a hang.
 * Node's recursive `mkdirSync` spins forever where `mkdir` answers ENOENT under a parent that
 * exists (`/proc/self/x`), so each case that could hang runs in a child with a deadline.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { makeDirectories } from "../src/io/files.js";
import { realFs } from "../src/io/fs.js";
import { runScriptWithDeadline, SRC_INDEX, tempDir } from "./helpers.js";

describe("makeDirectories", () => {
  test("creates every missing level owner-only and returns the first one it made", (t) => {
    const dir = tempDir(t);
    const path = join(dir, "a", "b", "c");
    assert.equal(makeDirectories(realFs, path), join(dir, "a"));
    for (const level of ["a", "a/b", "a/b/c"])
      assert.equal(statSync(join(dir, level)).mode & 0o777, 0o700, level);
    assert.equal(makeDirectories(realFs, path), undefined, "nothing new the second time");
  });

  test("a file in the way is IO (ENOTDIR), and nothing is created", (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "file"), "x");
    assert.throws(
      () => makeDirectories(realFs, join(dir, "file", "sub")),
      (error: unknown) =>
        (error as { code?: string; data?: { errno?: string } }).code === "IO" &&
        (error as { data: { errno?: string } }).data.errno === "ENOTDIR",
    );
    assert.equal(existsSync(join(dir, "file", "sub")), false);
  });

  test("a directory that appears meanwhile counts as made", (t) => {
    const dir = tempDir(t);
    const racing = {
      ...realFs,
      mkdirSync: ((path: string, options: unknown) => {
        mkdirSync(path);
        return realFs.mkdirSync(path, options as { mode: number });
      }) as typeof realFs.mkdirSync,
    };
    assert.doesNotThrow(() => makeDirectories(racing, join(dir, "x")));
    assert.ok(statSync(join(dir, "x")).isDirectory());
  });
});

describe("directories the kernel refuses without saying EEXIST", {
  skip: !existsSync("/proc/self") && "no /proc here",
}, () => {
  test("Registry.open under /proc/self fails with IO instead of spinning", () => {
    const result = runScriptWithDeadline(`
      import { Registry } from ${JSON.stringify(SRC_INDEX)};
      try {
        await Registry.open("/proc/self/registry-test/registry");
        console.log("opened");
      } catch (error) {
        console.log(error.code);
      }
    `);
    assert.equal(result.stdout.trim(), "IO", result.stderr);
  });

  test("createAgent with an agents base under /proc/self fails with IO and writes no record", (t) => {
    const root = join(tempDir(t), "registry");
    const result = runScriptWithDeadline(`
      import { Registry, RegistryService } from ${JSON.stringify(SRC_INDEX)};
      const registry = await Registry.open(${JSON.stringify(root)}, { agentsBase: "/proc/self/agents-test" });
      const service = new RegistryService(registry, { version: "1.0.0" });
      try {
        await service.createAgent({ name: "x", definitionId: "claude-code" });
        console.log("created");
      } catch (error) {
        console.log(error.code);
      }
      console.log((await registry.listActive()).length);
    `);
    assert.deepEqual(result.stdout.trim().split("\n"), ["IO", "0"], result.stderr);
  });
});
