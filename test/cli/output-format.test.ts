/**
 * The table renderer and short ids in process, against string-width as the measure of what a
 * terminal shows: for any cells (ASCII, CJK, combining marks, emoji), every line fits the width
 * when it can and every column starts at the same terminal column; short ids are unique prefixes.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { createColors } from "picocolors";
import stringWidth from "string-width";
import { printable, shortIds } from "../../src/cli/format.js";
import { type Column, renderTable } from "../../src/cli/table.js";

const colors = createColors(false);

const PIECES = ["a", "Z", "-", " ", "夜", "ｱ", "한", "e\u0301", "👩‍💻", "❤️", "🇫🇷", "…", "—", "ß"];
const cellArb = fc
  .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 30 })
  .map((pieces) => pieces.join("").trim() || "-");

const COLUMNS: Column[] = [
  { head: "NAME", flex: true },
  { head: "WHEN" },
  { head: "DIR", flex: true },
  { head: "ID" },
];

/** The terminal column where each cell of `line` starts: after each run of two spaces. */
function starts(line: string): number[] {
  const found = [0];
  for (const match of line.matchAll(/(?<= {2})(?! )/gu))
    found.push(stringWidth(line.slice(0, match.index)));
  return found;
}

describe("renderTable", () => {
  test("any cells: lines fit the width, columns line up on the terminal", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(cellArb, cellArb), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 40, max: 160 }),
        (cells, width) => {
          const rows = cells.map(([name, dir], i) => [name, "3 h ago", dir, `id-${i}`]);
          const lines = renderTable(COLUMNS, rows, { width, colors }).split("\n");
          assert.equal(lines.length, rows.length + 1);
          const ids = lines.map((line) => stringWidth(line.slice(0, line.lastIndexOf("  ") + 2)));
          for (const [i, line] of lines.entries()) {
            assert.ok(stringWidth(line) <= width, `${stringWidth(line)} > ${width}: ${line}`);
            // The last column (the id) starts at the same terminal column on every line.
            assert.equal(ids[i], ids[0], lines.join("\n"));
            if (i > 0) assert.ok(line.endsWith(`id-${i - 1}`), line);
          }
          // Nothing is cut that would have fitted.
          const whole = renderTable(COLUMNS, rows, { width: Number.POSITIVE_INFINITY, colors });
          if (Math.max(...whole.split("\n").map((line) => stringWidth(line))) <= width)
            assert.equal(lines.join("\n"), whole);
        },
      ),
    );
  });

  test("the widest flexible column is cut first; fixed columns never", () => {
    const rows = [["n".repeat(60), "3 h ago", "short-dir", "an-id"]];
    const [head, row] = renderTable(COLUMNS, rows, { width: 50, colors }).split("\n");
    assert.equal(head, `NAME${" ".repeat(19)}  WHEN     DIR        ID`);
    assert.equal(row, `${"n".repeat(22)}…  3 h ago  short-dir  an-id`);
    assert.equal(row?.length, 50);
    assert.deepEqual(starts(row as string), starts(head as string));
  });

  test("headers are cut too when the terminal is narrower than they are", () => {
    const rows = [["name", "3 h ago", "a-directory-name", "an-id"]];
    const lines = renderTable(COLUMNS, rows, { width: 24, colors }).split("\n");
    for (const line of lines) assert.ok(line.length <= 24, line);
    assert.deepEqual(lines, ["NA…  WHEN     DIR  ID", "na…  3 h ago  a-…  an-id"]);
  });
});

describe("shortIds", () => {
  test("8 characters unless another id shares them; never a name; whole ids stay whole", () => {
    const ids = ["0123456789ab", "0123456789cd", "abc", "abcdefgh", "abcdefghij", "unique-id-1"];
    const short = shortIds(ids, new Set(["unique-i"]));
    assert.deepEqual(ids.map(short), [
      "0123456789a",
      "0123456789c",
      "abc",
      "abcdefgh",
      "abcdefghi",
      "unique-id",
    ]);
    assert.equal(short("never-listed-id"), "never-li");
  });

  test("any ids: each short id is a prefix of its own id and of no other", () => {
    const idArb = fc.stringMatching(/^[a-c0-1-]{1,14}$/);
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { maxLength: 60 }), (ids) => {
        const short = shortIds([...ids, ...ids.slice(0, 3)], new Set());
        for (const id of ids) {
          const prefix = short(id);
          assert.ok(id.startsWith(prefix) && prefix.length >= Math.min(8, id.length));
          const others = ids.filter((other) => other !== id && other.startsWith(prefix));
          // A clash is left only when the prefix is the whole id (an exact id wins).
          assert.ok(others.length === 0 || prefix === id, `${prefix} of ${id}: ${others}`);
        }
      }),
    );
  });

  test("36,000 ids sharing their first 24 characters: quick all the same", () => {
    const ids = Array.from(
      { length: 36_000 },
      (_, i) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
    );
    const short = shortIds(ids, new Set());
    assert.equal(short(ids[42] as string), ids[42]);
  });
});

describe("printable", () => {
  test("invisible characters are written out; emoji sequences and CJK are kept", () => {
    assert.equal(printable("ad\u200Bmin\u2060"), "ad\\u200Bmin\\u2060");
    assert.equal(printable("x\u{E0041}"), "x\\u{E0041}");
    for (const kept of ["👩‍💻", "❤️", "👍🏽", "🏳️‍🌈", "夜間ビルド", "Café", "e\u0301"])
      assert.equal(printable(kept), kept);
  });
});
