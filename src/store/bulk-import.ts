/**
 * Bulk creation for migrations (docs/FORMAT.md, "Bulk import"): each record is written only if
 * its id exists in neither tree, by hard link (never replacing a file that appeared meanwhile, so
 * no lock is needed), with the directories' fsyncs batched.
 */

import type { JsonObject } from "../core/json.js";
import { prepareRecord } from "../core/merge.js";
import type { RecordInput } from "../core/schema.js";
import { monotonicMs } from "../io/clock.js";
import { createFilesExclusive, type WriteContext } from "../io/files.js";

/** One record for {@link Registry.importRecords}. */
export interface ImportItem {
  record: RecordInput;
  /** Write it straight into the Trash (a forgotten agent). */
  retired?: boolean;
}

/** What {@link Registry.importRecords} did. */
export interface ImportResult {
  /** Records written (active and retired). */
  written: number;
  /** Ids already present in either tree: never overwritten, never resurrected. */
  skippedExisting: number;
}

/** Where the import writes, and whom it tells about each file it wrote. */
export interface ImportTarget {
  io: WriteContext;
  pathOf(tree: "active" | "retired", id: string): string;
  /** The ids each tree holds now, read once: an id in either is never written. */
  idsIn(tree: "active" | "retired"): ReadonlySet<string>;
  announce(file: string, tree: JsonObject, elapsedMs: number): void;
}

/** How often progress is reported, in records linked. */
const PROGRESS_EVERY = 256;

/**
 * One batch for the whole import: one file-system sync instead of one per slice (each costs a
 * child process and a flush), and a crash before the links leaves only temps, swept later.
 */
export async function importRecords(
  target: ImportTarget,
  items: readonly ImportItem[],
  onProgress?: (done: number, total: number) => void,
): Promise<ImportResult> {
  const { io, pathOf } = target;
  const prepared = items.map((item) => ({
    record: prepareRecord(item.record),
    retired: item.retired === true,
  }));
  const result: ImportResult = { written: 0, skippedExisting: 0 };
  const active = target.idsIn("active");
  const retired = target.idsIn("retired");
  const fresh = prepared.filter(({ record: { id } }) => {
    const exists = active.has(id) || retired.has(id);
    if (exists) result.skippedExisting++;
    return !exists;
  });
  const total = prepared.length;
  let done = result.skippedExisting;
  const started = monotonicMs();
  await createFilesExclusive(
    io,
    fresh.map(({ record: { id, text }, retired }) => ({
      target: pathOf(retired ? "retired" : "active", id),
      text,
    })),
    (i, created) => {
      const { record, retired } = fresh[i] as (typeof fresh)[number];
      done++;
      if (!created) result.skippedExisting++;
      else {
        result.written++;
        target.announce(
          retired ? `retired/${record.id}.json` : `${record.id}.json`,
          record.tree,
          (monotonicMs() - started) / (i + 1),
        );
      }
      if (done % PROGRESS_EVERY === 0) onProgress?.(done, total);
    },
  );
  onProgress?.(total, total);
  return result;
}
