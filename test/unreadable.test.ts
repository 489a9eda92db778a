/**
 * A record that cannot be read — EACCES, EPERM, EIO, EINVAL at open, stat or read — is one skipped
 * file (reason `unreadable`, its errno in the message), never a failed listing (SPEC §10): `list`,
 * `doctor`, `show` of another agent and `rename` keep working, and `get` of that very file is
 * `INVALID_FILE` naming the reason (SPEC §7).
 *
 * Faults are injected through the registry's `FsOps`; one test also makes a real unreadable file,
 * by running the registry in a child process as another user (tests run as root, for whom modes do
 * not apply), and is skipped with its reason where that is not possible.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as nodeFs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry, RegistryError, RegistryService } from "../src/index.js";
import type { FsOps } from "../src/io/fs.js";
import { TreeReader } from "../src/io/tree-reader.js";
import { makeRecord, tempDir, tempRegistry } from "./helpers.js";

const REPO = join(import.meta.dirname, "..");

type Stage = "open" | "fstat" | "read" | "lstat";

function injected(code: string, syscall: string, path = ""): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected fault, ${syscall} '${path}'`), {
    code,
    syscall,
    path,
  });
}

/** Real fs, except that `stage` fails with `code` for every path `hit` matches. */
function faultyFs(hit: (path: string) => boolean, stage: Stage, code: string): FsOps {
  const bad = new Set<number>();
  return {
    ...nodeFs,
    openSync: ((path: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode | null) => {
      if (hit(String(path)) && stage === "open") throw injected(code, "open", String(path));
      const fd = nodeFs.openSync(path, flags ?? "r", mode);
      if (hit(String(path))) bad.add(fd);
      return fd;
    }) as FsOps["openSync"],
    closeSync: (fd: number) => {
      bad.delete(fd);
      nodeFs.closeSync(fd);
    },
    fstatSync: ((fd: number, options?: nodeFs.StatOptions) => {
      if (bad.has(fd) && stage === "fstat") throw injected(code, "fstat");
      return nodeFs.fstatSync(fd, options);
    }) as FsOps["fstatSync"],
    readSync: ((fd: number, ...rest: unknown[]) => {
      if (bad.has(fd) && stage === "read") throw injected(code, "read");
      return (nodeFs.readSync as (...args: unknown[]) => number)(fd, ...rest);
    }) as FsOps["readSync"],
    lstatSync: ((path: nodeFs.PathLike, options?: nodeFs.StatOptions) => {
      if (hit(String(path)) && stage === "lstat") throw injected(code, "lstat", String(path));
      return nodeFs.lstatSync(path, options);
    }) as FsOps["lstatSync"],
  };
}

const isBad = (path: string) => path.endsWith(`${"/"}bad.json`);

async function plant(root: string): Promise<void> {
  const setup = await Registry.open(root);
  for (const id of ["bad", "good", "other"]) {
    await setup.upsert(makeRecord(id, { definition_id: id === "other" ? "good" : id }));
  }
  await setup.upsert(makeRecord("gone"));
  await setup.retire("gone");
  setup.close();
  // The retired tree gets an unreadable file too.
  nodeFs.copyFileSync(join(root, "bad.json"), join(root, "retired", "bad.json"));
}

function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of ["", "retired"]) {
    for (const name of nodeFs.readdirSync(join(root, rel))) {
      if (name.startsWith(".lockholder-")) continue;
      const path = join(root, rel, name);
      const stat = nodeFs.lstatSync(path);
      out[join(rel, name)] = stat.isFile() ? nodeFs.readFileSync(path, "base64") : "dir";
    }
  }
  return out;
}

const isInvalidFile = (reason: string, errno: string) => (error: unknown) =>
  error instanceof RegistryError &&
  error.code === "INVALID_FILE" &&
  error.data.reason === reason &&
  error.message.includes(errno);

