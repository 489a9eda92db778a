/**
 * Listing: `registry.listActive()` over a registry of `records` files against the least a
 * reader can do — a plain synchronous readdir + readFile + JSON.parse loop with no validation
 * (no unbounded Promise.all over thousands of reads, as the issue asks of the registry too).
 */

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "../src/index.js";
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
  const registry = await Registry.open(root, { agentsBase: options.agentsBase });
  const skipped: string[] = [];
  registry.on("skipped", (file) => skipped.push(`${file.file}: ${file.reason}: ${file.message}`));

  let seen = 0;
  const [baseline, listActive] = await alternate(rounds, [
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
      label: "listActive",
      run: async () => {
        const listed = await registry.listActive();
        // A correctness check, not a speed one: a bench that lists skipped files measures nothing.
        if (listed.length !== records || seen !== records) {
          const onDisk = readdirSync(root).filter((name) => name.endsWith(".json")).length;
          throw new Error(
            `expected ${records} records, listActive ${listed.length}, baseline ${seen}, ` +
              `now on disk ${onDisk}; skipped ${skipped.length}: ${skipped.slice(0, 5).join("; ")}`,
          );
        }
      },
    },
  ]);
  return {
    title: `list ${records} records`,
    items: records,
    baseline,
    cases: [listActive],
  };
}
