/**
 * Reads one tree of the registry (`<root>` or `<root>/retired`) and remembers what it read, so a
 * listing when little has changed costs one `lstat` per file instead of open, read, parse and
 * validate — and gives exactly what a cold read would.
 *
 * Exactness: a cached result is reused only when the file's identity (device, inode, size, mtime
 * and ctime) is unchanged. The kernel sets ctime on every change and no program
 * can set it, so an in-place edit that keeps the size and even restores the mtime is still seen.
 * What identity cannot see is a second change within one timestamp tick of the read: so a file
 * (or the directory's name list) changed less than `RACY_MS` before it was read is not trusted
 * and is read again next time — git's "racy" rule.
 */

import { sep } from "node:path";
import { performance } from "node:perf_hooks";
import { decodeRecord, MAX_FILE_BYTES, type NamedAgentRecord } from "./core/schema.js";
import {
  type FileIdentity,
  identityAt,
  listDirectory,
  readEntry,
  sameIdentity,
  statMatches,
} from "./io/files.js";
import type { FsOps } from "./io/fs.js";
import type { SkippedFile } from "./registry.js";

/** Longer than any file system's timestamp granularity that matters here (FAT: 2 s). */
export const RACY_MS = 2_000;

export interface TreeRead {
  records: NamedAgentRecord[];
  skipped: SkippedFile[];
  slowestMs: number;
}

type Outcome = { record: NamedAgentRecord } | { skipped: SkippedFile };

interface Cached {
  identity: FileIdentity;
  outcome: Outcome;
}

interface Names {
  identity: FileIdentity;
  entries: { name: string; isFile: boolean }[];
}

export class TreeReader {
  private names: Names | null = null;
  private files = new Map<string, Cached>();

  constructor(
    private readonly fs: FsOps,
    private readonly dir: string,
    /** How a file is named in reports: `x.json` or `retired/x.json`. */
    private readonly prefix: string,
    private readonly racyMs: number = RACY_MS,
  ) {}

  read(): TreeRead {
    const now = Date.now();
    const records: NamedAgentRecord[] = [];
    const skipped: SkippedFile[] = [];
    const files = new Map<string, Cached>();
    let slowestMs = 0;
    for (const entry of this.candidates(now)) {
      const file = `${this.prefix}${entry.name}`;
      if (!entry.isFile) {
        skipped.push({ file, reason: "not-regular-file", message: NOT_REGULAR });
        continue;
      }
      const path = `${this.dir}${sep}${entry.name}`;
      const cached = this.files.get(entry.name);
      let outcome: Outcome | null = null;
      if (cached) {
        const stat = this.fs.lstatSync(path, { throwIfNoEntry: false });
        if (stat === undefined) continue;
        if (statMatches(stat, cached.identity)) {
          outcome = cached.outcome;
          files.set(entry.name, cached);
        }
      }
      if (outcome === null) {
        const started = performance.now();
        const read = readEntry(this.fs, path, MAX_FILE_BYTES);
        if (read.kind === "absent") continue;
        if (read.kind === "bytes") {
          const decoded = decodeRecord(entry.name.slice(0, -".json".length), read.bytes);
          outcome = decoded.ok
            ? { record: deepFreeze(decoded.record) }
            : { skipped: { file, reason: decoded.issue.reason, message: decoded.issue.message } };
          if (!this.isRacy(read.identity, now))
            files.set(entry.name, { identity: read.identity, outcome });
        } else {
          const message =
            read.kind === "too-large"
              ? `larger than ${MAX_FILE_BYTES} bytes (${read.size} bytes)`
              : NOT_REGULAR;
          outcome = { skipped: { file, reason: read.kind, message } };
        }
        slowestMs = Math.max(slowestMs, performance.now() - started);
      }
      if ("record" in outcome) records.push(outcome.record);
      else skipped.push(outcome.skipped);
    }
    this.files = files;
    return { records, skipped, slowestMs };
  }

  /** The candidate names (`*.json`, not hidden), sorted; the last list while the directory is unchanged. */
  private candidates(now: number): Names["entries"] {
    const before = identityAt(this.fs, this.dir).identity;
    if (this.names && before !== "absent" && sameIdentity(before, this.names.identity))
      return this.names.entries;
    const entries = listDirectory(this.fs, this.dir)
      .filter((entry) => !entry.name.startsWith(".") && entry.name.endsWith(".json"))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.names =
      before === "absent" || this.isRacy(before, now) ? null : { identity: before, entries };
    return entries;
  }

  private isRacy(identity: FileIdentity, now: number): boolean {
    const changed = Math.max(identity.mtimeMs, identity.ctimeMs);
    return now - changed < this.racyMs;
  }
}

const NOT_REGULAR = "not a regular file (directory, symlink or device)";

/** Cached records are shared by every listing: frozen, so no caller can change another's copy. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
