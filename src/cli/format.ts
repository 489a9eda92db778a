/**
 * Text for people, built but not written (`output.ts` writes): tables that fit the terminal,
 * details, relative times, and `printable`, which every piece of text from files or arguments
 * passes through. Machine output (`--json`) does not pass through here.
 */

import { eastAsianWidth } from "get-east-asian-width";
import type { createColors } from "picocolors";
import stringWidth from "string-width";
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
const PLAIN = /^[\x20-\x7E]*$/;

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

/** How wide a table may be, and how it shows ids. */
export interface TableLayout {
  /** Columns available; `Infinity` for no limit (`--wide`, or a pipe without `COLUMNS`). */
  width: number;
  ids: IdText;
  colors: Colors;
}

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

/**
 * The agents as a table; an `IN USE` column (who holds each) is added when a live process holds
 * any of them.
 */
export function agentTable(
  records: readonly NamedAgentRecord[],
  inUse: ReadonlyMap<string, InUse>,
  now: number,
  layout: TableLayout,
): string {
  const { colors } = layout;
  const held = records.some((record) => inUse.has(record.data.instance_id));
  const columns: Column[] = [
    { head: "NAME", flex: true },
    { head: "DEFINITION", flex: true },
    { head: "IDENTITY", flex: true },
    { head: "MEMORY", flex: true },
    { head: "LAST LAUNCHED" },
    { head: "WORKING DIR", flex: true },
    { head: "ID", paint: colors.dim },
  ];
  if (held) columns.push({ head: "IN USE", flex: true, paint: (text) => colors.yellow(text) });
  const rows = records.map(({ data }) => {
    const row = [
      printable(data.instance_name),
      printable(data.definition_id),
      printable(data.identity_id ?? "-"),
      printable(data.memory_id ?? "-"),
      relativeTime(data.last_launched_at_ms, now),
      printable(data.working_dir),
      layout.ids(data.instance_id),
    ];
    if (held) {
      const holder = inUse.get(data.instance_id);
      row.push(holder ? printable(holderText(holder.holder)) : "-");
    }
    return row;
  });
  return renderTable(columns, rows, layout);
}

/** One column of a table. */
export interface Column {
  head: string;
  /** Cut with `…` when the table is wider than allowed, the widest such columns first. */
  flex?: boolean;
  /** Colour for a cell, given its text (after any cut) and its row; never changes widths. */
  paint?: (text: string, row: number) => string;
}

/**
 * Columns aligned by spaces, no borders, a bold header, at most `layout.width` columns wide when
 * the flexible columns can shrink that far (each keeps at least its header's width). Cells must
 * be printable already; widths are display widths (a CJK character takes two columns, a
 * combining mark none). One pass to measure, one to write: 36,000 rows take well under a second.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  layout: { width: number; colors: Colors },
): string {
  const count = columns.length;
  const table = [columns.map((column) => column.head), ...rows];
  const measured = new Uint32Array(table.length * count);
  const natural = columns.map(() => 0);
  for (let r = 0; r < table.length; r++) {
    const row = table[r] as readonly string[];
    for (let c = 0; c < count; c++) {
      const width = displayWidth(row[c] ?? "");
      measured[r * count + c] = width;
      if (width > (natural[c] as number)) natural[c] = width;
    }
  }
  const widths = fitColumns(columns, natural, layout.width);
  const paints = columns.map((column) => column.paint);
  // Every piece in one array, joined once: far less garbage than a string grown per line.
  const pieces: string[] = [];
  for (let r = 0; r < table.length; r++) {
    const row = table[r] as readonly string[];
    if (r > 0) pieces.push("\n");
    for (let c = 0; c < count; c++) {
      let cell = row[c] ?? "";
      let width = measured[r * count + c] as number;
      const room = widths[c] as number;
      if (width > room) [cell, width] = cut(cell, room);
      const paint = r === 0 ? layout.colors.bold : paints[c];
      pieces.push(paint ? paint(cell, r - 1) : cell);
      if (c < count - 1) pieces.push(spaces(room - width + GAP));
    }
  }
  return pieces.join("");
}

/** Between two columns. */
const GAP = 2;

