/**
 * Tables that fit the terminal, black box through the built binary: the width (a TTY's own, else
 * `COLUMNS`, else no limit on a pipe), cuts with `…` by display width (CJK two columns, combining
 * marks none), git-style short ids that resolve back, `--wide`, and invisible characters written
 * out visibly. string-width is the independent measure of what a terminal shows.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import stringWidth from "string-width";
import { leaseOf, writeLeaseFile } from "../in-use-support.js";
import {
  assertOk,
  BIN,
  parseJson,
  type RunResult,
  type Sandbox,
  sandbox,
  seed,
  tableCells,
} from "./harness.js";

const LONG_NAME = `a name that goes on ${"and on ".repeat(20)}forever`;
const LONG_DIR = `projects/${"deeply/".repeat(12)}nested`;
const UUID_A = "3f2a9c1e-0000-4000-8000-000000000001";
const UUID_B = "7b41d0aa-0000-4000-8000-000000000002";

/** The lines of a table, after checking each is at most `width` columns wide on a terminal. */
function linesWithin(result: RunResult, width: number): string[] {
  assertOk(result);
  const lines = result.stdout.replace(/\n$/, "").split("\n");
  for (const line of lines)
    assert.ok(stringWidth(line) <= width, `${stringWidth(line)} > ${width}: ${line}`);
  return lines;
}

/** Where (in terminal columns) `text` starts on `line`. */
const columnOf = (line: string, text: string) => stringWidth(line.slice(0, line.lastIndexOf(text)));

function seedLong(box: Sandbox): void {
  seed(box, {
    instance_id: UUID_A,
    instance_name: LONG_NAME,
    working_dir: LONG_DIR,
    last_launched_at_ms: Date.now() - 60_000,
  });
  seed(box, {
    instance_id: UUID_B,
    instance_name: "short",
    working_dir: "short-wd",
    last_launched_at_ms: 1_000,
  });
}

