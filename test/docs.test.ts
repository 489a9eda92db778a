import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ERROR_TABLE } from "../src/index.js";

const errorsDoc = readFileSync(join(import.meta.dirname, "..", "docs", "ERRORS.md"), "utf8");
/** Each table row of ERRORS.md as its trimmed cells, keyed by the first cell. */
const rows = new Map(
  errorsDoc
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .map((line) => line.split("|").map((cell) => cell.trim()))
    .map((cells) => [cells[1], cells] as const),
);

test("docs/ERRORS.md lists every error code with the table's exit code and HTTP status", () => {
  for (const [code, { exit, http }] of Object.entries(ERROR_TABLE)) {
    const cells = rows.get(`\`${code}\``);
    assert.ok(cells, `${code} has a row`);
    assert.equal(cells[3], String(exit), `${code} exit code`);
    assert.equal(cells[4], String(http), `${code} HTTP status`);
  }
});

test("docs/ERRORS.md lists every skip reason the validator can report", () => {
  const source = readFileSync(join(import.meta.dirname, "..", "src", "core", "schema.ts"), "utf8");
  const union = source.slice(
    source.indexOf("export type SkipReason"),
    source.indexOf(";", source.indexOf("export type SkipReason")),
  );
  const reasons = [...union.matchAll(/"([a-z0-9-]+)"/g)].map((m) => m[1]);
  assert.ok(reasons.length >= 15);
  for (const reason of reasons)
    assert.ok(
      [...rows.keys()].some((key) => key?.includes(`\`${reason}\``)),
      reason,
    );
});
