/**
 * Start-up: what one CLI call costs, every case a fresh process (as every CLI call is), timed from
 * spawn to exit, stdout to /dev/null, in alternating rounds (median).
 *
 * - `startup`: `agentmux-registry list --json` over 100 records against `node -e 0`, with the
 *   floors that split the gap: `agentmux-registry -V` (the bin loaded, no registry opened) and a
 *   plain script that reads, parses and prints the same 100 records (the work itself).
 * - `cold`: `agentmux-registry list --all --json` over `records` (10,000) records against a
 *   script that reads everything (readdirSync + readFileSync + JSON.parse per `.json`, printing
 *   the count), and against the same script printing what the CLI prints (each record's data as
 *   pretty JSON): the output is part of the call, so that one is the target's floor. A third
 *   script also makes the checks every read makes (`decodeRecord`): the floor of a listing that
 *   keeps the format's guarantees.
 *
 * Measures the BUILT bin (`npm run build` first), the file `npx agentmux-registry` runs.
 */

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildSync } from "esbuild";
import { alternate, benchRecord, type Case, type Comparison, canonicalText } from "./harness.js";

const BIN = join(import.meta.dirname, "..", "dist", "cli", "bin.cjs");
const DECODE = join(import.meta.dirname, "..", "src", "core", "decode.ts");

/** Reads every record as the baseline does; `print` also writes what `list --json` would. */
const READ_ALL = `
const { readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");
const [dir, print] = process.argv.slice(2);
const records = [];
for (const name of readdirSync(dir)) {
  if (name.endsWith(".json")) records.push(JSON.parse(readFileSync(join(dir, name), "utf8")));
}
if (print) process.stdout.write(JSON.stringify({ agents: records.map((r) => r.data) }, null, 2) + "\\n");
else console.log(records.length);
`;

/**
 * The read-everything script plus the checks every read of a record makes (`decodeRecord`:
 * strict UTF-8, the lossless checks, the schema), bundled by esbuild into one CommonJS file as the
 * bin is, so that it loads as fast as a plain script: what no listing can skip.
 */
const READ_AND_CHECK_ALL = `
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeRecord } from ${JSON.stringify(DECODE)};
const [dir] = process.argv.slice(2);
const records = [];
for (const name of readdirSync(dir)) {
  if (!name.endsWith(".json")) continue;
  const decoded = decodeRecord(name.slice(0, -5), readFileSync(join(dir, name)));
  if (decoded.ok) records.push(decoded.record);
}
process.stdout.write(JSON.stringify({ agents: records.map((r) => r.data) }, null, 2) + "\\n");
`;

export interface StartupOptions {
  dir: string;
  rounds: number;
}

export interface ColdOptions extends StartupOptions {
  records: number;
}

function requireBuild(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
}

/** A registry root of `records` canonical files, and the read-everything script beside it. */
function prepare(
  dir: string,
  records: number,
): { root: string; script: string; checkScript: string } {
  const root = join(dir, "registry");
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (let i = 0; i < records; i++) {
    const record = benchRecord(i, "55555555");
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record));
  }
  const script = join(dir, "read-all.cjs");
  writeFileSync(script, READ_ALL);
  const checkScript = join(dir, "read-and-check-all.cjs");
  buildSync({
    stdin: { contents: READ_AND_CHECK_ALL, resolveDir: dir, loader: "ts" },
    bundle: true,
    minify: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: checkScript,
    logLevel: "warning",
  });
  return { root, script, checkScript };
}

/**
 * A case that runs `node ...args` in a fresh process. Its first run (the untimed warm-up) checks
 * the output with `check`: a benchmark that fails or lists the wrong thing measures nothing.
 */
function fresh(
  label: string,
  args: string[],
  check: (stdout: string) => boolean,
  devNull: number,
): Case {
  let checked = false;
  return {
    label,
    run: () => {
      const child = spawnSync(process.execPath, args, {
        stdio: ["ignore", checked ? devNull : "pipe", "pipe"],
        encoding: "utf8",
        maxBuffer: 1 << 30,
      });
      if (child.status !== 0 || (!checked && !check(child.stdout))) {
        throw new Error(
          `${label}: exit ${child.status}\n${child.stderr}\n${child.stdout?.slice(0, 500)}`,
        );
      }
      checked = true;
    },
  };
}

/** Runs `work` with a descriptor of /dev/null for the timed runs' stdout. */
async function withDevNull<T>(work: (devNull: number) => Promise<T>): Promise<T> {
  const devNull = openSync("/dev/null", "w");
  try {
    return await work(devNull);
  } finally {
    closeSync(devNull);
  }
}

const agentCount = (stdout: string) => (JSON.parse(stdout) as { agents: unknown[] }).agents.length;

export async function benchStartup(options: StartupOptions): Promise<Comparison> {
  requireBuild();
  const records = 100;
  const { root, script, checkScript } = prepare(options.dir, records);
  const [baseline, list, version, floor, checked] = await withDevNull((devNull) =>
    alternate(options.rounds, [
      fresh("node -e 0", ["-e", "0"], () => true, devNull),
      fresh(
        "list --json",
        [BIN, "--root", root, "list", "--json"],
        (out) => agentCount(out) === records,
        devNull,
      ),
      fresh(
        "floor: -V (the bin loaded, nothing read)",
        [BIN, "-V"],
        (out) => /^\d/.test(out),
        devNull,
      ),
      fresh(
        "floor: read + print 100 (a plain script)",
        [script, root, "print"],
        (out) => agentCount(out) === records,
        devNull,
      ),
      fresh(
        "floor: read + check + print 100 (the checks every read makes)",
        [checkScript, root],
        (out) => agentCount(out) === records,
        devNull,
      ),
    ]),
  );
  return {
    title: `fresh process, ${records} records`,
    items: 1,
    baseline,
    cases: [list, version, floor, checked],
  };
}

export async function benchCold(options: ColdOptions): Promise<Comparison[]> {
  requireBuild();
  const { records } = options;
  const { root, script, checkScript } = prepare(options.dir, records);
  const [count, print, checked, list] = await withDevNull((devNull) =>
    alternate(options.rounds, [
      fresh("read all, print the count", [script, root], (out) => Number(out) === records, devNull),
      fresh(
        "read all, print them",
        [script, root, "print"],
        (out) => agentCount(out) === records,
        devNull,
      ),
      fresh(
        "floor: read all, check them as every read does, print them",
        [checkScript, root],
        (out) => agentCount(out) === records,
        devNull,
      ),
      fresh(
        "list --all --json",
        [BIN, "--root", root, "list", "--all", "--json"],
        (out) => agentCount(out) === records,
        devNull,
      ),
    ]),
  );
  const title = `cold list ${records}, fresh process`;
  return [
    { title, items: records, baseline: count, cases: [print, checked, list] },
    { title: `${title}, same output`, items: records, baseline: print, cases: [checked, list] },
  ];
}
