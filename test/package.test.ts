/**
 * The published package, as a user gets it: `npm pack`'s tarball installed into an empty project,
 * used through the library import (which must not load the CLI's or the server's dependencies),
 * the `record.schema.json` subpath, its types (README's Library examples included) and the bin.
 * Needs the build (`npm test` builds first). Dependencies come from npm's cache, or from the npm
 * registry when the cache lacks them; the native addons (better-sqlite3, fs-ext) are copied from
 * this checkout's install (the same pinned versions) instead of being compiled again (~100 s).
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "./helpers.js";

const repo = join(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
/** The native addons, copied from this checkout's install instead of compiled again. */
const ADDONS = [
  join("node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"),
  join("node_modules", "fs-ext", "build", "Release", "fs_ext.node"),
];

/** Runs a command with a deadline; fails the test with its output when it fails. */
function run(command: string, args: string[], cwd: string, timeoutMs = 60_000): string {
  const child = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const output = `${command} ${args.join(" ")}\n${child.stdout}\n${child.stderr}`;
  assert.equal(child.signal, null, `killed after ${timeoutMs} ms: ${output}`);
  assert.equal(child.status, 0, output);
  return child.stdout;
}

const SMOKE_SCRIPT = `
import { Registry, RegistryService, SqliteInstanceStore, validateRecord, isRegistryError, ERROR_TABLE } from "agentmux-registry";
import schema from "agentmux-registry/record.schema.json" with { type: "json" };
import { join } from "node:path";

const [root, agentsBase, dbPath] = process.argv.slice(2);
const registry = await Registry.open(root, { agentsBase });
const record = {
  schema_version: 1,
  data: {
    instance_id: "smoke-0001",
    instance_name: "smoke",
    definition_id: "claude-code",
    working_dir: "smoke-0001",
    created_at_ms: 1747049400000,
    last_launched_at_ms: 1747049400000,
    created_by_version: "smoke",
    last_launched_by_version: "smoke",
  },
};
const outcome = await registry.upsert(record);
const listed = (await registry.listActive()).map((r) => r.data.instance_id);
let invalidId = false;
try { await registry.get("../x"); } catch (e) { invalidId = isRegistryError(e, "INVALID_ID"); }
registry.close();

const service = await RegistryService.open({ root, agentsBase, version: "smoke" });
const named = (await service.listNamedAgents()).map((r) => r.data.instance_name);
const lease = await service.claimAgent("smoke-0001", { blockId: "smoke" });
const released = await service.leases.release(lease);
service.close();

const store = SqliteInstanceStore.open(dbPath, { version: "smoke" });
const rows = store.listNamed().length;
store.close();

console.log(JSON.stringify({
  outcome,
  listed,
  invalidId,
  named,
  epoch: String(lease.epoch),
  released,
  rows,
  valid: validateRecord("smoke-0001", record).ok,
  schemaTitle: schema.title,
  codes: Object.keys(ERROR_TABLE).length,
}));
`;

const CONSUMER_TS = `
import { type NamedAgentRecord, Registry, type UpsertOutcome } from "agentmux-registry";

export async function newest(root: string): Promise<NamedAgentRecord | undefined> {
  const registry = await Registry.open(root);
  const outcome: UpsertOutcome = { status: "unchanged" };
  void outcome;
  return (await registry.listActive()).sort(
    (a, b) => b.data.last_launched_at_ms - a.data.last_launched_at_ms,
  )[0];
}
`;

/** The ```ts blocks of README's Library section. */
function readmeLibraryExamples(): string[] {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const start = readme.indexOf("## Library");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] as string);
}

