/**
 * Support for the browser and load tests: a sandbox (`<tmp>/home` through
 * `AGENTMUX_HOME_OVERRIDE`, as in test/cli/harness.ts), the BUILT service started as a black box
 * (`node dist/cli/bin.cjs serve --port 0 --json`), the built CLI run alongside it, and Debian's
 * chromium driven by playwright-core (never a downloaded browser).
 *
 * Cleanup order matters: `t.after` hooks run in the order they were registered, so `sandbox(t)`
 * registers its own hook (close every browser, then stop every child and wait for it to exit)
 * BEFORE `tempDir(t)` registers the removal of the directory those children write into.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { TestContext } from "node:test";
import axe from "axe-core";
import { type Browser, chromium, type Page } from "playwright-core";
import { type RecordInput, Registry } from "../../src/index.js";
import { tempDir } from "../helpers.js";

export const REPO = join(import.meta.dirname, "..", "..");
export const BIN = join(REPO, "dist", "cli", "bin.cjs");
export const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(REPO, "test-results", "screenshots");
const axeSource = axe.source;

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Skips the test (with the reason) when Debian's chromium is not installed; true if skipped. */
export function skipWithoutChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return false;
  t.skip(`${CHROMIUM} is missing (apt-get install chromium); browser tests need it`);
  return true;
}

/** Fails fast with a clear message when `npm run build` has not been run. */
export function requireBuild(): void {
  assert.ok(existsSync(BIN), `${BIN} is missing: run \`npm run build\` first (npm test does)`);
}

export interface Service {
  /** The page's address, token included. */
  url: string;
  port: number;
  token: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  child: ChildProcess;
  /** What the service wrote on stderr so far. */
  stderr: () => string;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  tmp: string;
  home: string;
  /** `<home>/shared/agents/registry` */
  root: string;
  /** `<home>/agents` */
  agentsBase: string;
  /** The environment of every process this sandbox starts. */
  env: NodeJS.ProcessEnv;
  /**
   * Writes the records through the library, creates their working directories, and moves the
   * `retired` ids to the Trash. Returns the library's handle on the same registry.
   */
  seed(records: readonly RecordInput[], retired?: readonly string[]): Promise<Registry>;
  /** Starts `serve --port <port> --json` (any free port by default) and waits for its address. */
  serve(port?: number): Promise<Service>;
  /** Runs the built CLI with this sandbox's environment. */
  cli(args: readonly string[]): Promise<CliResult>;
  /** Starts a child process that is stopped (and waited for) when the test ends. */
  spawnTracked(command: string, args: readonly string[]): ChildProcess;
  /**
   * Launches chromium (closed when the test ends) and opens the service's page in it (or `url`),
   * at 1280 px in the light scheme unless told otherwise, with the clipboard allowed; waits until
   * the page is live unless `live` is false.
   */
  openPage(service: Service, options?: PageOptions): Promise<Page>;
}

export interface PageOptions {
  width?: number;
  colorScheme?: "light" | "dark";
  /** Another address than the one the service printed (without the token, say). */
  url?: string;
  /** Wait for the page to say "Live" (the default). */
  live?: boolean;
}

