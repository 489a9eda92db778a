/**
 * The child process of the lease multi-process tests (lease-processes.test.ts), bundled with
 * esbuild and run with plain `node lease-child.mjs <mode> <root> [optionsJson]`. Each process has
 * its own `LeaseStore`, hence its own boot id and pid. It talks newline-delimited JSON: commands
 * on stdin, one reply per command on stdout (pipes are synchronous on Linux, so a line printed
 * before a SIGKILL or SIGSTOP reaches the parent).
 *
 * Modes:
 * - `serve <root> [options]`: prints `{"ready":true,"bootId","pid"}`, then runs commands one at a
 *   time: `{"seq","op":"claim","key","id","block","opts"?}`, `renew|verify|release|keep` with the
 *   `key` of a claimed handle, `{"op":"holder","id","own"?}`. `opts` selects a store with other
 *   options (same process, so the same boot id). A reply is `{"seq","ok":true,...}` or
 *   `{"seq","ok":false,"error":{name,code,message,data}}`. A `keep` that loses its lease prints
 *   `{"lost":key,"error":...}`. Every reply carries `decisionNow`, the store's first clock reading
 *   of the command (stores read the clock first inside the critical section, to judge ages).
 *   Option `stopBeforeLeaseRename` stops the process (SIGSTOP, after printing `{"stopping"}`)
 *   inside the critical section, just before a lease file is renamed into place. Exits when
 *   stdin ends.
 * - `nest <root> [options]`: spawns a `serve` child, relays its lines both ways, and answers
 *   `{"seq","op":"block","file"}` itself: it blocks its event loop until `file` exists, so a
 *   killed `serve` child stays a zombie (libuv reaps only from the loop) until then.
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { RegistryError } from "../../src/core/errors.js";
import { type FsOps, realFs } from "../../src/io/fs.js";
import {
  type LeaseHandle,
  LeaseStore,
  type LeaseStoreOptions,
} from "../../src/store/lease-store.js";

type Command = Record<string, unknown> & { seq?: number; op?: string };

const print = (message: Record<string, unknown>) => {
  process.stdout.write(
    `${JSON.stringify(message, (_key, value) => (typeof value === "bigint" ? String(value) : value))}\n`,
  );
};

function describeError(error: unknown): Record<string, unknown> {
  return error instanceof RegistryError
    ? { name: error.name, code: error.code, message: error.message, data: error.data }
    : error instanceof Error
      ? { name: error.name, message: error.message, stack: error.stack }
      : { name: typeof error, message: String(error) };
}

type StoreOptions = Pick<LeaseStoreOptions, "ttlMs" | "renewMs" | "lockTimeoutMs"> & {
  /** Stop this process (SIGSTOP) inside the critical section, just before a lease file rename. */
  stopBeforeLeaseRename?: boolean;
};

/** `node:fs`, except that renaming onto a lease file first stops this very process. */
const stoppingFs: FsOps = {
  ...realFs,
  renameSync(from, to) {
    if (String(to).endsWith(".lease.json")) {
      print({ stopping: "before-lease-rename" });
      process.kill(process.pid, "SIGSTOP");
    }
    realFs.renameSync(from, to);
  },
};

function serve(root: string, defaults: StoreOptions): void {
  /**
   * Every `now()` a store asked for during the current command. The first is the time its
   * decision was taken on: stores read the clock first inside the critical section.
   */
  let nows: number[] = [];
  const stores = new Map<string, LeaseStore>();
  const storeFor = (opts: unknown): LeaseStore => {
    const options = { ...defaults, ...(opts as StoreOptions | undefined) };
    const key = JSON.stringify(options);
    let store = stores.get(key);
    if (!store) {
      const { stopBeforeLeaseRename, ...rest } = options;
      store = new LeaseStore(root, {
        ...rest,
        ...(stopBeforeLeaseRename ? { fs: stoppingFs } : {}),
        now: () => {
          const now = Date.now();
          nows.push(now);
          return now;
        },
      });
      stores.set(key, store);
    }
    return store;
  };
  const handles = new Map<string, { store: LeaseStore; handle: LeaseHandle }>();
  const held = (key: unknown) => {
    const entry = handles.get(String(key));
    if (!entry) throw new Error(`no handle ${String(key)}`);
    return entry;
  };

  const run = async (command: Command): Promise<Record<string, unknown>> => {
    switch (command.op) {
      case "claim": {
        const store = storeFor(command.opts);
        const handle = await store.claim(String(command.id), String(command.block));
        handles.set(String(command.key), { store, handle });
        return { epoch: handle.epoch, claimId: handle.claimId, bootId: handle.bootId };
      }
      case "renew": {
        const { store, handle } = held(command.key);
        await store.renew(handle);
        return {};
      }
      case "verify": {
        const { store, handle } = held(command.key);
        await store.verify(handle);
        return {};
      }
      case "release": {
        const { store, handle } = held(command.key);
        return { released: await store.release(handle) };
      }
      case "keep": {
        const { store, handle } = held(command.key);
        store.keep(handle, (error) => print({ lost: command.key, error: describeError(error) }));
        return {};
      }
      case "holder": {
        const store = storeFor(command.opts);
        return { holder: await store.holder(String(command.id), String(command.own ?? "")) };
      }
      default:
        throw new Error(`unknown op ${String(command.op)}`);
    }
  };

  // One command at a time, in order: a reply always describes the state its command left.
  let queue: Promise<void> = Promise.resolve();
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    const command = JSON.parse(line) as Command;
    queue = queue.then(async () => {
      nows = [];
      const reply = { seq: command.seq, pid: process.pid };
      try {
        const result = await run(command);
        print({ ...reply, ok: true, decisionNow: nows[0], ...result });
      } catch (error) {
        print({ ...reply, ok: false, decisionNow: nows[0], error: describeError(error) });
      }
    });
  });
  // The parent's end closing (it died or is done) ends this process.
  lines.on("close", () => {
    void queue.then(() => process.exit(0));
  });
  print({ ready: true, bootId: storeFor(undefined).bootId, pid: process.pid });
}

function nest(root: string, optionsJson: string): void {
  const script = process.argv[1] ?? "";
  const child = spawn(process.execPath, [script, "serve", root, optionsJson], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.on("error", () => {});
  createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
    process.stdout.write(`${line}\n`),
  );
  child.on("exit", (code, signal) => print({ grandchildExit: { code, signal } }));
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    const command = JSON.parse(line) as Command;
    if (command.op !== "block") {
      child.stdin.write(`${line}\n`);
      return;
    }
    print({ seq: command.seq, ok: true, blocking: true, pid: process.pid });
    // Synchronous on purpose: while the loop is blocked, libuv cannot waitpid() the child.
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (!existsSync(String(command.file))) Atomics.wait(cell, 0, 0, 5);
  });
  lines.on("close", () => {
    child.kill("SIGKILL");
    process.exit(0);
  });
}

const [mode = "", root = "", optionsJson = "{}"] = process.argv.slice(2);
if (mode === "serve") serve(root, JSON.parse(optionsJson) as StoreOptions);
else if (mode === "nest") nest(root, optionsJson);
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