test("the npm pack tarball installs into an empty project; its library, types and bin work", {
  timeout: 300_000,
}, (t) => {
  assert.ok(
    existsSync(join(repo, "dist", "index.js")) && existsSync(join(repo, "dist", "cli", "bin.cjs")),
    "dist/ is missing: run `npm run build` first",
  );
  const dir = tempDir(t, "amr-pack-");

  // The tarball holds the build, the docs and the page's static files; no sources or tests.
  const packed = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", dir], repo));
  const files: string[] = packed[0].files.map((file: { path: string }) => file.path);
  for (const required of [
    "package.json",
    "README.md",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/cli/bin.cjs",
    "docs/record.schema.json",
    "docs/FORMAT.md",
    "web/index.html",
  ]) {
    assert.ok(files.includes(required), `the tarball holds ${required}`);
  }
  const stray = files.filter((file) => /^(src|test|bench|etc)\/|\.test\.|\.tgz$/.test(file));
  assert.deepEqual(stray, [], "no sources, tests or reports in the tarball");
  const tarball = join(dir, packed[0].filename);

  // An empty project; install scripts off (the native addons are copied below).
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "smoke", private: true, type: "module" }),
  );
  run(
    "npm",
    ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", tarball],
    project,
    180_000,
  );
  const installed = JSON.parse(
    readFileSync(join(project, "node_modules", "agentmux-registry", "package.json"), "utf8"),
  );
  assert.equal(installed.version, pkg.version);
  const sqliteVersion = (at: string) =>
    JSON.parse(readFileSync(join(at, "node_modules", "better-sqlite3", "package.json"), "utf8"))
      .version;
  assert.equal(sqliteVersion(project), sqliteVersion(repo), "the same better-sqlite3");
  for (const addon of ADDONS) {
    mkdirSync(join(project, addon, ".."), { recursive: true });
    copyFileSync(join(repo, addon), join(project, addon));
  }

  // The library import, the schema subpath and the SQLite store — with the edges' own
  // dependencies (HTTP, CLI) out of the way: the library never loads them.
  const root = join(dir, "registry");
  const agentsBase = join(dir, "agents");
  writeFileSync(join(project, "smoke.mjs"), SMOKE_SCRIPT);
  const edgeDependencies = ["fastify", "commander", "string-width", "picocolors"];
  const hidden = (name: string) => join(project, "node_modules", `.hidden-${name}`);
  for (const name of edgeDependencies)
    renameSync(join(project, "node_modules", name), hidden(name));
  const result = JSON.parse(
    run(process.execPath, ["smoke.mjs", root, agentsBase, join(dir, "objects.db")], project),
  );
  for (const name of edgeDependencies)
    renameSync(hidden(name), join(project, "node_modules", name));
  assert.deepEqual(result, {
    outcome: { status: "created" },
    listed: ["smoke-0001"],
    invalidId: true,
    named: ["smoke"],
    epoch: "1",
    released: true,
    rows: 0,
    valid: true,
    schemaTitle: "AgentMux registry record",
    codes: 16,
  });

  // The types, as a TypeScript user on NodeNext resolution sees them; README's examples too.
  writeFileSync(join(project, "consumer.ts"), CONSUMER_TS);
  const examples = readmeLibraryExamples();
  assert.ok(examples.length >= 2, "README's Library section has its examples");
  for (const [i, example] of examples.entries()) {
    writeFileSync(join(project, `readme-${i}.ts`), example);
  }
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        module: "NodeNext",
        moduleResolution: "NodeNext",
        target: "ES2022",
        strict: true,
        noEmit: true,
        types: ["node"],
        typeRoots: [join(repo, "node_modules", "@types")],
      },
      files: ["consumer.ts", ...examples.map((_, i) => `readme-${i}.ts`)],
    }),
  );
  run(join(repo, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], project);

  // The bin, through npx, on the registry the library wrote.
  const npx = (...args: string[]) =>
    run("npx", ["--no-install", "agentmux-registry", ...args], project);
  assert.equal(npx("--version").trim(), pkg.version);
  const listed = JSON.parse(npx("--root", root, "--agents-base", agentsBase, "list", "--json"));
  assert.deepEqual(
    listed.agents.map((agent: { instance_id: string }) => agent.instance_id),
    ["smoke-0001"],
  );
});