export async function sandbox(t: TestContext): Promise<Sandbox> {
  const children = new Set<ChildProcess>();
  const browsers: Browser[] = [];
  // Registered before tempDir(t): browsers closed and children reaped before the rm.
  t.after(async () => {
    await Promise.all(browsers.map((browser) => browser.close().catch(() => {})));
    await Promise.all([...children].map((child) => stop(child)));
  });
  const tmp = tempDir(t, "amr-browser-");
  const home = join(tmp, "home");
  const root = join(home, "shared", "agents", "registry");
  const agentsBase = join(home, "agents");
  const userHome = join(tmp, "user");
  mkdirSync(userHome, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AGENTMUX_HOME_OVERRIDE: home,
    HOME: userHome,
    NO_COLOR: "1",
  };
  delete env.AGENTMUX_SHARED_DIR;
  delete env.AGENTMUX_AGENTS_DIR;

  const spawnTracked = (command: string, args: readonly string[]) => {
    const child = spawn(command, args, { cwd: tmp, env, stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    child.stdin?.on("error", () => {});
    return child;
  };

  return {
    tmp,
    home,
    root,
    agentsBase,
    env,
    spawnTracked,

    async seed(records, retired = []) {
      const registry = await Registry.open(root, { agentsBase });
      for (const record of records) {
        const dir = join(agentsBase, String(record.data.working_dir));
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        await registry.upsert(record);
      }
      for (const id of retired) assert.deepEqual(await registry.retire(id), { moved: true });
      return registry;
    },

    async serve(port = 0) {
      requireBuild();
      const child = spawnTracked(process.execPath, [
        BIN,
        "serve",
        "--port",
        String(port),
        "--json",
      ]);
      let stderr = "";
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (chunk: string) => {
        stderr += chunk;
      });
      const line = await firstLine(child, 15_000, () => stderr);
      const printed = JSON.parse(line) as { url: string; port: number };
      const url = new URL(printed.url);
      const token = url.searchParams.get("token") ?? "";
      assert.equal(url.hostname, "127.0.0.1");
      assert.equal(Number(url.port), printed.port);
      assert.match(token, /^\S+$/, "the printed URL carries the token");
      return {
        url: printed.url,
        port: printed.port,
        token,
        origin: url.origin,
        child,
        stderr: () => stderr,
      };
    },

    cli(args) {
      requireBuild();
      const child = spawnTracked(process.execPath, [BIN, ...args]);
      child.stdin?.end();
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8");
      child.stderr?.setEncoding("utf8");
      child.stdout?.on("data", (chunk: string) => {
        stdout += chunk;
      });
      child.stderr?.on("data", (chunk: string) => {
        stderr += chunk;
      });
      return new Promise((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => {
          children.delete(child);
          resolve({ code, stdout, stderr });
        });
      });
    },

    async openPage(service, options = {}) {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      browsers.push(browser);
      const context = await browser.newContext({
        viewport: { width: options.width ?? 1280, height: 800 },
        colorScheme: options.colorScheme ?? "light",
        permissions: ["clipboard-read", "clipboard-write"],
      });
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
      page.on("console", (message) => {
        // Failed loads are reported below, with their address.
        if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
          problems.push(`console error: ${message.text()}`);
      });
      page.on("response", (response) => {
        const path = new URL(response.url()).pathname;
        // The API's refusals (a name it refuses, no token, an agent in use) are the page's to
        // show; anything else — a missing file, the icon included — is a fault.
        const refusal = path.startsWith("/api/") && [400, 401, 409].includes(response.status());
        if (response.status() >= 400 && !refusal)
          problems.push(`HTTP ${response.status()} for ${response.request().method()} ${path}`);
      });
      t.after(() => {
        assert.deepEqual(problems, [], "the page logged no script errors");
      });
      await page.goto(options.url ?? service.url);
      // "Live" once the first snapshot arrived over the event stream.
      if (options.live !== false)
        await page.locator("#status").filter({ hasText: "Live" }).waitFor();
      return page;
    },
  };
}

/** The first line a child prints on stdout, or an error with its stderr when it exits first. */
function firstLine(child: ChildProcess, timeoutMs: number, stderr: () => string): Promise<string> {
  const stdout = child.stdout;
  assert.ok(stdout, "spawned with piped stdout");
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stdout, crlfDelay: Number.POSITIVE_INFINITY });
    const timer = setTimeout(() => {
      lines.close();
      reject(new Error(`no line on stdout after ${timeoutMs} ms; stderr: ${stderr()}`));
    }, timeoutMs);
    lines.once("line", (line) => {
      clearTimeout(timer);
      lines.close();
      resolve(line);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}, signal ${signal}) first; stderr: ${stderr()}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s; resolves once it has exited. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Saves a full-page screenshot as a test artefact; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The violations axe-core finds on the page as it is now, serious and critical ones only. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Injected through the DevTools protocol, which the page's CSP does not govern.
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: AxeGlobal }).axe;
    return axe.run((globalThis as unknown as { document: unknown }).document, {
      resultTypes: ["violations"],
    });
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
    );
}

interface AxeGlobal {
  run(
    context: unknown,
    options: { resultTypes: string[] },
  ): Promise<{
    violations: {
      id: string;
      impact: string | null;
      help: string;
      nodes: { target: string[] }[];
    }[];
  }>;
}

/** The `data-id`s of the rows of a table, top to bottom. */
export function rowIds(page: Page, table: "#agents" | "#trash"): Promise<string[]> {
  return page
    .locator(`${table} tbody tr[data-id]`)
    .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-id") ?? ""));
}

/** A valid UUID-shaped id for seeded record `n`. */
export const seedId = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

/** Retries `check` (assertions inside) until it passes; after `timeoutMs` its last error is thrown. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
