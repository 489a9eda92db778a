/**
 * Text for people, built but not written (`output.ts` writes): aligned tables, details, relative
 * times, and `printable`, which every piece of text from files or arguments passes through.
 * Machine output (`--json`) does not pass through here.
 */

import Table from "cli-table3";
import type { createColors } from "picocolors";
import type { InUse } from "../api.js";
import type { NamedAgentRecord } from "../core/schema.js";
import { holderText, relativeTime } from "../present.js";

export type Colors = ReturnType<typeof createColors>;

/**
 * What must never reach a terminal raw: C0 and C1 controls and DEL (they can rewrite the screen),
 * bidirectional controls — the embeddings and overrides U+202A–U+202E, the isolates
 * U+2066–U+2069, the marks U+200E, U+200F and U+061C (they reorder what follows, disguising text)
 * — and the line and paragraph separators U+2028, U+2029.
 */
const UNSAFE = /[\p{Cc}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/gu;

const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text from files or arguments as it may be shown to a person: every unsafe character written
 * out visibly (`\n`, `\t`, `\u202E` …). `--json` output never passes through here.
 */
export const printable = (text: string): string =>
  text.replace(
    UNSAFE,
    (char) =>
      SHORT[char] ?? `\\u${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`,
  );

/** How messages name one agent: `name (id)`. */
export const agentLabel = (record: NamedAgentRecord): string =>
  `${printable(record.data.instance_name)} (${record.data.instance_id})`;

/**
 * The agents as a table; an `IN USE` column (who holds each) is added when a live process holds
 * any of them.
 */
export function agentTable(
  records: readonly NamedAgentRecord[],
  inUse: ReadonlyMap<string, InUse>,
  now: number,
  colors: Colors,
): string {
  const held = records.some((record) => inUse.has(record.data.instance_id));
  const head = ["NAME", "DEFINITION", "IDENTITY", "MEMORY", "LAST LAUNCHED", "WORKING DIR", "ID"];
  const rows = records.map(({ data }) => {
    const row = [
      printable(data.instance_name),
      printable(data.definition_id),
      printable(data.identity_id ?? "-"),
      printable(data.memory_id ?? "-"),
      relativeTime(data.last_launched_at_ms, now),
      printable(data.working_dir),
      colors.dim(data.instance_id),
    ];
    if (held) row.push(inUseText(inUse.get(data.instance_id) ?? null, colors));
    return row;
  });
  return textTable(held ? [...head, "IN USE"] : head, rows, colors);
}

/** Columns aligned by spaces, no borders, a bold header; cells are printable already. */
export function textTable(head: readonly string[], rows: string[][], colors: Colors): string {
  const table = new Table({
    head: head.map((h) => colors.bold(h)),
    style: { head: [], border: [], compact: true, "padding-left": 0, "padding-right": 2 },
    chars: {
      top: "",
      "top-mid": "",
      "top-left": "",
      "top-right": "",
      bottom: "",
      "bottom-mid": "",
      "bottom-left": "",
      "bottom-right": "",
      left: "",
      "left-mid": "",
      mid: "",
      "mid-mid": "",
      right: "",
      "right-mid": "",
      middle: "",
    },
  });
  table.push(...rows);
  return table
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

/** Who holds an agent (`-`: nobody), for a table cell. */
function inUseText(inUse: InUse | null, colors: Colors): string {
  return inUse ? colors.yellow(printable(holderText(inUse.holder))) : "-";
}

/** `key: value` lines for one agent. */
export function agentDetails(
  record: NamedAgentRecord,
  workingDir: string,
  inUse: InUse | null,
  now: number,
  colors: Colors,
): string {
  const { data } = record;
  const rows: [string, string][] = [
    ["id", data.instance_id],
    ["name", data.instance_name],
    ["definition", data.definition_id],
    ["identity", data.identity_id ?? "-"],
    ["memory", data.memory_id ?? "-"],
    ["session", data.session_id ?? "-"],
    ["working dir", workingDir],
    [
      "created",
      `${new Date(data.created_at_ms).toISOString()} by ${data.created_by_version || "?"}`,
    ],
    [
      "last launched",
      `${relativeTime(data.last_launched_at_ms, now)} by ${data.last_launched_by_version || "?"}`,
    ],
    ["schema", String(record.schema_version)],
  ];
  if (inUse) {
    const since = inUse.holder ? `, claimed ${relativeTime(inUse.holder.acquired_at_ms, now)}` : "";
    rows.push(["in use", `${holderText(inUse.holder)}${since}`]);
  }
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows
    .map(([key, value]) => {
      const text = printable(value);
      return `${key.padEnd(width)}  ${key === "in use" ? colors.yellow(text) : text}`;
    })
    .join("\n");
}
