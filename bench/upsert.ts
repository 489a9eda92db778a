/**
 * Writing: `registry.upsert()` of `count` new records one by one, into a fresh empty registry
 * each round, against the syscalls no durable write can avoid — exclusive-create a temp file,
 * write, fsync, close, rename, fsync the directory — with the file text prepared in advance.
 */

import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Registry } from "../src/index.js";
import { alternate, benchRecord, type Comparison, canonicalText } from "./harness.js";

export interface UpsertOptions {
  /** A scratch directory; every timed call gets a fresh subdirectory of it. */
  dir: string;
  agentsBase: string;
  count: number;
  rounds: number;
}

export async function benchUpsert(options: UpsertOptions): Promise<Comparison> {
  const { dir, count, rounds } = options;
  // Ids that the listing bench's registry does not use, so "new" stays true whatever shares dir.
  const records = Array.from({ length: count }, (_, i) => benchRecord(i, "11111111"));
  const files = records.map((record) => ({
    id: record.data.instance_id,
    text: canonicalText(record),
  }));

  let fresh = 0;
  let current = "";
  const freshDir = () => {
    if (current) rmSync(current, { recursive: true, force: true });
    current = join(dir, `round-${fresh++}`);
    mkdirSync(current, { mode: 0o700 });
    return current;
  };

  // Both cases must write the same bytes, or the ratio compares different work.
  const probe = await Registry.open(freshDir(), { agentsBase: options.agentsBase });
  const [first] = records;
  if (first) {
    await probe.upsert(first);
    const written = readFileSync(join(current, `${first.data.instance_id}.json`), "utf8");
    if (written !== files[0]?.text) throw new Error("upsert wrote other bytes than the baseline");
  }

  let registry: Registry | undefined;
  const [baseline, upsert, update] = await alternate(rounds, [
    {
      label: "baseline",
      setup: freshDir,
      run: () => {
        const root = current;
        for (const { id, text } of files) {
          const temp = join(root, `.tmp-${id}.${process.pid}`);
          const fd = openSync(temp, "wx", 0o600);
          writeSync(fd, text);
          fsyncSync(fd);
          closeSync(fd);
          renameSync(temp, join(root, `${id}.json`));
          const dirFd = openSync(root, "r");
          fsyncSync(dirFd);
          closeSync(dirFd);
        }
      },
    },
    {
      label: "upsert",
      setup: async () => {
        registry = await Registry.open(freshDir(), { agentsBase: options.agentsBase });
      },
      run: async () => {
        for (const record of records) {
          const outcome = await registry?.upsert(record);
          if (outcome?.status !== "created") {
            throw new Error(`upsert ${record.data.instance_id}: ${JSON.stringify(outcome)}`);
          }
        }
      },
    },
    {
      label: "update",
      setup: async () => {
        // Untimed: the records to update, already on disk and settled in a registry.
        const dir = freshDir();
        for (const { id, text } of files)
          writeFileSync(join(dir, `${id}.json`), text, { mode: 0o600 });
        registry = await Registry.open(dir, { agentsBase: options.agentsBase });
      },
      run: async () => {
        for (const record of records) {
          const outcome = await registry?.update(record.data.instance_id, (r) => {
            r.data.last_launched_at_ms += 1;
            return r;
          });
          if (outcome?.status !== "updated") {
            throw new Error(`update ${record.data.instance_id}: ${JSON.stringify(outcome)}`);
          }
        }
      },
    },
  ]);
  if (current) rmSync(current, { recursive: true, force: true });
  return { title: `write ${count} records`, items: count, baseline, cases: [upsert, update] };
}
