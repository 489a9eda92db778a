/**
 * `doctor` and `migrate` messages (issue 14), through the built binary: no fix ever overwrites or
 * deletes data — followed to the letter, each keeps every byte somewhere; thousands of problems
 * print as a screenful grouped by kind while `--json` keeps them all; every database the
 * migration cannot read is named with its reason.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  addDatabase,
  assertExit,
  assertOk,
  parseJson,
  recordText,
  type Sandbox,
  sandbox,
  seed,
  writeRaw,
} from "./harness.js";

interface Problem {
  kind: string;
  subject: string;
  message: string;
  fix: string;
}

async function problems(box: Sandbox): Promise<Problem[]> {
  const result = await box.run(["--json", "doctor"]);
  return parseJson<{ problems: Problem[] }>(result).problems;
}

/** Runs the fix's `mv -n A B` command as a person pasting it into a shell would. */
function runMove(fix: string): void {
  const command = /mv -n \S+ \S+/.exec(fix)?.[0];
  assert.ok(command, `a mv -n command in: ${fix}`);
  execFileSync("sh", ["-c", command]);
}

/** Every `*.json` (and backup) under the two trees with its bytes. */
function contents(box: Sandbox): string[] {
  const out: string[] = [];
  for (const dir of [box.root, box.retired]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (name.includes(".json")) out.push(readFileSync(join(dir, name), "utf8"));
    }
  }
  return out.sort();
}

const ID = "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001";

