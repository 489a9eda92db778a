/**
 * Listing: `registry.listActive()` over a registry of `records` files against the least a
 * reader can do — a plain synchronous readdir + readFile + JSON.parse loop with no validation
 * (no unbounded Promise.all over thousands of reads, as the issue asks of the registry too).
 */

import { lstatSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Registry, RegistryService } from "../src/index.js";
import { RACY_MS } from "../src/io/tree-reader.js";
import { alternate, benchRecord, type Comparison, canonicalText } from "./harness.js";

export interface ListOptions {
  /** The registry root to fill; created empty by the caller. */
  root: string;
  agentsBase: string;
  records: number;
  rounds: number;
}

export async function benchList(options: ListOptions): Promise<Comparison> {
  const { root, records, rounds } = options;
  for (let i = 0; i < records; i++) {
    const record = benchRecord(i);
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record), {
      mode: 0o600,
    });
  }
  // Files changed in the last 2 s are never trusted by the listing cache (RACY_MS): let them settle,
  // as a real registry's files have.
  await new Promise((resolve) => setTimeout(resolve, RACY_MS + 200));
  const open = () => Registry.open(root, { agentsBase: options.agentsBase, sweepOnOpen: false });
  const warm = await open();
  const service = new RegistryService(warm, { version: "bench" });
  const skipped: string[] = [];
  warm.on("skipped", (file) => skipped.push(`${file.file}: ${file.reason}: ${file.message}`));
  const check = (listed: number) => {
    // A correctness check, not a speed one: a bench that lists skipped files measures nothing.
    if (listed !== records || seen !== records) {
      const onDisk = readdirSync(root).filter((name) => name.endsWith(".json")).length;
      throw new Error(
        `expected ${records} records, listed ${listed}, baseline ${seen}, ` +
          `now on disk ${onDisk}; skipped ${skipped.length}: ${skipped.slice(0, 5).join("; ")}`,
      );
    }
  };
  let fresh: Registry | undefined;
  let edits = 0;
  const editTen = () => {
    for (let k = 0; k < 10; k++) {
      const record = benchRecord((edits * 10 + k) % records);
      record.data.last_launched_at_ms += ++edits;
      const path = join(root, `${record.data.instance_id}.json`);
      writeFileSync(`${path}.tmp`, canonicalText(record), { mode: 0o600 });
      renameSync(`${path}.tmp`, path);
    }
  };

  let seen = 0;
  const [baseline, cold, warmList, changed, named, body, floor] = await alternate(rounds, [
    {
      label: "baseline",
      run: () => {
        const parsed: unknown[] = [];
        for (const name of readdirSync(root)) {
          if (!name.endsWith(".json")) continue;
          parsed.push(JSON.parse(readFileSync(join(root, name), "utf8")));
        }
        seen = parsed.length;
      },
    },
    {
      label: "cold listActive",
      setup: async () => {
        fresh = await open();
      },
      run: async () => check((await (fresh as Registry).listActive()).length),
    },
    { label: "warm listActive", run: async () => check((await warm.listActive()).length) },
    {
      label: "warm, 10 changed",
      setup: editTen,
      run: async () => check((await warm.listActive()).length),
    },
    { label: "warm listNamedAgents", run: async () => service.listNamedAgents() },
    {
      // What `list --all --json` sends: every agent's wire form, its lease state included.
      label: "warm list body, all",
      run: async () => service.listNamedAgentsBody({ all: true }),
    },
    {
      // What any exact cache must do: see every file's identity (an in-place edit changes nothing
      // else). Not a case of the registry: the floor of the warm ones.
      label: "floor: lstat each file",
      run: () => {
        for (const name of readdirSync(root))
          if (name.endsWith(".json")) lstatSync(join(root, name));
      },
    },
  ]);
  return {
    title: `list ${records} records`,
    items: records,
    baseline,
    cases: [cold, warmList, changed, named, body, floor],
  };
}
