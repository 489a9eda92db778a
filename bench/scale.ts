/**
 * Scale: a cold `listActive()` of a large registry in a fresh process, reporting its time and the
 * process's peak RSS. Run by `bench/run.ts` in a child so the figure is that listing's alone.
 */

import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "../src/index.js";
import { benchRecord, canonicalText } from "./harness.js";

export interface ScaleResult {
  records: number;
  listMs: number;
  peakRssMb: number;
}

export function benchScale(dir: string, records: number): ScaleResult {
  const root = join(dir, "scale");
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < records; i++) {
    const record = benchRecord(i, "44444444");
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record));
  }
  const child = spawnSync(
    process.execPath,
    ["--import", "tsx", new URL(import.meta.url).pathname, "child", root],
    {
      encoding: "utf8",
    },
  );
  if (child.status !== 0) throw new Error(`scale child failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").pop() as string) as ScaleResult;
}

export const formatScale = (result: ScaleResult) =>
  `scale: cold listActive of ${result.records} records in a fresh process: ${result.listMs.toFixed(0)} ms, ` +
  `peak RSS ${result.peakRssMb.toFixed(0)} MB`;

if (process.argv[2] === "child") {
  const root = process.argv[3] as string;
  const registry = await Registry.open(root, { sweepOnOpen: false });
  const started = performance.now();
  const listed = await registry.listActive();
  const listMs = performance.now() - started;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ records: listed.length, listMs, peakRssMb }));
}
