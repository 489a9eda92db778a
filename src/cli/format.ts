/**
 * Text for people, built but not written (`output.ts` writes): details, short ids, and `printable`, which every piece of text from files or arguments
 * passes through. Machine output (`--json`) does not pass through here.
 */

import type { createColors } from "picocolors";
import type { InUse } from "../api.js";
import type { NamedAgentRecord } from "../core/schema.js";
import { holderText, relativeTime } from "../present.js";

export type Colors = ReturnType<typeof createColors>;

/**
 * What must never reach a terminal raw: C0 and C1 controls and DEL (they can rewrite the screen),
 * the line and paragraph separators U+2028, U+2029, and what Unicode calls default-ignorable —
 * invisible characters: the bidirectional controls (they reorder what follows, disguising text),
 * zero-width spaces and joiners, fillers, tags (a name that reads `admin` may hold more). Kept are
 * the two that draw emoji: a variation selector after an emoji, and a joiner between two.
 */
const UNSAFE = new RegExp(
  [
    "[\\p{Cc}\\u2028\\u2029]",
    "(?<!\\p{Emoji})[\\uFE0E\\uFE0F]",
    "(?<!\\p{Extended_Pictographic}[\\u{1F3FB}-\\u{1F3FF}\\uFE0F]?)\\u200D",
    "\\u200D(?!\\p{Extended_Pictographic})",
    "(?![\\u200D\\uFE0E\\uFE0F])\\p{Default_Ignorable_Code_Point}",
  ].join("|"),
  "gu",
);

/** Printable ASCII: nothing to escape, one column per character (the common case, made fast). */
export const PLAIN = /^[\x20-\x7E]*$/;

const SHORT: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

const visibly = (char: string): string => {
  const code = (char.codePointAt(0) ?? 0).toString(16).toUpperCase();
  return SHORT[char] ?? (code.length > 4 ? `\\u{${code}}` : `\\u${code.padStart(4, "0")}`);
};

/**
 * Text from files or arguments as it may be shown to a person: every unsafe character written
 * out visibly (`\n`, `\t`, `\u202E`, `\u200B` …). `--json` output never passes through here.
 */
export const printable = (text: string): string =>
  PLAIN.test(text) ? text : text.replace(UNSAFE, visibly);

/** `1 file`, `2 files`. */
export const plural = (count: number, noun: string): string =>
  `${count} ${noun}${count === 1 ? "" : "s"}`;

/** How messages name one agent: `name (id)`. */
export const agentLabel = (record: NamedAgentRecord): string =>
  `${printable(record.data.instance_name)} (${record.data.instance_id})`;

/** The ids as a table shows them: git-style short ids, or every id in full (`--wide`). */
export type IdText = (id: string) => string;

/** The shortest short id: git's length. */
const SHORT_ID = 8;

/**
 * Git-style short ids: the first 8 characters, or as many more as make the prefix unique — a
 * prefix of no other id in `ids` and not the name of an agent in `names` — so that a short id
 * typed back as an `<agent>` finds this agent. `ids` are every id a reference could match (both
 * trees), not only those shown.
 */
export function shortIds(ids: Iterable<string>, names: ReadonlySet<string>): IdText {
  // Only ids of the same first 8 characters can clash: a group of one (the usual) needs nothing
  // more, and each larger group is sorted once, when one of its ids is first shown.
  const groups = new Map<string, string | string[]>();
  for (const id of ids) {
    const key = id.slice(0, SHORT_ID);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, id);
    else if (typeof group === "string") groups.set(key, [group, id]);
    else group.push(id);
  }
  const clashing = new Map<string, number>();
  const notAName = (id: string, length: number) => {
    while (length < id.length && names.has(id.slice(0, length))) length++;
    return id.slice(0, length);
  };
  return (id) => {
    const group = groups.get(id.slice(0, SHORT_ID));
    if (group === undefined || typeof group === "string") return notAName(id, SHORT_ID);
    if (!clashing.has(id)) {
      // Ids sharing a prefix with an id sort next to it: its neighbours share the longest.
      const sorted = [...new Set(group)].sort();
      for (let i = 0; i < sorted.length; i++) {
        const shared = Math.max(
          commonPrefix(sorted[i] as string, sorted[i - 1] ?? ""),
          commonPrefix(sorted[i] as string, sorted[i + 1] ?? ""),
        );
        clashing.set(sorted[i] as string, Math.max(SHORT_ID, shared + 1));
      }
    }
    return notAName(id, clashing.get(id) ?? id.length);
  };
}

const commonPrefix = (a: string, b: string): number => {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
};

/** Every id in full. */
export const fullIds: IdText = (id) => id;

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
