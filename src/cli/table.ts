/**
 * Tables that fit the terminal. Loaded only for human output (`await import`): measuring text by
 * display width needs string-width, whose start-up (an emoji regex and a segmenter) costs more
 * than the rest of the CLI's.
 */

import { eastAsianWidth } from "get-east-asian-width";
import stringWidth from "string-width";
import type { InUse } from "../api.js";
import type { NamedAgentRecord } from "../core/schema.js";
import { holderText, relativeTime } from "../present.js";
import { type Colors, type IdText, PLAIN, printable } from "./format.js";

/** How wide a table may be, and how it shows ids. */
export interface TableLayout {
  /** Columns available; `Infinity` for no limit (`--wide`, or a pipe without `COLUMNS`). */
  width: number;
  ids: IdText;
  colors: Colors;
}

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
