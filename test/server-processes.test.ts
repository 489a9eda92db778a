/**
 * The service in child processes, where an unhandled rejection shows as a dead process: the
 * change feed survives failed rescans, and `serve`s started together share one token.
 *
 * This file is also the child: with AMR_SERVER_CHILD set it runs a server instead of tests.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import { get, request as httpRequest } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Registry, RegistryService } from "../src/index.js";
import { TOKEN_FILE } from "../src/io/token-file.js";
import { startServer } from "../src/server/serve.js";
import { makeRecord, sseReader, tempRegistry } from "./helpers.js";

const CHILD = process.env.AMR_SERVER_CHILD;

if (CHILD) {
  await runChild(CHILD);
} else {
  defineTests();
}

/** The child: opens the registry, (for "token": waits for "go"), serves, reports, waits. */
async function runChild(kind: string): Promise<void> {
  const root = process.env.AMR_ROOT as string;
  const registry = await Registry.open(root, { agentsBase: process.env.AMR_AGENTS });
  const lines = createInterface({ input: process.stdin });
  const nextLine = () => new Promise<string>((resolve) => lines.once("line", resolve));
  if (kind === "feed") {
    // A test hook: while this file exists, every scan fails (any error, not only the disk's).
    const failFlag = process.env.AMR_FAIL_FLAG as string;
    const readTree = registry.readTree.bind(registry);
    registry.readTree = (...args: Parameters<Registry["readTree"]>) => {
      if (fs.existsSync(failFlag)) throw new Error("injected scan failure");
      return readTree(...args);
    };
  }
  const service = new RegistryService(registry, {
    version: "1.0.0",
    feed: { rescanMs: 40, debounceMs: 10 },
  });
  if (kind === "token") {
    process.stdout.write("ready\n");
    await nextLine();
  }
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(service, { port: 0 });
  } catch (error) {
    process.stdout.write(
      `${JSON.stringify({ error: `${(error as Error).name}: ${(error as Error).message}` })}\n`,
    );
    process.exit(0);
  }
  process.stdout.write(`${JSON.stringify({ port: server.port, token: server.token })}\n`);
  // Serve until the parent closes stdin (or goes away).
  lines.on("close", () => {
    void server.close().then(() => process.exit(0));
  });
}

interface Child {
  process: ChildProcess;
  lines: string[];
  stderr: () => string;
  /** Resolves with the next stdout line. */
  nextLine: () => Promise<string>;
  exited: Promise<number | null>;
}

function spawnChild(kind: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, ...env, AMR_SERVER_CHILD: kind },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else lines.push(line);
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const queued = lines.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(
        () => reject(new Error(`no line from the child; stderr: ${stderr}`)),
        30_000,
      );
      waiting.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      void exited.then((code) => reject(new Error(`child exited (${code}); stderr: ${stderr}`)));
    });
  return { process: child, lines, stderr: () => stderr, nextLine, exited };
}

/** Stops a child this test started: closes its stdin, then kills it by its own pid if needed. */
async function stop(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.stdin?.end();
  const timer = setTimeout(() => child.process.kill("SIGKILL"), 5_000);
  await child.exited;
  clearTimeout(timer);
}

