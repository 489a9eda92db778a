/**
 * The smallest benchmark harness that compares fairly: every case is warmed up once, then the
 * cases run in alternating rounds (order reversed every other round, so page-cache and GC debt
 * left by one case do not always land on the same neighbour) and each case reports its median.
 * Nothing here asserts on speed: figures are printed, never judged. Also the records the
 * benchmarks write, so that every benchmark measures the same realistic files.
 */

import { performance } from "node:perf_hooks";
import type { NamedAgentRecord } from "../src/index.js";

export interface Case {
  label: string;
  /** Untimed; runs before every timed call (e.g. a fresh empty directory). */
  setup?: () => unknown | Promise<unknown>;
  run: () => unknown | Promise<unknown>;
}

export interface CaseResult {
  label: string;
  /** Milliseconds, one per round. */
  samples: number[];
}

/** What one benchmark hands to the table printer: a baseline and the cases compared to it. */
export interface Comparison {
  title: string;
  /** How many items one timed call handles (records listed, records written). */
  items: number;
  baseline: CaseResult;
  cases: CaseResult[];
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Present when node runs with `--expose-gc`: collecting before each sample lowers the noise. */
const collectGarbage = (globalThis as { gc?: () => void }).gc;

async function timeOnce(c: Case): Promise<number> {
  await c.setup?.();
  collectGarbage?.();
  const started = performance.now();
  await c.run();
  return performance.now() - started;
}

/** Warms every case up once, then times `rounds` alternating rounds; samples in case order. */
export async function alternate<const T extends readonly Case[]>(
  rounds: number,
  cases: T,
): Promise<{ -readonly [K in keyof T]: CaseResult }> {
  for (const c of cases) await timeOnce(c);
  const samples: number[][] = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = cases.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) samples[i]?.push(await timeOnce(cases[i] as Case));
  }
  const results = cases.map((c, i) => ({ label: c.label, samples: samples[i] ?? [] }));
  return results as { -readonly [K in keyof T]: CaseResult };
}

const ms = (value: number) => value.toFixed(value < 10 ? 2 : 1);

/** A markdown table: one row per case, each non-baseline row with its ratio to the baseline. */
export function formatTable(comparisons: readonly Comparison[]): string {
  const header = ["benchmark", "case", "median ms", "min–max ms", "µs / item", "vs baseline"];
  const rows = [header];
  for (const { title, items, baseline, cases } of comparisons) {
    const base = median(baseline.samples);
    for (const c of [baseline, ...cases]) {
      const m = median(c.samples);
      rows.push([
        title,
        c.label,
        ms(m),
        `${ms(Math.min(...c.samples))}–${ms(Math.max(...c.samples))}`,
        ((m * 1000) / items).toFixed(1),
        c === baseline
          ? "(baseline)"
          : `${c.label} / ${baseline.label} = ${(m / base).toFixed(2)}x`,
      ]);
    }
  }
  // Padded so the table reads in a terminal and is already formatted the way Biome wants it.
  const widths = header.map((_, i) => Math.max(...rows.map((cells) => cells[i]?.length ?? 0)));
  const rule = widths.map((width) => "-".repeat(width));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [header, rule, ...rows.slice(1)].map(line).join("\n");
}

/** Record `i` of a benchmark registry: valid per SPEC §2, deterministic, realistic lengths. */
export function benchRecord(i: number, prefix = "00000000"): NamedAgentRecord {
  const id = `${prefix}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
  const created = 1_747_049_400_000 + i * 60_000;
  return {
    schema_version: 1,
    data: {
      instance_id: id,
      instance_name: `agent-${i}`,
      definition_id: DEFINITIONS[i % DEFINITIONS.length] as string,
      identity_id: null,
      memory_id: null,
      session_id: null,
      working_dir: `agent-${i}-${id.slice(-5)}`,
      source_agents_base: null,
      created_at_ms: created,
      last_launched_at_ms: created + (i % 97) * 3_600_000,
      created_by_version: "0.33.821",
      last_launched_by_version: "0.33.821",
    },
  };
}

const DEFINITIONS = ["claude-code", "codex", "gemini-cli", "aider"];

/** The canonical file text (SPEC §2): 2-space JSON and one trailing newline. */
export const canonicalText = (record: NamedAgentRecord) => `${JSON.stringify(record, null, 2)}\n`;