describe("cli: tables fit the terminal", { concurrency: true }, () => {
  test("COLUMNS=100: every line fits; the widest columns are cut with …; the rest stay whole", async (t) => {
    const box = sandbox(t);
    seedLong(box);
    const lines = linesWithin(await box.run(["list"], { env: { COLUMNS: "100" } }), 100);
    const [long, short] = tableCells(lines.join("\n"));
    assert.ok(long?.[0]?.startsWith("a name that goes on"), `${long}`);
    assert.ok(long?.[0]?.endsWith("…"));
    assert.ok(long?.[5]?.startsWith("projects/deeply/") && long[5].endsWith("…"));
    // Narrow columns are not touched: the definition, the time, the short id.
    assert.deepEqual(long?.slice(1, 5), ["claude-code", "-", "-", "1 min ago"]);
    assert.equal(long?.[6], "3f2a9c1e");
    assert.deepEqual(
      [...(short?.slice(0, 4) ?? []), ...(short?.slice(5) ?? [])],
      ["short", "claude-code", "-", "-", "short-wd", "7b41d0aa"],
    );
  });

  test("narrower terminals cut more, headers last; 100 columns is not 60", async (t) => {
    const box = sandbox(t);
    seedLong(box);
    for (const width of [80, 60]) {
      const lines = linesWithin(
        await box.run(["list"], { env: { COLUMNS: String(width) } }),
        width,
      );
      // Every row reaches the last column: the width is used, not wasted.
      assert.ok(
        lines.slice(1).some((line) => stringWidth(line) >= width - 1),
        lines.join("\n"),
      );
    }
  });

  test("a pipe without COLUMNS is not cut: what reads it is a program", async (t) => {
    const box = sandbox(t);
    seedLong(box);
    const result = await box.run(["list"], { env: { COLUMNS: undefined } });
    assertOk(result);
    const [long] = tableCells(result.stdout);
    assert.equal(long?.[0], LONG_NAME);
    assert.equal(long?.[5], LONG_DIR);
    assert.equal(long?.[6], "3f2a9c1e", "ids are short all the same");
    for (const bad of ["", "0", "-5", "abc", "80x"]) {
      const ignored = await box.run(["list"], { env: { COLUMNS: bad } });
      assert.equal(ignored.stdout, result.stdout, `COLUMNS=${JSON.stringify(bad)} is ignored`);
    }
  });

  test("--wide: nothing cut, full ids, whatever COLUMNS says", async (t) => {
    const box = sandbox(t);
    seedLong(box);
    const result = await box.run(["list", "--wide"], { env: { COLUMNS: "60" } });
    assertOk(result);
    const [long, short] = tableCells(result.stdout);
    assert.equal(long?.[0], LONG_NAME);
    assert.equal(long?.[6], UUID_A);
    assert.equal(short?.[6], UUID_B);
  });

  test("wide (CJK) characters take two columns, combining marks none; cuts never split one", async (t) => {
    const box = sandbox(t);
    const cjk = "夜間ビルドの調査を担当するエージェントの名前はとても長い";
    const combining = "Cafe\u0301 re\u0301sume\u0301 na\u0303o".repeat(4);
    seed(box, { instance_id: "cjk-agent", instance_name: cjk, definition_id: "日本語の定義" });
    seed(box, { instance_id: "marks-agent", instance_name: combining });
    seed(box, { instance_id: "emoji-agent", instance_name: "👩‍💻 coder ❤️ 🇫🇷".repeat(3) });
    for (const width of [70, 90, 1000]) {
      const lines = linesWithin(
        await box.run(["list"], { env: { COLUMNS: String(width) } }),
        width,
      );
      // Aligned on the terminal: each id starts at the same column as the ID header.
      const at = columnOf(lines[0] as string, "ID");
      for (const line of lines.slice(1)) {
        const id = ["cjk-agen", "marks-ag", "emoji-ag"].find((prefix) => line.includes(prefix));
        assert.ok(id, line);
        assert.equal(columnOf(line, id), at, `aligned at ${width}:\n${lines.join("\n")}`);
      }
      const cjkLine = lines.find((line) => line.includes("cjk-agen")) as string;
      if (width < 1000) {
        assert.match(cjkLine, /^夜間[^ ]*… /u, "cut after whole characters");
        const marks = lines.find((line) => line.includes("marks-ag")) as string;
        // A cut keeps each base with its mark: no mark right before the ellipsis is orphaned.
        assert.doesNotMatch(marks, /[^\p{L}\p{M}]\p{M}/u);
      } else assert.ok(cjkLine.startsWith(cjk));
    }
  });

  test("a real terminal: its own width (stty cols), whatever COLUMNS says", {
    skip: hasScript() ? false : "needs util-linux script(1)",
  }, (t) => {
    const box = sandbox(t);
    seedLong(box);
    for (const cols of [72, 110]) {
      const child = spawnSync(
        "script",
        ["-qec", `stty cols ${cols} rows 40; '${process.execPath}' '${BIN}' list`, "/dev/null"],
        {
          env: { ...box.env, COLUMNS: "300", NO_COLOR: "1" },
          encoding: "utf8",
          timeout: 30_000,
          cwd: box.tmp,
        },
      );
      assert.equal(child.status, 0, child.stderr);
      const lines = child.stdout.replaceAll("\r\n", "\n").replace(/\n$/, "").split("\n");
      assert.ok(lines.length >= 3, child.stdout);
      for (const line of lines)
        assert.ok(stringWidth(line) <= cols, `${stringWidth(line)} > ${cols}: ${line}`);
      assert.ok(lines.some((line) => line.includes("…")));
    }
  });

  test("trash and leases fit too, and show short ids", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: UUID_A, instance_name: LONG_NAME }, { retired: true });
    seed(box, { instance_id: UUID_B, instance_name: LONG_NAME });
    writeLeaseFile(box.root, UUID_B, leaseOf(UUID_B, { hostname: "h".repeat(80) }));
    const trash = linesWithin(await box.run(["trash"], { env: { COLUMNS: "90" } }), 90);
    assert.match(trash[1] as string, /…/);
    assert.match(trash[1] as string, /\b3f2a9c1e$/);
    const leases = linesWithin(await box.run(["leases"], { env: { COLUMNS: "90" } }), 90);
    assert.match(leases[0] as string, /^AGENT +ID +HOST +PID +PROGRAM +BLOCK +RENEWED$/);
    assert.match(leases[1] as string, / 7b41d0aa {2}h+… /);
    const wide = await box.run(["leases", "--wide"], { env: { COLUMNS: "90" } });
    assert.ok(wide.stdout.includes(UUID_B) && wide.stdout.includes("h".repeat(80)));
    // In use: list adds its IN USE column, and still fits.
    linesWithin(await box.run(["list"], { env: { COLUMNS: "90" } }), 90);
  });
});

