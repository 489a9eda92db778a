/**
 * Bulk creation for migrations (docs/FORMAT.md, "Bulk import"): each record is written only if
 * its id exists in neither tree, by hard link (never replacing a file that appeared meanwhile, so
 * no lock is needed), with the directories' fsyncs batched.
 */

import { performance } from "node:perf_hooks";
import type { JsonObject } from "../core/json.js";
import { prepareRecord } from "../core/merge.js";
import type { RecordInput } from "../core/schema.js";
import { createFilesExclusive, entryExists, type WriteContext } from "../io/files.js";

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

/** Records created per batch: one directory fsync per batch. */
const IMPORT_BATCH = 256;

/** Where the import writes, and whom it tells about each file it wrote. */
export interface ImportTarget {
  io: WriteContext;
  pathOf(tree: "active" | "retired", id: string): string;
  announce(file: string, tree: JsonObject, elapsedMs: number): void;
}

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
  for (let start = 0; start < prepared.length; start += IMPORT_BATCH) {
    const batch = prepared.slice(start, start + IMPORT_BATCH).filter(({ record: { id } }) => {
      const exists =
        entryExists(io.fs, pathOf("active", id)) || entryExists(io.fs, pathOf("retired", id));
      if (exists) result.skippedExisting++;
      return !exists;
    });
    const started = performance.now();
    const created = await createFilesExclusive(
      io,
      batch.map(({ record: { id, text }, retired }) => ({
        target: pathOf(retired ? "retired" : "active", id),
        text,
      })),
    );
    const elapsedPerRecord = (performance.now() - started) / Math.max(1, batch.length);
    batch.forEach(({ record, retired }, i) => {
      if (!created[i]) {
        result.skippedExisting++;
        return;
      }
      result.written++;
      target.announce(
        retired ? `retired/${record.id}.json` : `${record.id}.json`,
        record.tree,
        elapsedPerRecord,
      );
    });
    onProgress?.(Math.min(start + IMPORT_BATCH, prepared.length), prepared.length);
  }
  return result;
}
