/**
 * The freshness contract of the live index (docs/FORMAT.md, "Freshness"), generatively: a foreign
 * writer in another process renames, deletes, retires, restores, writes invalid files and edits in
 * place (mtime put back); after each completed write every answer of the index must equal a cold
 * listing taken after it. A write racing a request may or may not be in its answer, but the
 * answer must be one of the two states. In-place edits are outside the contract: they must show
 * up soon (the watcher, or the periodic verification), not at once. Fixed seed, printed on
 * failure.
 */

import assert from "node:assert/strict";
import { type ChildProcess, fork } from "node:child_process";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Registry, RegistryService } from "../../src/index.js";
import { tempDir } from "../helpers.js";
import type { ForeignOp } from "./foreign-writer.js";

const SEED = 1_204;
const WRITER = new URL("./foreign-writer.ts", import.meta.url).pathname;

function startWriter(root: string): { child: ChildProcess; run: (op: ForeignOp) => Promise<void> } {
  const child = fork(WRITER, [root], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  let waiting: ((reply: { ok: boolean; error?: string }) => void)[] = [];
  child.on("message", (reply: { ok: boolean; error?: string }) => {
    const next = waiting[0];
    waiting = waiting.slice(1);
    next?.(reply);
  });
  const run = (op: ForeignOp) =>
    new Promise<void>((resolve, reject) => {
      waiting.push((reply) => (reply.ok ? resolve() : reject(new Error(reply.error))));
      child.send(op);
    });
  return { child, run };
}

type View = { active: string[]; retired: string[]; skipped: number };

const show = (records: { data: { instance_id: string; instance_name: string } }[]) =>
  records.map((r) => `${r.data.instance_id}=${r.data.instance_name}`);

async function indexView(service: RegistryService): Promise<View> {
  // Asked together, the two calls share one verification: one state, not two.
  const [active, retired] = await Promise.all([
    service.listNamedAgents({ all: true }),
    service.listRetired(),
  ]);
  return {
    active: show(active).sort(),
    retired: show(retired).sort(),
    skipped: service.skippedCount,
  };
}

async function coldView(root: string): Promise<View> {
  const registry = await Registry.open(root, { sweepOnOpen: false });
  try {
    const scan = await registry.scan();
    return {
      active: show(scan.active).sort(),
      retired: show(scan.retired).sort(),
      skipped: scan.skipped.length,
    };
  } finally {
    registry.close();
  }
}

const ids = fc.constantFrom("a1", "b2", "c3", "d4");
const tree = fc.constantFrom("active" as const, "retired" as const);
const name = fc.constantFrom("alpha", "bravo", "charlie", "delta-longer-name");
const op: fc.Arbitrary<ForeignOp> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      tree,
      id: ids,
      name,
      ts: fc.integer({ min: 1, max: 9 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("invalid" as const), tree, id: ids }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), tree, id: ids }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("retire" as const), id: ids }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("restore" as const), id: ids }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("inplace" as const), tree, id: ids, name }),
  },
);
/** One step: the write, whether a request races it, and a pause after it (to let stats settle). */
const step = fc.record({ op, racing: fc.boolean(), pauseMs: fc.constantFrom(0, 0, 1, 5, 40) });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const watch of [true, false]) {
  describe(`live index freshness (${watch ? "watching" : "no watcher: verified listing"})`, () => {
    test("every answer equals a cold listing taken after the writes it must include", async (t) => {
      const root = tempDir(t);
      const service = await RegistryService.open({
        root,
        version: "test",
        live: true,
        // A racy window of 30 ms (the default is 2 s) so that runs trust directory stats often.
        feed: { watch, racyMs: 30, rescanMs: 200, report: () => {} },
      });
      const writer = startWriter(root);
      t.after(() => {
        service.close();
        writer.child.kill();
      });
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
          for (const { op, racing, pauseMs } of steps) {
            if (racing && op.kind !== "inplace") {
              const before = await coldView(root);
              const [answer] = await Promise.all([indexView(service), writer.run(op)]);
              const after = await coldView(root);
              const matches = [before, after].some((cold) => {
                try {
                  assert.deepEqual(answer, cold);
                  return true;
                } catch {
                  return false;
                }
              });
              assert.ok(
                matches,
                `racing ${JSON.stringify(op)}: ${JSON.stringify({ answer, before, after })}`,
              );
            } else {
              await writer.run(op);
            }
            if (op.kind === "inplace") {
              // Outside the contract: seen soon, not at once.
              const deadline = Date.now() + 3_000;
              for (;;) {
                const cold = await coldView(root);
                const answer = await indexView(service);
                try {
                  assert.deepEqual(answer, cold);
                  break;
                } catch (error) {
                  if (Date.now() > deadline) throw error;
                  await sleep(20);
                }
              }
            } else {
              const answer = await indexView(service);
              assert.deepEqual(answer, await coldView(root), `after ${JSON.stringify(op)}`);
            }
            if (pauseMs > 0) await sleep(pauseMs);
          }
        }),
        {
          seed: SEED,
          numRuns: 12,
          reporter: (details) => {
            if (details.failed)
              throw new Error(`seed ${SEED}: ${fc.defaultReportMessage(details) ?? "failed"}`);
          },
        },
      );
    });
  });
}