function getJson(
  port: number,
  path: string,
  token: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        headers: { host: `127.0.0.1:${port}`, authorization: `Bearer ${token}` },
        timeout: 10_000,
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on("error", reject);
    request.on("timeout", () => request.destroy(new Error("request timed out")));
    request.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function defineTests(): void {
  describe("serve survives failed rescans", () => {
    test("a retired tree that becomes a file, or any scan error, is reported and outlived", async (t) => {
      const { registry, root, dir } = await tempRegistry(t);
      await registry.upsert(makeRecord("first"));
      const failFlag = join(dir, "fail-scans");
      const child = spawnChild("feed", {
        AMR_ROOT: root,
        AMR_AGENTS: registry.agentsBase,
        AMR_FAIL_FLAG: failFlag,
      });
      t.after(() => stop(child));
      const { port, token } = JSON.parse(await child.nextLine()) as { port: number; token: string };

      // A page is connected: its subscription keeps the rescans going.
      const events: { event: string; data: unknown }[] = [];
      const stream = get({
        host: "127.0.0.1",
        port,
        path: `/api/events?token=${token}`,
        headers: { host: `127.0.0.1:${port}` },
      });
      t.after(() => stream.destroy());
      stream.on("error", () => {});
      stream.on("response", (response) => {
        response.setEncoding("utf8");
        response.on(
          "data",
          sseReader((event, data) => events.push({ event, data: JSON.parse(data) })),
        );
      });
      const waitFor = async (what: string, check: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          if (child.process.exitCode !== null)
            throw new Error(`serve died (${child.process.exitCode}): ${child.stderr()}`);
          await sleep(20);
        }
      };
      await waitFor("the snapshot", () => events.some((e) => e.event === "snapshot"));

      // 1. `retired/` becomes a file: every scan fails with ENOTDIR.
      const retired = join(root, "retired");
      fs.rmSync(retired, { recursive: true });
      fs.writeFileSync(retired, "not a directory");
      await waitFor("the failure report", () => /a rescan failed/.test(child.stderr()));
      await sleep(400); // ten more failing rescans
      assert.equal(child.process.exitCode, null, `serve is alive: ${child.stderr()}`);
      assert.equal(
        child.stderr().match(/a rescan failed/g)?.length,
        1,
        `reported once per distinct error: ${child.stderr()}`,
      );
      assert.match(child.stderr(), /ENOTDIR/);
      assert.equal((await getJson(port, "/api/agents", token)).status, 200);

      // Repaired: the feed works again and the page hears about a new record.
      fs.rmSync(retired);
      fs.mkdirSync(retired);
      await (await Registry.open(root)).upsert(makeRecord("second"));
      await waitFor("the change after the repair", () =>
        events.some(
          (e) => e.event === "changes" && JSON.stringify(e.data).includes('"id":"second"'),
        ),
      );
      assert.match(child.stderr(), /rescans work again/);

      // 2. Any error at all (not only the disk's): same story.
      fs.writeFileSync(failFlag, "");
      await waitFor("the injected failure report", () =>
        /injected scan failure/.test(child.stderr()),
      );
      await sleep(300);
      assert.equal(child.process.exitCode, null, `serve is alive: ${child.stderr()}`);
      fs.rmSync(failFlag);
      await (await Registry.open(root)).upsert(makeRecord("third"));
      await waitFor("the change after the second repair", () =>
        events.some(
          (e) => e.event === "changes" && JSON.stringify(e.data).includes('"id":"third"'),
        ),
      );

      // 3. An unreadable record (only meaningful when not root: root reads mode 000 files).
      if (process.getuid?.() !== 0) {
        const record = join(root, "first.json");
        fs.chmodSync(record, 0o000);
        t.after(() => fs.chmodSync(record, 0o600));
        await sleep(300);
        assert.equal(child.process.exitCode, null, `serve is alive: ${child.stderr()}`);
        assert.equal((await getJson(port, "/api/agents", token)).status, 200);
      }
      assert.equal(child.process.exitCode, null);
    });
  });

  describe("token file", () => {
    test("serves started together on an empty registry all start and all serve the file's token", async (t) => {
      const { registry, root } = await tempRegistry(t);
      const children = Array.from({ length: 10 }, () =>
        spawnChild("token", { AMR_ROOT: root, AMR_AGENTS: registry.agentsBase }),
      );
      t.after(() => Promise.all(children.map(stop)));
      // Every child has loaded and opened the registry; then all start at once.
      for (const child of children) assert.equal(await child.nextLine(), "ready");
      for (const child of children) child.process.stdin?.write("go\n");
      const started = await Promise.all(
        children.map(
          async (child) => JSON.parse(await child.nextLine()) as Record<string, unknown>,
        ),
      );
      const path = join(root, TOKEN_FILE);
      const fileToken = fs.readFileSync(path, "utf8").trim();
      assert.match(fileToken, /^[0-9a-f]{64}$/);
      assert.equal(fs.statSync(path).mode & 0o777, 0o600);
      for (const result of started) {
        assert.equal(result.error, undefined, String(result.error));
        assert.equal(result.token, fileToken, "every server serves the token in the file");
        assert.equal((await getJson(result.port as number, "/api/agents", fileToken)).status, 200);
      }
      assert.deepEqual(
        fs
          .readdirSync(root)
          .filter((name) => name.includes("service-token") && name !== TOKEN_FILE),
        [],
        "no temp file is left behind",
      );
    });

    test("a token file other users can read is refused with the fix, and left alone", async (t) => {
      const { registry, root } = await tempRegistry(t);
      const path = join(root, TOKEN_FILE);
      fs.writeFileSync(path, `${"a".repeat(64)}\n`, { mode: 0o644 });
      fs.chmodSync(path, 0o644);
      const service = new RegistryService(registry, { version: "1.0.0" });
      await assert.rejects(
        startServer(service, { port: 0 }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "INVALID_FILE");
          assert.match(error.message, /mode 0644/);
          assert.match(error.message, /chmod 600/);
          assert.match(error.message, /rm '/);
          return true;
        },
      );
      assert.equal(fs.statSync(path).mode & 0o777, 0o644, "not changed behind the user's back");
      fs.chmodSync(path, 0o600);
      const server = await startServer(service, { port: 0 });
      t.after(() => server.close());
      assert.equal(server.token, "a".repeat(64));
    });

    test("a token file that is a symbolic link or not a file is refused", async (t) => {
      const { registry, root, dir } = await tempRegistry(t);
      const path = join(root, TOKEN_FILE);
      const elsewhere = join(dir, "elsewhere");
      fs.writeFileSync(elsewhere, `${"b".repeat(64)}\n`, { mode: 0o600 });
      fs.symlinkSync(elsewhere, path);
      const service = new RegistryService(registry, { version: "1.0.0" });
      await assert.rejects(startServer(service, { port: 0 }), /symbolic link/);
      fs.rmSync(path);
      fs.mkdirSync(path);
      await assert.rejects(startServer(service, { port: 0 }), /not a regular file/);
    });
  });
}
