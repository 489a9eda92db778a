import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { type RecordInput, Registry, type RegistryOptions } from "../src/index.js";
import { HOLDER_PREFIX } from "../src/io/lock.js";

/** A fresh temp directory for one test, removed when the test ends. */
export function tempDir(t: TestContext, prefix = "amr-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A registry in its own temp directory (root `<tmp>/registry`, agents base `<tmp>/agents`). */
export async function tempRegistry(
  t: TestContext,
  options: RegistryOptions = {},
): Promise<{ registry: Registry; root: string; dir: string }> {
  const dir = tempDir(t);
  const root = join(dir, "registry");
  const registry = await Registry.open(root, { agentsBase: join(dir, "agents"), ...options });
  return { registry, root, dir };
}

/** A valid record; `data` overrides are merged in. */
export function makeRecord(id: string, data: Partial<RecordInput["data"]> = {}): RecordInput {
  return {
    schema_version: 1,
    data: {
      instance_id: id,
      instance_name: `name-${id}`,
      definition_id: "claude-code",
      identity_id: null,
      memory_id: null,
      working_dir: `${id}-wd`,
      created_at_ms: 1_747_049_400_000,
      last_launched_at_ms: 1_747_061_640_000,
      created_by_version: "0.1.0",
      last_launched_by_version: "0.1.0",
      ...data,
    },
  };
}

export const fixturePath = (...parts: string[]) => join(import.meta.dirname, "fixtures", ...parts);

export const readFixture = (...parts: string[]) => readFileSync(fixturePath(...parts));

/**
 * Every name in a directory, hidden ones included — except the lock holder file of this very
 * process's registries, which a live registry keeps (FORMAT.md, "Record locks").
 */
export const namesIn = (dir: string) =>
  readdirSync(dir)
    .filter((name) => !isOwnLockHolder(dir, name))
    .sort();

/** Whether `name` is a lock holder file of a registry in this process. */
export function isOwnLockHolder(dir: string, name: string): boolean {
  if (!name.startsWith(HOLDER_PREFIX)) return false;
  try {
    return readFileSync(join(dir, name), "utf8").startsWith(`${process.pid} `);
  } catch {
    return false;
  }
}

/** Splits a Server-Sent Events stream into its events: feed it the chunks, it calls `onEvent`. */
export function sseReader(onEvent: (event: string, data: string) => void): (chunk: string) => void {
  let buffer = "";
  return (chunk) => {
    buffer += chunk;
    const blocks = buffer.split("\n\n");
    buffer = blocks.pop() ?? "";
    for (const block of blocks) {
      const event = /^event: (\w+)/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) onEvent(event, data);
    }
  };
}

/** The package's entry as a URL a child script can import. */
export const SRC_INDEX = new URL("../src/index.ts", import.meta.url).href;

/**
 * Runs an ES module `script` in a child (through tsx, so it may import `SRC_INDEX`) with `args`
 * after it, killed after `timeoutMs`: a call that blocks fails its test as "blocked" instead of
 * hanging the suite.
 */
export function runScriptWithDeadline(script: string, args: string[] = [], timeoutMs = 20_000) {
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", script, ...args],
    {
      encoding: "utf8",
      cwd: join(import.meta.dirname, ".."),
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    },
  );
  assert.equal(child.signal, null, `blocked: killed after ${timeoutMs} ms; ${child.stderr}`);
  return child;
}