describe("an unreadable record", () => {
  for (const [stage, code] of [
    ["open", "EACCES"],
    ["open", "EPERM"],
    ["open", "EIO"],
    ["open", "EINVAL"],
    ["fstat", "EIO"],
    ["read", "EIO"],
    ["read", "EISDIR"],
  ] as const) {
    test(`${code} at ${stage}: one skipped file (unreadable, ${code}); every listing, show, rename and doctor work`, async (t) => {
      const dir = tempDir(t);
      const root = join(dir, "registry");
      await plant(root);
      const before = snapshot(root);
      const registry = await Registry.open(root, {
        fs: faultyFs(isBad, stage, code),
        agentsBase: join(dir, "agents"),
      });
      const skippedEvents: string[] = [];
      registry.on("skipped", (file) => skippedEvents.push(`${file.file}:${file.reason}`));

      const active = await registry.listActive();
      assert.deepEqual(
        active.map((r) => r.data.instance_id),
        ["good", "other"],
      );
      assert.deepEqual(
        (await registry.listRetired()).map((r) => r.data.instance_id),
        ["gone"],
      );
      const scan = await registry.scan();
      assert.deepEqual(
        scan.skipped.map((s) => [s.file, s.reason]),
        [
          ["bad.json", "unreadable"],
          ["retired/bad.json", "unreadable"],
        ],
      );
      for (const skipped of scan.skipped) {
        assert.match(
          skipped.message,
          new RegExp(`${code} at ${stage === "fstat" ? "stat" : stage}`),
        );
      }
      assert.ok(skippedEvents.includes("bad.json:unreadable"));

      // show <that file>: INVALID_FILE naming the reason and the errno; show <another>: fine.
      await assert.rejects(registry.get("bad"), isInvalidFile("unreadable", code));
      assert.equal((await registry.get("good"))?.data.instance_id, "good");

      // Writes of the unreadable file refuse, with the same error, and leave it untouched.
      await assert.rejects(registry.upsert(makeRecord("bad")), isInvalidFile("unreadable", code));
      await assert.rejects(
        registry.update("bad", (r) => r),
        isInvalidFile("unreadable", code),
      );

      const service = new RegistryService(registry, { version: "9.9.9" });
      assert.equal(await service.renameAgent("good", "renamed"), 2);
      assert.deepEqual((await service.listNamedAgents()).map((r) => r.data.instance_name).sort(), [
        "renamed",
        "renamed",
      ]);
      const report = await service.doctor();
      const problems = report.problems.filter((p) => p.subject.endsWith("bad.json"));
      assert.equal(problems.length, 2);
      for (const problem of problems) {
        assert.equal(problem.kind, "skipped-file");
        assert.match(problem.message, /unreadable/);
        assert.match(problem.message, new RegExp(code));
        assert.match(problem.fix, /chmod 600/);
      }
      assert.equal(report.active, 2);

      const after = snapshot(root);
      for (const file of ["bad.json", "retired/bad.json", "retired/gone.json"]) {
        assert.equal(after[file], before[file], `${file} untouched`);
      }
      registry.close();
    });
  }

  test("a process-level error (EMFILE: out of descriptors) fails the listing with IO instead of hiding records", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    await plant(root);
    const registry = await Registry.open(root, { fs: faultyFs(isBad, "open", "EMFILE") });
    await assert.rejects(
      registry.listActive(),
      (error: unknown) => error instanceof RegistryError && error.code === "IO",
    );
  });

  test("an lstat error while checking a cached read re-reads that file instead of failing the listing", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("bad"));
    await registry.upsert(makeRecord("good"));
    let failing = false;
    const fs = faultyFs((path) => failing && isBad(path), "lstat", "EIO");
    // racyMs 0: the first read is cached at once, so the second listing goes through lstat.
    const reader = new TreeReader(fs, root, "", 0);
    assert.equal(reader.read().records.length, 2);
    failing = true;
    // The lstat fails, the open and read that follow work: the file is read afresh.
    const second = reader.read();
    assert.deepEqual(
      second.records.map((r) => r.data.instance_id),
      ["bad", "good"],
    );
    assert.deepEqual(second.skipped, []);
  });

  test("an unreadable outcome is not cached: the file is read again once the fault passes", async (t) => {
    const { registry, root } = await tempRegistry(t);
    await registry.upsert(makeRecord("bad"));
    await registry.upsert(makeRecord("good"));
    let failing = true;
    const fs = faultyFs((path) => failing && isBad(path), "read", "EIO");
    const reader = new TreeReader(fs, root, "", 0);
    assert.deepEqual(
      reader.read().skipped.map((s) => [s.file, s.reason]),
      [["bad.json", "unreadable"]],
    );
    failing = false;
    assert.equal(reader.read().records.length, 2);
  });

  test("an unreadable marker (.service-token, .migrated_from_sqlite) is INVALID_FILE, not IO", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    nodeFs.mkdirSync(join(root, "retired"), { recursive: true });
    nodeFs.writeFileSync(join(root, ".service-token"), `${"a".repeat(64)}\n`);
    const registry = await Registry.open(root, {
      fs: faultyFs((path) => path.endsWith(".service-token"), "open", "EACCES"),
    });
    await assert.rejects(
      registry.readMarker(".service-token"),
      isInvalidFile("unreadable", "EACCES"),
    );
    assert.equal(await registry.readMarker(".migrated_from_sqlite"), null);
  });

  test("a real unreadable file (another user's, mode 0600), read as that other user", async (t) => {
    // nobody must be able to run this checkout's code: a clone inside a private (0700) directory
    // cannot be, and then the test has nothing to run.
    const who = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        "--import",
        "tsx",
        "-e",
        "0",
      ],
      { cwd: REPO, timeout: 30_000 },
    );
    if (process.getuid?.() !== 0 || who.status !== 0) {
      t.skip(
        "needs root, setpriv, and a checkout that nobody can read, to run the registry as nobody",
      );
      return;
    }
    const dir = tempDir(t);
    const root = join(dir, "registry");
    await plant(root);
    // The registry belongs to nobody; bad.json (both trees) stays root's, mode 0600.
    for (const path of [
      dir,
      join(dir, "registry"),
      join(root, "retired"),
      join(root, "good.json"),
      join(root, "other.json"),
      join(root, "retired", "gone.json"),
    ]) {
      nodeFs.chownSync(path, 65534, 65534);
    }
    for (const file of ["bad.json", "retired/bad.json"]) nodeFs.chmodSync(join(root, file), 0o600);
    nodeFs.mkdirSync(join(dir, "agents", "good-wd"), { recursive: true });
    nodeFs.chownSync(join(dir, "agents"), 65534, 65534);

    const script = `
      import { Registry, RegistryService } from "./src/index.ts";
      const [root, agentsBase] = process.argv.slice(1);
      const out = { uid: process.getuid() };
      const registry = await Registry.open(root, { agentsBase });
      const attempt = async (name, work) => {
        try { out[name] = await work(); } catch (error) { out[name] = { error: error.code ?? String(error), reason: error.data?.reason, message: error.message }; }
      };
      await attempt("list", async () => (await registry.listActive()).map((r) => r.data.instance_id));
      await attempt("scan", async () => (await registry.scan()).skipped);
      await attempt("getBad", () => registry.get("bad"));
      await attempt("getGood", async () => (await registry.get("good"))?.data.instance_id);
      const service = new RegistryService(registry, { version: "9.9.9" });
      await attempt("rename", () => service.renameAgent("good", "renamed"));
      await attempt("doctor", async () => (await service.doctor()).problems.map((p) => p.kind + ":" + p.subject));
      registry.close();
      console.log(JSON.stringify(out));
    `;
    const child = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        script,
        root,
        join(dir, "agents"),
      ],
      { cwd: REPO, encoding: "utf8", timeout: 30_000, env: { ...process.env, HOME: dir } },
    );
    assert.equal(child.status, 0, child.stderr);
    const out = JSON.parse(child.stdout.trim().split("\n").pop() as string);
    assert.equal(out.uid, 65534);
    assert.deepEqual(out.list, ["good", "other"]);
    assert.deepEqual(
      out.scan.map((s: { file: string; reason: string }) => `${s.file}:${s.reason}`),
      ["bad.json:unreadable", "retired/bad.json:unreadable"],
    );
    assert.match(out.scan[0].message, /EACCES/);
    assert.equal(out.getBad.error, "INVALID_FILE");
    assert.equal(out.getBad.reason, "unreadable");
    assert.match(out.getBad.message, /EACCES/);
    assert.equal(out.getGood, "good");
    assert.equal(out.rename, 2);
    assert.ok(out.doctor.includes("skipped-file:bad.json"), JSON.stringify(out.doctor));
    assert.ok(out.doctor.includes("skipped-file:retired/bad.json"), JSON.stringify(out.doctor));
  });
});
