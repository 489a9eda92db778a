/**
 * The root's own files, beside the records: marker files (`.migrated_from_sqlite` …), and the
 * sweep of what crashed writers left (stale temp and lock files) and of odd entries at the names
 * reserved for them. Used by the `Registry`, which holds one.
 */

import { join, relative, sep } from "node:path";
import { RegistryError } from "../core/errors.js";
import { LEASES_DIR } from "../core/lease.js";
import { MAX_FILE_BYTES } from "../core/schema.js";
import { currentIdentity, readEntry, type WriteContext, writeFileAtomic } from "../io/files.js";
import { errnoCode } from "../io/fs.js";
import { HOLDER_PREFIX, LOCK_PREFIX } from "../io/lock.js";
import { findOddEntries, type OddEntry, removeOddEntry, sweepStale } from "../io/sweep.js";
import { invalidEntry } from "./record-errors.js";

/** pino-compatible: `logger.warn({ file, reason }, "message")`. */
export interface Logger {
  debug(details: object, message: string): void;
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** An odd entry at a reserved name (`Registry.oddEntries`), named relative to the root. */
export interface OddFile extends Omit<OddEntry, "path"> {
  /** Relative to the registry root, with `/`: `.lock-x`, `retired/.tmp-y`. */
  file: string;
}

/** What {@link Registry.sweep} removed. */
export interface SweepResult {
  /** Stale temp and lock files removed, relative to the root. */
  removed: string[];
}

export class RootFiles {
  constructor(
    private readonly io: WriteContext,
    private readonly root: string,
    private readonly retiredDir: string,
    private readonly logger: Logger,
  ) {}

  sweep(olderThanMs: number): SweepResult {
    const removed = this.relativeAll(
      sweepStale(this.io, this.sweptDirs(), olderThanMs, false, this.sweepFailed),
    );
    if (removed.length > 0)
      this.logger.info({ removed }, "registry: swept stale temp and lock files");
    return { removed };
  }

  staleFiles(olderThanMs: number): string[] {
    return this.relativeAll(
      sweepStale(this.io, this.sweptDirs(), olderThanMs, true, this.sweepFailed),
    );
  }

  oddEntries(): OddFile[] {
    return findOddEntries(this.io, this.trees()).map(({ path, ...entry }) => ({
      ...entry,
      file: this.relativeAll([path])[0] as string,
    }));
  }

  removeOddEntries(): string[] {
    const removed: string[] = [];
    for (const entry of findOddEntries(this.io, this.trees())) {
      try {
        if (removeOddEntry(this.io, entry)) removed.push(...this.relativeAll([entry.path]));
      } catch (error) {
        this.sweepFailed(entry.path, error);
      }
    }
    if (removed.length > 0) this.logger.info({ removed }, "registry: removed odd entries");
    return removed;
  }

  readMarker(name: string): string | null {
    const entry = readEntry(this.io.fs, this.markerPath(name), MAX_FILE_BYTES);
    if (entry.kind === "absent") return null;
    if (entry.kind !== "bytes") throw invalidEntry(name, entry);
    return entry.bytes.toString("utf8");
  }

  async writeMarker(name: string, text: string): Promise<void> {
    const path = this.markerPath(name);
    await writeFileAtomic(this.io, path, text, currentIdentity(this.io.fs, path));
  }

  private markerPath(name: string): string {
    if (
      !/^\.[A-Za-z0-9_-]+$/.test(name) ||
      name.startsWith(LOCK_PREFIX) ||
      name.startsWith(HOLDER_PREFIX) ||
      name.startsWith(".tmp-")
    ) {
      throw new RegistryError("INVALID_ARGUMENT", `${JSON.stringify(name)} is not a marker name`, {
        name,
      });
    }
    return join(this.root, name);
  }

  private trees(): string[] {
    return [this.root, this.retiredDir];
  }

  /** The trees, and the lease tree, where a crashed lease write leaves its temp file too. */
  private sweptDirs(): string[] {
    return [...this.trees(), join(this.root, LEASES_DIR)];
  }

  private readonly sweepFailed = (path: string, error: unknown): void => {
    const detail = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      { file: this.relativeAll([path])[0], errno: errnoCode(error) },
      `registry: left ${path} in place: ${detail}`,
    );
  };

  private relativeAll(paths: string[]): string[] {
    return paths.map((path) => relative(this.root, path).split(sep).join("/"));
  }
}
