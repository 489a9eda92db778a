/**
 * `npm start [-- --root DIR]`: shows where the registry is and what it holds — active records
 * (most recently launched first), how many are retired, and every skipped file with its reason.
 * Read-only apart from `Registry.open`, which creates a missing root (mode 0700).
 */

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { defaultPaths, type NamedAgentRecord, Registry } from "./index.js";

/** File contents reach the terminal: control characters could rewrite it, so they are masked. */
const clean = (text: string) => text.replace(/\p{Cc}/gu, "?");

function launchedAt(ms: number): string {
  const date = new Date(ms);
  // A valid record may hold any safe integer; Date covers only ±8.64e15 ms.
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function table(records: readonly NamedAgentRecord[]): string[] {
  const rows = records.map(({ data }) => [
    clean(data.instance_name),
    clean(data.definition_id),
    launchedAt(data.last_launched_at_ms),
    clean(data.working_dir),
  ]);
  rows.unshift(["NAME", "DEFINITION", "LAST LAUNCHED", "WORKING DIR"]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  return rows.map((row) =>
    row.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i] ?? 0) : cell)).join("  "),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { root: { type: "string" } } });
  const paths = defaultPaths();
  const registry = await Registry.open(resolve(values.root ?? paths.root), {
    agentsBase: paths.agentsBase,
  });
  const { active, retired, skipped } = await registry.scan();
  active.sort((a, b) => b.data.last_launched_at_ms - a.data.last_launched_at_ms);

  console.log(`registry:    ${registry.root}`);
  console.log(`agents base: ${registry.agentsBase}`);
  console.log("");
  if (active.length === 0) console.log("no active records");
  else for (const line of table(active)) console.log(line.trimEnd());
  console.log("");
  console.log(`${active.length} active, ${retired.length} retired, ${skipped.length} skipped`);
  for (const file of skipped) {
    console.error(`skipped ${clean(file.file)}: ${file.reason}: ${clean(file.message)}`);
  }
}

main().catch((error: unknown) => {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
