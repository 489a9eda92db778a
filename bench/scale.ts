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
  /** `serve` (live index, HTTP on loopback) over the same registry, in a fresh process. */
  serve: {
    /** From the process's start (tsx loading included) to the first dropdown's last byte. */
    firstAnswerMs: number;
    /** From `RegistryService.open` to the first dropdown's last byte. */
    openToAnswerMs: number;
    /** After the first answer and 20 more, with the index settled. */
    peakRssMb: number;
    agents: number;
  };
}

export function benchScale(dir: string, records: number): ScaleResult {
  const root = join(dir, "scale");
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < records; i++) {
    const record = benchRecord(i, "44444444");
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record));
  }
  const run = (mode: string) => {
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", new URL(import.meta.url).pathname, mode, root],
      { encoding: "utf8" },
    );
    if (child.status !== 0) throw new Error(`scale ${mode} failed: ${child.stderr}`);
    return JSON.parse(child.stdout.trim().split("\n").pop() as string);
  };
  return { ...run("child"), serve: run("serve") } as ScaleResult;
}

export const formatScale = (result: ScaleResult) =>
  `scale: cold listActive of ${result.records} records in a fresh process: ${result.listMs.toFixed(0)} ms, ` +
  `peak RSS ${result.peakRssMb.toFixed(0)} MB\n` +
  `scale: serve (live index) over ${result.records} records in a fresh process: first answer ` +
  `${result.serve.firstAnswerMs.toFixed(0)} ms after process start ` +
  `(${result.serve.openToAnswerMs.toFixed(0)} ms after open), peak RSS ${result.serve.peakRssMb.toFixed(0)} MB`;

if (process.argv[2] === "child") {
  const root = process.argv[3] as string;
  const registry = await Registry.open(root, { sweepOnOpen: false });
  const started = performance.now();
  const listed = await registry.listActive();
  const listMs = performance.now() - started;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ records: listed.length, listMs, peakRssMb }));
}

if (process.argv[2] === "serve") {
  const root = process.argv[3] as string;
  const { RegistryService } = await import("../src/index.js");
  const { startServer } = await import("../src/server/serve.js");
  const opened = performance.now();
  const service = await RegistryService.open({
    root,
    version: "bench",
    live: true,
    sweepOnOpen: false,
  });
  const server = await startServer(service, { port: 0 });
  const get = async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/api/agents`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    return (await response.json()) as { agents: unknown[] };
  };
  const first = await get();
  const answered = performance.now();
  for (let i = 0; i < 20; i++) await get();
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await server.close();
  service.close();
  console.log(
    JSON.stringify({
      firstAnswerMs: answered,
      openToAnswerMs: answered - opened,
      peakRssMb,
      agents: first.agents.length,
    }),
  );
}
