/**
 * Support for the multi-process tests: the child script (child.ts) is bundled once per test file
 * with esbuild so a child starts with plain `node child.mjs` in well under 100 ms instead of the
 * ~0.6 s `node --import tsx` takes; children talk newline-delimited JSON on stdout.
 *
 * Cleanup order matters: `t.after` hooks run in the order they were registered, so create the
 * `Children` group of a test BEFORE its `tempDir(t)` — every child is killed and reaped before
 * the directory it writes into is removed.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import { build } from "esbuild";
import { HOLDER_PREFIX } from "../../src/io/lock.js";
import { isOwnLockHolder } from "../helpers.js";

const REPO = join(import.meta.dirname, "..", "..");

/** A message a child printed: one JSON object per line. */
export type Message = Record<string, unknown>;

export interface Bundle {
  /** The bundled child script, runnable with `node <file>`. */
  file: string;
  /** How long esbuild took. */
  buildMs: number;
  remove(): void;
}

/**
 * Bundles child.ts and the registry source it imports into one file. npm packages stay external
 * (better-sqlite3 is a native module and cannot be bundled), so the file is written under the
 * repository's node_modules/.cache, where node resolves them.
 */
export async function bundleChild(): Promise<Bundle> {
  const cache = join(REPO, "node_modules", ".cache");
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, "amr-mp-bundle-"));
  const file = join(dir, "child.mjs");
  const started = performance.now();
  await build({
    entryPoints: [join(import.meta.dirname, "child.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: file,
    logLevel: "error",
  });
  return {
    file,
    buildMs: performance.now() - started,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running child: its messages so far, a way to wait for one, and its exit. */
export class Child {
  readonly messages: Message[] = [];
  stderr = "";
  /** Resolves once the process exited and its stdout/stderr were read to the end. */
  readonly closed: Promise<Exit>;
  private exit: Exit | null = null;
  private waiters: Array<{ match: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  private failWaiters: Array<(error: Error) => void> = [];

  constructor(
    readonly proc: ChildProcess,
    readonly label: string,
  ) {
    const stdout = proc.stdout;
    const stderr = proc.stderr;
    assert.ok(stdout && stderr, "children are spawned with piped stdout and stderr");
    // Writing to the stdin of a child that was just killed is EPIPE: nothing to report.
    proc.stdin?.on("error", () => {});
    stderr.setEncoding("utf8");
    stderr.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    const lines = createInterface({ input: stdout, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", (line) => this.receive(line));
    this.closed = new Promise<Exit>((resolve) => {
      proc.on("close", (code, signal) => {
        this.exit = { code, signal };
        const error = new Error(
          `${this.label} exited (code ${code}, signal ${signal}) before the awaited message; ` +
            `stderr: ${this.stderr.slice(-2000)}`,
        );
        for (const fail of this.failWaiters) fail(error);
        this.waiters = [];
        this.failWaiters = [];
        resolve({ code, signal });
      });
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** The first message (already received or still to come) that `match` accepts. */
  waitFor(match: (m: Message) => boolean): Promise<Message> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    if (this.exit) {
      return Promise.reject(new Error(`${this.label} has exited; stderr: ${this.stderr}`));
    }
    return new Promise<Message>((resolve, reject) => {
      this.waiters.push({ match, resolve });
      this.failWaiters.push(reject);
    });
  }

  /** Writes one line to the child's stdin (the start signal, for instance). */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.proc.kill(signal);
  }

  private receive(line: string): void {
    if (line.trim() === "") return;
    let message: Message;
    try {
      message = JSON.parse(line) as Message;
    } catch {
      message = { unparsed: line };
    }
    this.messages.push(message);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(message)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  }
}

/**
 * The children of one test. Create it before the test's `tempDir(t)`: its `t.after` hook kills
 * every child still running and waits for it to be reaped.
 */
export class Children {
  private readonly all: Child[] = [];

  constructor(
    t: TestContext,
    private readonly script: string,
  ) {
    t.after(async () => {
      for (const child of this.all) child.kill("SIGKILL");
      await Promise.all(this.all.map((child) => child.closed));
    });
  }

  spawn(label: string, args: string[]): Child {
    const proc = spawn(process.execPath, [this.script, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: childEnv(),
    });
    const child = new Child(proc, label);
    this.all.push(child);
    return child;
  }

  get count(): number {
    return this.all.length;
  }
}

/**
 * The parent's environment without `NODE_EXTRA_CA_CERTS`: loading a CA bundle costs ~0.3 s of
 * startup per process, and children make no TLS connections.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/**
 * Temp, lock and lock holder files (ours and the Rust writer's) in the given directories; not
 * the holder file this (live) test process's registries keep.
 */
export function transientNames(...dirs: string[]): string[] {
  const names: string[] = [];
  for (const dir of dirs) {
    for (const name of readdirSync(dir)) {
      if (
        name.startsWith(".tmp-") ||
        name.startsWith(".lock-") ||
        (name.startsWith(HOLDER_PREFIX) && !isOwnLockHolder(dir, name)) ||
        name.startsWith(".registry-tmp-")
      )
        names.push(join(dir, name));
    }
  }
  return names;
}

/** `<dir>/*.json` stems. */
export function jsonStems(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json") && !name.startsWith("."))
    .map((name) => name.slice(0, -".json".length))
    .sort();
}

/** A child's exit was the normal end of its work. */
export function assertCleanExit(child: Child, exit: Exit): void {
  assert.deepEqual(
    exit,
    { code: 0, signal: null },
    `${child.label} failed; stderr:\n${child.stderr.slice(-4000)}`,
  );
}

/** Seed for this run: `MP_SEED` when set (to replay a failure), else random; logged on failure. */
export function runSeed(): number {
  const fromEnv = Number(process.env.MP_SEED);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (Math.random() * 2 ** 31) >>> 0;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
