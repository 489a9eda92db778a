/**
 * Contention across processes (SPEC §5–§7): 8 processes × 500 random operations — every mutation
 * and the readers — over 20 record ids, agent-scope operations included. Every outcome must be
 * one the API documents, the only error tolerated in principle is `LOCK_TIMEOUT` (and with the
 * default settings there must be none), nothing deadlocks (hard timeout), and the final trees are
 * valid, free of temp/lock files, and no id is both active and retired.
 *
 * `MP_SEED=N` replays a run (the seed is printed as a diagnostic).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Registry } from "../../src/index.js";
import { tempDir } from "../helpers.js";
import {
  assertCleanExit,
  type Bundle,
  bundleChild,
  Children,
  jsonStems,
  type Message,
  runSeed,
  transientNames,
} from "./support.js";

const PROCESSES = 8;
const OPS = 500;
const ID_COUNT = 20;
const IDS = new Set(Array.from({ length: ID_COUNT }, (_, i) => `c-${String(i).padStart(2, "0")}`));
/** An agent (c-00..c-04) owns itself and the 3 records launched from it (child.ts). */
const MAX_PER_AGENT = 1 + (ID_COUNT - 5) / 5;

describe("multi-process: contention (SPEC §5–§7)", () => {
  let bundle: Bundle;
  before(async () => {
    bundle = await bundleChild();
  });
  after(() => bundle?.remove());

  test(`${PROCESSES} processes × ${OPS} mixed operations on ${ID_COUNT} ids`, {
    timeout: 150_000,
  }, async (t) => {
    const seed = runSeed();
    t.diagnostic(`seed ${seed} (MP_SEED=${seed} replays the operation sequences)`);
    const children = new Children(t, bundle.file); // before tempDir: killed before rm
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const retiredDir = join(root, "retired");
    await Registry.open(root, { agentsBase: join(dir, "agents") });

    const kids = Array.from({ length: PROCESSES }, (_, n) =>
      children.spawn(`contention child ${n} (seed ${seed + n})`, [
        "contention",
        root,
        String(seed + n),
        String(OPS),
        String(ID_COUNT),
      ]),
    );
    await Promise.all(kids.map((kid) => kid.waitFor((m) => m.ready === true)));
    const started = performance.now();
    for (const kid of kids) kid.send("go");
    const exits = await Promise.all(kids.map((kid) => kid.closed));
    const elapsed = performance.now() - started;
    kids.forEach((kid, n) => {
      assertCleanExit(kid, exits[n] ?? { code: null, signal: null });
    });

    const tally = new Map<string, number>();
    const problems: string[] = [];
    let lockTimeouts = 0;
    let slowest = 0;
    for (const kid of kids) {
      const results = kid.messages.filter((m) => typeof m.op === "string");
      assert.equal(results.length, OPS, `${kid.label} reported every operation`);
      assert.ok(kid.messages.some((m) => m.done === true));
      for (const result of results) {
        slowest = Math.max(slowest, Number(result.ms));
        const problem = checkResult(result);
        const key = `${result.op} → ${summarize(result)}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (isLockTimeout(result)) lockTimeouts++;
        else if (problem) problems.push(`${kid.label} #${result.i}: ${problem}`);
      }
    }
    t.diagnostic(
      `${PROCESSES * OPS} operations in ${(elapsed / 1000).toFixed(1)} s, slowest ` +
        `${slowest.toFixed(0)} ms; outcomes: ${[...tally]
          .sort()
          .map(([key, count]) => `${key} ×${count}`)
          .join("; ")}`,
    );
    assert.deepEqual(problems, [], "every outcome is a documented one");
    assert.equal(lockTimeouts, 0, "no LOCK_TIMEOUT with the default lock settings");

    const registry = await Registry.open(root, { agentsBase: join(dir, "agents") });
    const scan = await registry.scan();
    assert.deepEqual(scan.skipped, []);
    const active = scan.active.map((r) => r.data.instance_id);
    const retired = scan.retired.map((r) => r.data.instance_id);
    assert.deepEqual(active, jsonStems(root));
    assert.deepEqual(retired, jsonStems(retiredDir));
    assert.deepEqual(
      active.filter((id) => retired.includes(id)),
      [],
      "no id is both active and retired",
    );
    for (const id of [...active, ...retired]) assert.ok(IDS.has(id), id);
    // Every process ended normally: nothing left behind, without any sweep.
    assert.deepEqual(transientNames(root, retiredDir), []);
  });
});

const isLockTimeout = (result: Message) =>
  (result.error as { code?: unknown } | undefined)?.code === "LOCK_TIMEOUT";

/** A short label for the tally: the status, move reason or count. */
function summarize(result: Message): string {
  if (result.error) return `error ${(result.error as { code?: string }).code ?? "?"}`;
  const out = result.out as Record<string, unknown> | number | string[] | null;
  if (out === null || typeof out === "number") return String(out);
  if (Array.isArray(out)) return "list";
  if ("status" in out) return out.reason ? `${out.status}:${out.reason}` : String(out.status);
  if ("moved" in out) return out.moved ? "moved" : `not moved:${out.reason}`;
  return "found";
}

/** Why a reported result is not a documented outcome of its operation, or null when it is. */
function checkResult(result: Message): string | null {
  const { op, id, out, error } = result;
  const shown = JSON.stringify(error ?? out);
  if (error !== undefined) return `${op}(${id}) threw ${shown}`;
  const outcome = out as Record<string, unknown> | null;
  const status = (statuses: string[], reasons: string[]) =>
    outcome !== null &&
    typeof outcome === "object" &&
    ((statuses.includes(String(outcome.status)) && Object.keys(outcome).length === 1) ||
      (outcome.status === "skipped" &&
        reasons.includes(String(outcome.reason)) &&
        typeof outcome.message === "string" &&
        Object.keys(outcome).length === 3));
  const move = (reasons: string[]) =>
    outcome !== null &&
    typeof outcome === "object" &&
    ((outcome.moved === true && Object.keys(outcome).length === 1) ||
      (outcome.moved === false &&
        reasons.includes(String(outcome.reason)) &&
        Object.keys(outcome).length === 2));
  const count = (max: number) =>
    Number.isInteger(out) && (out as number) >= 0 && (out as number) <= max;
  let ok: boolean;
  switch (op) {
    case "upsert":
      // Only a tombstone may refuse it: no file here is ever unreadable or of another schema.
      ok = status(["created", "updated", "unchanged"], ["retired"]);
      break;
    case "update":
      // A new marker every time: it always writes, unless there is no active record.
      ok = status(["updated"], ["absent", "retired"]);
      break;
    case "get":
      ok = out === null || (outcome !== null && outcome.instance_id === id);
      break;
    case "listActive":
      ok =
        Array.isArray(out) &&
        out.every((item, n) => IDS.has(item) && (n === 0 || out[n - 1] < item));
      break;
    case "retire":
      ok = move(["absent"]);
      break;
    case "unretire":
      ok = move(["absent", "active-exists"]);
      break;
    case "hardDelete":
      ok = count(2);
      break;
    case "retireForAgent":
    case "unretireForAgent":
    case "setInstanceNameForAgent":
      ok = count(MAX_PER_AGENT);
      break;
    default:
      return `unknown operation ${op}`;
  }
  return ok ? null : `${op}(${id}) → ${shown} is not a documented outcome`;
}