describe("messages: doctor never suggests overwriting data", { concurrency: true }, () => {
  test("<id>.json exists: compare, keep the right one, move the other aside — never rename over it", async (t) => {
    const box = sandbox(t);
    const real = seed(box, { instance_id: ID, instance_name: "the real one" });
    const realBytes = readFileSync(real, "utf8");
    writeRaw(
      box,
      "wrong-name.json",
      recordText({ instance_id: ID, instance_name: "a stale copy" }),
    );
    const before = contents(box);

    const [problem] = (await problems(box)).filter((p) => p.subject === "wrong-name.json");
    assert.ok(problem);
    assert.match(problem.fix, new RegExp(`^${ID}\\.json already exists: compare the two`));
    assert.match(problem.fix, /keep the right one/);
    assert.ok(!problem.fix.includes(`wrong-name.json ${real}`), problem.fix);
    assert.ok(!/mv (?!-n)/.test(problem.fix), `every mv is mv -n: ${problem.fix}`);

    // Followed to the letter: both records still exist, byte for byte; the stale one is aside.
    runMove(problem.fix);
    assert.equal(readFileSync(real, "utf8"), realBytes);
    assert.deepEqual(contents(box), before, "every byte is still there");
    assert.ok(existsSync(join(box.root, "wrong-name.json.bak")));
    assert.deepEqual(
      (await problems(box)).filter((p) => p.kind === "skipped-file"),
      [],
      "the backup is no record",
    );
  });

  test("no file of that id anywhere: rename it, with mv -n; following it repairs the record", async (t) => {
    const box = sandbox(t);
    mkdirSync(join(box.agentsBase, "wd"), { recursive: true });
    writeRaw(box, "retired/misnamed.json", recordText({ instance_id: ID, working_dir: "wd" }));
    const [problem] = await problems(box);
    assert.equal(
      problem?.fix,
      `rename it to match its data.instance_id: mv -n ${join(box.retired, "misnamed.json")} ${join(box.retired, `${ID}.json`)}`,
    );
    runMove(problem?.fix ?? "");
    assert.deepEqual(await problems(box), []);
    const trash = await box.run(["--json", "trash"]);
    assert.equal(parseJson<{ agents: unknown[] }>(trash).agents.length, 1);
  });

  test("two misnamed files claim one id: neither is told to take the name alone", async (t) => {
    const box = sandbox(t);
    writeRaw(box, "one.json", recordText({ instance_id: ID, instance_name: "one" }));
    writeRaw(box, "two.json", recordText({ instance_id: ID, instance_name: "two" }));
    const found = await problems(box);
    assert.equal(found.length, 2);
    for (const problem of found) {
      assert.match(problem.fix, /^other files also say they are/, problem.fix);
      assert.match(problem.fix, /rename only the right one/);
    }
  });

  test("the same id in the other tree counts as taken (a rename would put the agent in both)", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID }, { retired: true });
    writeRaw(box, "misnamed.json", recordText({ instance_id: ID }));
    const [problem] = await problems(box);
    assert.match(problem?.fix ?? "", new RegExp(`^retired/${ID}\\.json already exists`));
  });

  test("a claimed id that is not a valid id never becomes a path", async (t) => {
    const box = sandbox(t);
    writeRaw(box, "escape.json", recordText({ instance_id: "../../outside" }));
    const [problem] = await problems(box);
    assert.equal(problem?.message.includes("id-mismatch"), true, problem?.message);
    assert.match(problem?.fix ?? "", /is not a valid id/);
    assert.ok(!(problem?.fix ?? "").includes("outside.json"), problem?.fix);
  });

  test("an agent in both trees: compare, move one copy aside; never forget (it replaces the Trash copy)", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: ID, instance_name: "active copy" });
    seed(box, { instance_id: ID, instance_name: "trash copy" }, { retired: true });
    const before = contents(box);
    const problem = (await problems(box)).find((p) => p.kind === "in-both-trees");
    assert.ok(problem);
    assert.ok(!problem.fix.includes("forget"), problem.fix);
    assert.match(problem.fix, /^compare /);
    runMove(problem.fix);
    assert.deepEqual(contents(box), before, "both copies kept");
    assert.deepEqual(await problems(box), []);
  });

  test("audit: no fix on a hostile registry deletes or overwrites", async (t) => {
    const box = sandbox(t);
    seed(box, { instance_id: "good" });
    seed(box, { instance_id: "lost" }, { dir: false });
    seed(box, { instance_id: "both" });
    seed(box, { instance_id: "both" }, { retired: true });
    writeRaw(box, "bad json.json", "{ not json");
    writeRaw(box, "bom.json", `\uFEFF${recordText({ instance_id: "bom" })}`);
    writeRaw(box, "v999.json", `${JSON.stringify({ schema_version: 999, data: {} })}\n`);
    writeRaw(box, "nover.json", `${JSON.stringify({ data: {} })}\n`);
    writeRaw(box, "dupkey.json", '{"schema_version":1,"schema_version":1,"data":{}}\n');
    writeRaw(box, "array.json", "[]\n");
    writeRaw(box, "big.json", `{"x":"${"a".repeat(1_100_000)}"}`);
    writeRaw(box, "empty.json", recordText({ instance_id: "empty", instance_name: "" }));
    writeRaw(box, "unsafe.json", recordText({ instance_id: "unsafe", working_dir: "../x" }));
    writeRaw(box, "mismatch.json", recordText({ instance_id: "good" }));
    mkdirSync(join(box.root, "dir.json"));
    symlinkSync(join(box.root, "good.json"), join(box.root, "link.json"));
    writeRaw(box, ".tmp-x.1.abc", "partial", 3_600_000);
    const found = await problems(box);
    assert.ok(found.length >= 14, JSON.stringify(found, null, 2));
    for (const { fix } of found) {
      // `forget` moves to the Trash (restorable); only an agent in both trees must not be told to.
      assert.doesNotMatch(fix, /\brm\b|\bdelete\b/, fix);
      assert.doesNotMatch(fix, /\bmv (?!-n)/, `mv without -n: ${fix}`);
      assert.doesNotMatch(fix, /\bcp (?!-n)/, `cp without -n: ${fix}`);
      assert.doesNotMatch(fix, /\bremove it\b/, fix);
    }
  });
});