describe("cli: short ids", { concurrency: true }, () => {
  test("8 characters, longer where ids share a prefix, in either tree; each resolves back", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "0123456789ab-one", instance_name: "one" });
    seed(box, { instance_id: "0123456789cd-two", instance_name: "two" });
    seed(box, { instance_id: "abcdef01-solo", instance_name: "solo" });
    // A Trash id sharing 9 characters: the active one's short id must not match it either.
    seed(box, { instance_id: "abcdef01x-gone", instance_name: "gone" }, { retired: true });
    const result = await box.run(["list"]);
    assertOk(result);
    const shown = new Map(tableCells(result.stdout).map((row) => [row[0], row[6]]));
    assert.deepEqual(Object.fromEntries(shown), {
      one: "0123456789a",
      two: "0123456789c",
      solo: "abcdef01-",
    });
    for (const [name, short] of shown) {
      const found = parseJson<{ agent: { instance_name: string } }>(
        await box.run(["--json", "show", short as string]),
      );
      assert.equal(found.agent.instance_name, name, `${short} resolves to ${name}`);
    }
  });

  test("a short id is never another agent's name (a name would win over a prefix)", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "feedface-1111", instance_name: "target" });
    seed(box, { instance_id: "other", instance_name: "feedface" });
    seed(box, { instance_id: "other2", instance_name: "feedface-" });
    const shown = tableCells((await box.run(["list"])).stdout).find((row) => row[0] === "target");
    assert.equal(shown?.[6], "feedface-1");
  });

  test("ids shorter than 8 characters are shown whole; -q and --json always give full ids", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "abc", instance_name: "tiny" });
    seed(box, { instance_id: UUID_A, instance_name: "uuid" });
    const rows = tableCells((await box.run(["list"])).stdout);
    assert.deepEqual(
      rows.map((row) => row[6]),
      ["3f2a9c1e", "abc"],
    );
    const quiet = await box.run(["list", "-q"]);
    assertOk(quiet);
    assert.deepEqual(quiet.stdout.trimEnd().split("\n").sort(), [UUID_A, "abc"].sort());
  });
});

describe("cli: invisible characters are written out", { concurrency: true }, () => {
  test("zero-width and other invisible characters are escaped; emoji sequences are kept", async (t) => {
    const box = sandbox(t);
    const disguised = {
      "zw-space": "ad\u200Bmin",
      "zw-joiner": "ad\u200Dmin",
      "word-joiner": "ad\u2060min",
      bom: "\uFEFFadmin",
      "soft-hyphen": "ad\u00ADmin",
      "hangul-filler": "admin\u3164",
      tag: "admin\u{E0041}",
      selector: "ad\uFE0Fmin",
    };
    const expected: Record<string, string> = {
      "zw-space": "ad\\u200Bmin",
      "zw-joiner": "ad\\u200Dmin",
      "word-joiner": "ad\\u2060min",
      bom: "\\uFEFFadmin",
      "soft-hyphen": "ad\\u00ADmin",
      "hangul-filler": "admin\\u3164",
      tag: "admin\\u{E0041}",
      selector: "ad\\uFE0Fmin",
    };
    for (const [id, name] of Object.entries(disguised))
      seed(box, { instance_id: id, instance_name: name });
    const emoji = "👩‍💻 ❤️ 👍🏽";
    seed(box, { instance_id: "emoji", instance_name: emoji });
    const listed = await box.run(["list", "--wide"]);
    assertOk(listed);
    // Each line is the name, then the other columns; the full id ends it.
    const nameOf = (id: string) =>
      listed.stdout
        .split("\n")
        .find((line) => line.endsWith(`  ${id}`))
        ?.split("  ")[0];
    for (const [id, text] of Object.entries(expected)) assert.equal(nameOf(id), text, id);
    assert.equal(nameOf("emoji"), emoji);
    const shown = await box.run(["show", "zw-space"]);
    assert.match(shown.stdout, /^name\s+ad\\u200Bmin$/m);
    // --json keeps the exact value.
    const json = parseJson<{ agent: { instance_name: string } }>(
      await box.run(["--json", "show", "zw-space"]),
    );
    assert.equal(json.agent.instance_name, "ad\u200Bmin");
  });
});

function hasScript(): boolean {
  return process.platform === "linux" && spawnSync("script", ["--version"]).status === 0;
}
