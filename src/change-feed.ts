/**
 * The change feed: tells subscribers when a record was created, updated, retired, restored or
 * deleted — whoever changed it (this process, the CLI, the Rust server). `fs.watch` on both trees
 * is only a hint (debounced); a periodic rescan is the safety net; each rescan is diffed against
 * the last snapshot. Rescans run only while someone listens.
 *
 * Nothing here can end the process: a rescan that fails (a tree that became a file, a disk
 * error) is reported once per distinct error, the last good snapshot is kept, and the next
 * rescan tries again; a listener that throws is reported and the others still hear the news.
 */

import { type FSWatcher, watch } from "node:fs";
import { join } from "node:path";
import { type Agent, agentJson, type ChangeEvent, type ChangeType, type Snapshot } from "./api.js";
import type { NamedAgentRecord } from "./core/schema.js";
import type { Registry } from "./registry.js";

type Listener = (changes: ChangeEvent[], snapshot: Snapshot) => void;

interface Entry {
  tree: "active" | "retired";
  fingerprint: string;
  agent: Agent;
}

export interface FeedOptions {
  /** Quiet time after a file-system event before rescanning. */
  debounceMs?: number;
  /** The safety-net rescan period. */
  rescanMs?: number;
  /** Where failures of background work are reported (default: a line on stderr). */
  report?: (message: string) => void;
}

export const reportToStderr = (message: string) => {
  try {
    process.stderr.write(`agentmux-registry: ${message}\n`);
  } catch {
    // Nowhere left to report to.
  }
};

export class ChangeFeed {
  private readonly listeners = new Set<Listener>();
  private entries = new Map<string, Entry>();
  private snapshot: Snapshot = { active: [], retired: [], skipped: [] };
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescanRequested = false;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly report: (message: string) => void;
  /** The message of the failure last reported, until a rescan works again. */
  private failure: string | undefined;

  constructor(
    private readonly registry: Registry,
    options: FeedOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 75;
    this.rescanMs = options.rescanMs ?? 2_000;
    const report = options.report ?? reportToStderr;
    this.report = (message) => {
      try {
        report(message);
      } catch {
        // A reporter that throws must not take the feed down with it.
      }
    };
  }

  /** Subscribes; the first call starts watching. Returns the current snapshot and an unsubscribe. */
  async subscribe(listener: Listener): Promise<{ snapshot: Snapshot; unsubscribe: () => void }> {
    if (this.listeners.size === 0) this.start();
    // Scan before joining: the snapshot returned is the new subscriber's starting point, and
    // changes before it must not be replayed to it as events.
    this.subscribing++;
    try {
      await this.rescan();
    } finally {
      this.subscribing--;
    }
    this.listeners.add(listener);
    return {
      snapshot: this.snapshot,
      unsubscribe: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0 && this.subscribing === 0) this.stop();
      },
    };
  }

  /**
   * Rescans now (after a write this process made, say) and notifies about the differences.
   * Never rejects: a failed rescan is reported and leaves the last good snapshot in place.
   */
  rescan(): Promise<void> {
    if (this.scanning) {
      this.rescanRequested = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce()
      .then(
        () => {
          if (this.failure !== undefined) {
            this.failure = undefined;
            this.report("change feed: rescans work again");
          }
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (message === this.failure) return;
          this.failure = message;
          this.report(
            `change feed: a rescan failed (the page keeps its last view; retrying): ${message}`,
          );
        },
      )
      .finally(() => {
        this.scanning = undefined;
        if (this.rescanRequested) {
          this.rescanRequested = false;
          void this.rescan();
        }
      });
    return this.scanning;
  }

  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    const hint = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.rescan(), this.debounceMs);
    };
    for (const dir of [this.registry.root, join(this.registry.root, "retired")]) {
      try {
        const watcher = watch(dir, hint);
        watcher.on("error", () => watcher.close());
        this.watchers.push(watcher);
      } catch {
        // No watching here (some network file systems): the periodic rescan still finds changes.
      }
    }
    this.timer = setInterval(() => void this.rescan(), this.rescanMs);
    this.timer.unref();
  }

  private stop(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private async scanOnce(): Promise<void> {
    const scan = await this.registry.scan();
    const next = new Map<string, Entry>();
    const add = (records: NamedAgentRecord[], tree: "active" | "retired") => {
      for (const record of records) {
        const agent = agentJson(record);
        const id = record.data.instance_id;
        // An id in both trees (an interrupted restore) shows as active, as listings do.
        if (tree === "retired" && next.has(id)) continue;
        next.set(id, { tree, agent, fingerprint: JSON.stringify(agent) });
      }
    };
    add(scan.active, "active");
    add(scan.retired, "retired");
    const changes = diff(this.entries, next);
    this.entries = next;
    this.snapshot = {
      active: scan.active.map(agentJson),
      retired: scan.retired.map(agentJson),
      skipped: scan.skipped,
    };
    const skippedChanged =
      changes.length === 0 && JSON.stringify(scan.skipped) !== this.lastSkipped;
    this.lastSkipped = JSON.stringify(scan.skipped);
    if (changes.length > 0 || skippedChanged) {
      for (const listener of this.listeners) {
        try {
          listener(changes, this.snapshot);
        } catch (error) {
          this.report(`change feed: a listener failed: ${(error as Error)?.message ?? error}`);
        }
      }
    }
  }

  private lastSkipped = "[]";
  private subscribing = 0;
}

function diff(before: Map<string, Entry>, after: Map<string, Entry>): ChangeEvent[] {
  const changes: ChangeEvent[] = [];
  for (const [id, now] of after) {
    const was = before.get(id);
    let type: ChangeType | null = null;
    if (!was) type = now.tree === "active" ? "created" : "retired";
    else if (was.tree !== now.tree) type = now.tree === "retired" ? "retired" : "restored";
    else if (was.fingerprint !== now.fingerprint) type = "updated";
    if (type) changes.push({ type, id, tree: now.tree, agent: now.agent });
  }
  for (const id of before.keys()) {
    if (!after.has(id)) changes.push({ type: "deleted", id, tree: null, agent: null });
  }
  return changes;
}
