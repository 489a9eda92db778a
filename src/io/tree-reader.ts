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

import type { Stats } from "node:fs";
import { sep } from "node:path";
import { decodeRecord } from "../core/decode.js";
import { MAX_FILE_BYTES, type NamedAgentRecord, type SkipReason } from "../core/schema.js";
import { monotonicMs } from "./clock.js";
import {
  describeUnreadableEntry,
  directoryIdentity,
  type EntryRead,
  type FileIdentity,
  listDirectory,
  readEntry,
  sameIdentity,
  statMatches,
  unreadable,
} from "./files.js";
import { errnoCode, type FsOps } from "./fs.js";

/** Longer than any file system's timestamp granularity that matters here (FAT: 2 s). */
export const RACY_MS = 2_000;

/** A file a listing left out, and why. */
export interface SkippedFile {
  /** Relative to the registry root, with `/`: `x.json`, `retired/x.json`. */
  file: string;
  reason: SkipReason;
  message: string;
}

export interface TreeRead {
  records: NamedAgentRecord[];
  skipped: SkippedFile[];
  slowestMs: number;
}

export type Outcome = { record: NamedAgentRecord; skipped?: undefined } | { skipped: SkippedFile };

interface Cached {
  identity: FileIdentity;
  outcome: Outcome;
}

/** One `*.json` name of the tree, with what was last read from it (while that can be trusted). */
interface Candidate {
  name: string;
  isFile: boolean;
  path: string;
  /** As reports name it: `x.json` or `retired/x.json`. */
  file: string;
  cached: Cached | null;
}

export class TreeReader {
  /** The last name list, kept while the directory's identity says it is current. */
  private listed: { identity: FileIdentity; candidates: Candidate[] } | null = null;
  private candidates: Candidate[] = [];
  /** One read buffer for every file (decoding copies what it keeps). */
  private scratch: Buffer | undefined;

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
    let slowestMs = 0;
    for (const candidate of this.refreshNames(now)) {
      if (!candidate.isFile) {
        skipped.push({ file: candidate.file, reason: "not-regular-file", message: NOT_REGULAR });
        continue;
      }
      let outcome: Outcome | null = null;
      const cached = candidate.cached;
      if (cached !== null) {
        const stat = statOrNull(this.fs, candidate.path);
        if (stat === null) {
          candidate.cached = null;
          continue;
        }
        if ("kind" in stat) {
          // The cached read cannot be confirmed: read it again, which reports what is wrong.
          candidate.cached = null;
        } else if (statMatches(stat, cached.identity)) outcome = cached.outcome;
      }
      if (outcome === null) {
        const started = monotonicMs();
        outcome = this.readOne(candidate, now);
        slowestMs = Math.max(slowestMs, monotonicMs() - started);
        if (outcome === null) continue;
      }
      if (outcome.skipped === undefined) records.push(outcome.record);
      else skipped.push(outcome.skipped);
    }
    return { records, skipped, slowestMs };
  }

  /**
   * Reads `name` now, uncached (a live index re-reading a file its own process just wrote):
   * the record, or why it is skipped, or `null` when there is no such entry.
   */
  readName(name: string): Outcome | null {
    const candidate: Candidate = {
      name,
      isFile: true,
      path: `${this.dir}${sep}${name}`,
      file: `${this.prefix}${name}`,
      cached: null,
    };
    return this.readOne(candidate, Number.POSITIVE_INFINITY);
  }

  /** Reads and decodes one file, caching the result unless the file changed too recently. */
  private readOne(candidate: Candidate, now: number): Outcome | null {
    candidate.cached = null;
    this.scratch ??= Buffer.allocUnsafe(MAX_FILE_BYTES + 1);
    const read = readEntry(this.fs, candidate.path, MAX_FILE_BYTES, this.scratch);
    if (read.kind === "absent") return null;
    if (read.kind === "unreadable") {
      // Never cached: EIO may pass, and a chmod changes the ctime anyway.
      const message = describeUnreadableEntry(read);
      return { skipped: { file: candidate.file, reason: "unreadable", message } };
    }
    if (read.kind !== "bytes") {
      const message =
        read.kind === "too-large"
          ? `larger than ${MAX_FILE_BYTES} bytes (${read.size} bytes)`
          : NOT_REGULAR;
      return { skipped: { file: candidate.file, reason: read.kind, message } };
    }
    const decoded = decodeRecord(candidate.name.slice(0, -".json".length), read.bytes);
    const outcome: Outcome = decoded.ok
      ? { record: deepFreeze(decoded.record) }
      : {
          skipped: {
            file: candidate.file,
            reason: decoded.issue.reason,
            message: decoded.issue.message,
          },
        };
    if (!this.isRacy(read.identity, now)) candidate.cached = { identity: read.identity, outcome };
    return outcome;
  }

  /**
   * The candidate names (`*.json`, not hidden), sorted. The last list is reused while the
   * directory's identity is unchanged (any create, delete or rename changes it); a fresh list
   * keeps what was cached for the names it still has.
   */
  private refreshNames(now: number): Candidate[] {
    // Followed, not lstat'ed: the tree may be a symlink to the real directory.
    const before = directoryIdentity(this.fs, this.dir);
    if (this.listed && before !== "absent" && sameIdentity(before, this.listed.identity)) {
      return this.listed.candidates;
    }
    // A name listed before keeps its candidate (and what was cached for it): a large tree
    // re-listed after one change allocates little.
    const previous = new Map(this.candidates.map((candidate) => [candidate.name, candidate]));
    this.candidates = listDirectory(this.fs, this.dir)
      .filter((entry) => !entry.name.startsWith(".") && entry.name.endsWith(".json"))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((entry) => {
        const known = previous.get(entry.name);
        if (known !== undefined && known.isFile === entry.isFile) return known;
        return {
          name: entry.name,
          isFile: entry.isFile,
          path: `${this.dir}${sep}${entry.name}`,
          file: `${this.prefix}${entry.name}`,
          cached: null,
        };
      });
    this.listed =
      before === "absent" || this.isRacy(before, now)
        ? null
        : { identity: before, candidates: this.candidates };
    return this.candidates;
  }

  private isRacy(identity: FileIdentity, now: number): boolean {
    return now - Math.max(identity.mtimeMs, identity.ctimeMs) < this.racyMs;
  }
}

const NOT_REGULAR = "not a regular file (directory, symlink or device)";

/**
 * `lstat` without an options object: Node parses options on every call, which on a 10,000-file
 * warm listing costs more than the rare exception for a file that vanished meanwhile. An error
 * about the file (EIO …) is returned, not thrown: one bad file never fails a listing.
 */
function statOrNull(
  fs: FsOps,
  path: string,
): Stats | Extract<EntryRead, { kind: "unreadable" }> | null {
  try {
    return fs.lstatSync(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    return unreadable("stat", path, error);
  }
}

/** Cached records are shared by every listing: frozen, so no caller can change another's copy. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    const object = value as Record<string, unknown>;
    for (const key in object) {
      const member = object[key];
      if (typeof member === "object" && member !== null) deepFreeze(member);
    }
  }
  return value;
}