/** Runs of spaces made once: a table pads every cell but the last of each row. */
const PADDING = Array.from({ length: 128 }, (_, count) => " ".repeat(count));
const spaces = (count: number) => PADDING[count] ?? " ".repeat(count);

/** A flexible column is never cut narrower than this (`ab…`), unless its cells are. */
const NARROWEST = 3;

/**
 * Each column's width: its widest cell, unless the row would pass `limit`; then the flexible
 * columns are cut down to a common cap, chosen as large as fits (so the widest are cut first and
 * the narrow ones not at all). Headers stay whole while the fixed columns and the whole headers
 * fit; on a narrower terminal they are cut too, down to 3 columns. A table that still does not
 * fit stays wider than `limit`: nothing else can give way.
 */
function fitColumns(
  columns: readonly Column[],
  natural: readonly number[],
  limit: number,
): number[] {
  const gaps = GAP * (columns.length - 1);
  const sum = (widths: readonly number[]) => widths.reduce((a, b) => a + b, gaps);
  if (sum(natural) <= limit) return [...natural];
  const least = (c: number, floor: number) => Math.min(natural[c] as number, floor);
  const heads = columns.map((column, c) => least(c, displayWidth(column.head)));
  const narrowest = columns.map((_column, c) => least(c, NARROWEST));
  const under = (floors: readonly number[], cap: number) =>
    natural.map((width, c) =>
      columns[c]?.flex ? Math.max(floors[c] as number, Math.min(width, cap)) : width,
    );
  const floors = sum(under(heads, 0)) <= limit ? heads : narrowest;
  // The largest cap that fits: the sum grows with the cap, so search for it.
  let low = 0;
  let high = Math.max(...natural);
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (sum(under(floors, mid)) <= limit) low = mid;
    else high = mid - 1;
  }
  const widths = under(floors, low);
  // What the cap left unused goes, a column at a time, to the columns it cut.
  let spare = limit - sum(widths);
  for (let c = 0; c < widths.length && spare > 0; c++) {
    if ((widths[c] as number) < (natural[c] as number)) {
      widths[c] = (widths[c] as number) + 1;
      spare--;
    }
  }
  return widths;
}

/**
 * What makes a character's width depend on its neighbours: combining and spacing marks, emoji and
 * their modifiers, joiners and selectors, flags, conjoining Hangul jamo, invisible characters.
 * Text without any is one column per character, two for wide ones (East Asian Width).
 */
const CLUSTERED =
  /[\p{M}\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Cs}\u1100-\u11FF\uA960-\uA97F\uD7B0-\uD7FF]/u;

/**
 * The columns `text` takes on a terminal. string-width segments into grapheme clusters, which is
 * right for every text but slow (tens of µs a name); the common cases — ASCII, and text whose
 * characters each stand alone, such as CJK — are counted directly, with the same result.
 */
function displayWidth(text: string): number {
  if (PLAIN.test(text)) return text.length;
  if (CLUSTERED.test(text)) return stringWidth(text);
  let width = 0;
  for (const char of text) width += eastAsianWidth(char.codePointAt(0) as number);
  return width;
}

/** Made on first use: building a segmenter loads ICU's break data (about 20 ms at start-up). */
let segmenter: Intl.Segmenter | undefined;
const graphemes = (): Intl.Segmenter => {
  segmenter ??= new Intl.Segmenter();
  return segmenter;
};

/** `text` cut to at most `room` columns, ending in `…`; and the width it now takes. */
function cut(text: string, room: number): [string, number] {
  if (PLAIN.test(text)) return [`${text.slice(0, room - 1)}…`, room];
  // Whole characters only: never half a CJK character, a base without its marks, or half an emoji.
  const clustered = CLUSTERED.test(text);
  const pieces = clustered ? Array.from(graphemes().segment(text), ({ segment }) => segment) : text;
  let end = 0;
  let used = 0;
  for (const piece of pieces) {
    const width = clustered ? stringWidth(piece) : eastAsianWidth(piece.codePointAt(0) as number);
    if (used + width > room - 1) break;
    end += piece.length;
    used += width;
  }
  return [`${text.slice(0, end)}…`, used + 1];
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
