/**
 * A foreign write reaching a subscriber of the change feed: another process creates an agent,
 * then forgets it (through the `Registry`, as the CLI does), one at a time; this process holds a
 * live service and subscribes. Latency = the event's arrival here − the write's completion there
 * (both on the wall clock: `performance.timeOrigin + performance.now()`). Figures are printed,
 * never judged.
 *
 * Also the writer: `node --import tsx bench/events.ts writer <root>`, driven over IPC.
 */

import { fork } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { Registry, RegistryService } from "../src/index.js";
import { benchRecord } from "./harness.js";
import { percentile, seedFiles } from "./load.js";

const THIS_FILE = import.meta.filename;
const wallNow = () => performance.timeOrigin + performance.now();

export interface EventsReport {
  records: number;
  /** Milliseconds, sorted ascending, per kind of write. */
  created: number[];
  retired: number[];
}

export async function benchEvents(dir: string, records: number, writes: number) {
  const root = join(dir, "registry");
  mkdirSync(root, { recursive: true });
  seedFiles(root, records);
  const service = await RegistryService.open({ root, version: "bench", live: true });
  const arrived = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const { unsubscribe } = await service.subscribe((changes) => {
    const at = wallNow();
    for (const change of changes) {
      const key = `${change.type}:${change.id}`;
      arrived.set(key, at);
      waiting.get(key)?.();
    }
  });
  const child = fork(THIS_FILE, ["writer", root], {
    execArgv: ["--import", import.meta.resolve("tsx")],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: ((at: number) => void)[] = [];
  child.on("message", (message: { doneAt: number }) => replies.shift()?.(message.doneAt));
  const ask = (op: { kind: "create" | "forget"; id: string; i: number }) =>
    new Promise<number>((resolvePromise) => {
      replies.push(resolvePromise);
      child.send(op);
    });
  const eventOf = (key: string) =>
    new Promise<number>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${key} within 10 s`)), 10_000);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(key);
        resolvePromise(arrived.get(key) as number);
      };
      if (arrived.has(key)) done();
      else waiting.set(key, done);
    });
  const report: EventsReport = { records, created: [], retired: [] };
  try {
    for (let i = 0; i < writes; i++) {
      const id = benchRecord(i, "55555555").data.instance_id;
      const created = eventOf(`created:${id}`);
      const createdDone = await ask({ kind: "create", id, i });
      report.created.push((await created) - createdDone);
      const retired = eventOf(`retired:${id}`);
      const retiredDone = await ask({ kind: "forget", id, i });
      report.retired.push((await retired) - retiredDone);
      // Not back to back: a person's writes are seconds apart.
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    unsubscribe();
    service.close();
    child.kill();
  }
  report.created.sort((a, b) => a - b);
  report.retired.sort((a, b) => a - b);
  return report;
}

export function formatEvents(report: EventsReport): string {
  const row = (label: string, values: number[]) =>
    `| ${label} | ${values.length} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 90).toFixed(1)} | ${(values.at(-1) ?? Number.NaN).toFixed(1)} |`;
  return [
    `| foreign write → subscriber, ${report.records} records | writes | p50 ms | p90 ms | max ms |`,
    "| --- | --- | --- | --- | --- |",
    row("create (upsert of a new agent)", report.created),
    row("forget (retire of the agent)", report.retired),
  ].join("\n");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === THIS_FILE) {
  const [mode, root] = process.argv.slice(2);
  if (mode !== "writer" || !root) {
    console.error("usage: node --import tsx bench/events.ts writer <root>");
    process.exit(2);
  }
  const registry = await Registry.open(root, { sweepOnOpen: false });
  process.on("message", async (op: { kind: "create" | "forget"; id: string; i: number }) => {
    if (op.kind === "create") {
      await registry.upsert(benchRecord(op.i, "55555555"));
    } else await registry.retireForAgent(op.id, "agent");
    process.send?.({ doneAt: wallNow() });
  });
  process.on("disconnect", () => process.exit(0));
}