describe("messages: many problems, grouped", { concurrency: true }, () => {
  test("1,012 problems: a heading per kind with its count, the first 10 of each, --json has all", async (t) => {
    const box = sandbox(t);
    mkdirSync(box.root, { recursive: true });
    for (let i = 0; i < 1_000; i++) writeFileSync(join(box.root, `bad-${i}.json`), "{ not json");
    for (let i = 0; i < 12; i++) seed(box, { instance_id: `lost-${i}` }, { dir: false });

    const human = await box.run(["doctor"]);
    assertExit(human, 4);
    const lines = human.stdout.trimEnd().split("\n");
    assert.deepEqual(lines.filter((line) => !line.startsWith(" ")).slice(1), [
      "1,000 record files could not be loaded:",
      "12 working directories are missing:",
    ]);
    assert.deepEqual(
      lines.filter((line) => line.startsWith("  …")),
      [
        "  … and 990 more (agentmux-registry doctor --json lists them all)",
        "  … and 2 more (agentmux-registry doctor --json lists them all)",
      ],
    );
    assert.equal(lines.length, 1 + (1 + 20 + 1) * 2, "a screenful, not 2,025 lines");

    const json = await box.run(["--json", "doctor"]);
    assertExit(json, 4);
    assert.equal(parseJson<{ problems: unknown[] }>(json).problems.length, 1_012);
  });

  test("a kind with ten or fewer problems shows them all, with no 'more' line", async (t) => {
    const box = sandbox(t);
    for (let i = 0; i < 10; i++) writeRaw(box, `bad-${i}.json`, "{ not json");
    const human = await box.run(["doctor"]);
    assert.ok(!human.stdout.includes("more"), human.stdout);
    assert.match(human.stdout, /^10 record files could not be loaded:$/m);
  });
});

describe("messages: unreadable databases are named, with the reason", { concurrency: true }, () => {
  test("migrate lists each in text and --json; doctor names each with a fix", async (t) => {
    const box = sandbox(t);
    addDatabase(box.home, "versions/0.1.0", []);
    const corrupt = join(box.home, "versions", "0.2.0", "data", "db", "objects.db");
    mkdirSync(join(corrupt, ".."), { recursive: true });
    writeFileSync(corrupt, Buffer.alloc(8192, 0x5a));
    const notAFile = join(box.home, "versions", "0.3.0", "data", "db", "objects.db");
    mkdirSync(notAFile, { recursive: true });
    // A symlink loop where a version belongs: the directory walk cannot follow it.
    mkdirSync(join(box.home, "channels", "beta"), { recursive: true });
    symlinkSync("loop", join(box.home, "channels", "beta", "loop"));
    symlinkSync(
      join(box.home, "channels", "beta", "loop"),
      join(box.home, "channels", "beta", "versions"),
    );

    const json = await box.run(["--json", "migrate"]);
    assertExit(json, 75);
    const stats = parseJson<{
      dbs_skipped: number;
      unreadable: { path: string; reason: string }[];
    }>(json);
    assert.equal(stats.dbs_skipped, 2);
    const byPath = new Map(stats.unreadable.map(({ path, reason }) => [path, reason]));
    assert.equal(byPath.get(corrupt), "file is not a database");
    assert.equal(byPath.get(notAFile), "not a regular file");
    assert.match(byPath.get(join(box.home, "channels", "beta", "versions")) ?? "", /^ELOOP: /);
    assert.equal(stats.unreadable.length, 3);
    for (const { reason } of stats.unreadable) assert.ok(!reason.includes(box.home), reason);

    const human = await box.run(["migrate"]);
    assertExit(human, 75);
    assert.match(human.stdout, /^incomplete: these could not be read:$/m);
    assert.ok(human.stdout.includes(`\n  ${corrupt}: file is not a database\n`), human.stdout);
    assert.ok(human.stdout.includes(`\n  ${notAFile}: not a regular file\n`), human.stdout);

    const doctor = await box.run(["doctor"]);
    assertExit(doctor, 4);
    assert.match(doctor.stdout, /^the migration from SQLite has not completed:$/m);
    assert.ok(
      doctor.stdout.includes(`\n  ${corrupt} cannot be read: file is not a database\n`),
      doctor.stdout,
    );
    assert.ok(
      doctor.stdout.includes(`\n  ${notAFile} cannot be read: not a regular file\n`),
      doctor.stdout,
    );
    const report = await problems(box);
    const subjects = report.filter((p) => p.kind === "migration-incomplete").map((p) => p.subject);
    assert.deepEqual(
      subjects.sort(),
      [".migrated_from_sqlite", ...stats.unreadable.map((u) => u.path)].sort(),
    );
    for (const problem of report) assert.match(problem.fix, /agentmux-registry migrate --home /);
  });

  test("a migration that completes leaves no database problem behind", async (t) => {
    const box = sandbox(t);
    addDatabase(box.home, "versions/0.1.0", []);
    assertOk(await box.run(["migrate"]));
    assertOk(await box.run(["doctor"]));
  });
});
