/**
 * A hostile registry directory: random and mutated files, symlinks, directories named like
 * records, giant and deeply nested files. Listing must never throw, never follow a symlink, never
 * change or delete anything, and must account for every candidate file: loaded or skipped with a
 * reason. Generated with fixed seeds (fast-check prints the seed of a failure).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Registry, RegistryError } from "../src/index.js";
import { TreeReader } from "../src/io/tree-reader.js";
import { makeRecord, tempDir } from "./helpers.js";

const valid = (id: string) => `${JSON.stringify(makeRecord(id), null, 2)}\n`;

/** Every entry under `dir` with its type and a hash of its bytes (symlinks: their target). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string, rel: string) => {
    for (const name of fs.readdirSync(at)) {
      const path = join(at, name);
      const key = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(path);
      if (stat.isSymbolicLink()) out.set(key, `link:${fs.readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        out.set(key, "dir");
        walk(path, key);
      } else {
        const hash = createHash("sha256").update(fs.readFileSync(path)).digest("hex");
        out.set(key, `file:${stat.size}:${stat.mtimeMs}:${stat.mode}:${hash}`);
      }
    }
  };
  walk(dir, "");
  return out;
}

const SCHEMA_TOKENS = [
  "1",
  "2",
  "3",
  "0",
  "1.0",
  '"1"',
  "-1",
  "1e0",
  "4294967296",
  "999",
  "null",
  "[]",
  "3.0",
];

/** Content for a file named `<stem>.json`. */
const contentArb = (stem: string): fc.Arbitrary<Uint8Array | string> =>
  fc.oneof(
    fc.constant(valid(stem)),
    fc
      .constantFrom(...SCHEMA_TOKENS)
      .map((token) => valid(stem).replace('"schema_version": 1', `"schema_version": ${token}`)),
    fc.constant(`\ufeff${valid(stem)}`),
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ maxLength: 200 }),
    fc.constant(valid(stem).replace('"instance_name"', '"instance_name": "dup", "instance_name"')),
    fc.constant(valid(stem).replace('"working_dir": "', '"working_dir": "../../')),
    fc.constant(valid("..%2F..%2Fetc")),
    fc.constant(valid(stem).replace(`"instance_id": "${stem}"`, '"instance_id": "../../x"')),
    // A valid record with a few bytes mutated.
    fc
      .tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat({ max: 3 }))
      .map(([at, byte, count]) => {
        const bytes = Buffer.from(valid(stem));
        for (let i = 0; i <= count; i++) bytes[(at + i * 7) % bytes.length] = byte;
        return new Uint8Array(bytes);
      }),
    fc.constant(`{"schema_version": 1, "data": ${"[".repeat(600)}${"]".repeat(600)}}`),
  );

const stemArb = fc.oneof(
  fc.constantFrom(
    "aaa",
    "bbb",
    "CON",
    "nul.x",
    "x.",
    "-",
    "a b",
    "..",
    "é",
    "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001",
  ),
  fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/),
);

type Entry =
  | { kind: "file"; name: string; content: Uint8Array | string }
  | { kind: "dir"; name: string }
  | { kind: "link"; name: string; target: "record" | "passwd" | "dangling" | "dir" };

const entryArb: fc.Arbitrary<Entry> = stemArb.chain((stem) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: contentArb(stem).map(
        (content): Entry => ({ kind: "file", name: `${stem}.json`, content }),
      ),
    },
    { weight: 1, arbitrary: fc.constant<Entry>({ kind: "dir", name: `${stem}.json` }) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom("record" as const, "passwd" as const, "dangling" as const, "dir" as const)
        .map((target): Entry => ({ kind: "link", name: `${stem}.json`, target })),
    },
    {
      weight: 1,
      arbitrary: fc
        .string({ maxLength: 30 })
        .map((content): Entry => ({ kind: "file", name: `.${stem}.json`, content })),
    },
    {
      weight: 1,
      arbitrary: fc.constant<Entry>({ kind: "file", name: `${stem}.txt`, content: "not a record" }),
    },
  ),
);

function plant(dir: string, outside: string, entries: Entry[]): void {
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (fs.existsSync(path) || isLink(path)) continue;
    if (entry.kind === "file") fs.writeFileSync(path, entry.content);
    else if (entry.kind === "dir") fs.mkdirSync(path);
    else {
      const target = {
        record: join(outside, "aaa.json"),
        passwd: "/etc/passwd",
        dangling: join(outside, "missing.json"),
        dir: outside,
      }[entry.target];
      fs.symlinkSync(target, path);
    }
  }
}

function isLink(path: string): boolean {
  try {
    return fs.lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

describe("hostile disk", () => {
  test("listing accounts for every file, never throws, follows no symlink and changes nothing", async (t) => {
    const dir = tempDir(t);
    const outside = join(dir, "outside");
    fs.mkdirSync(outside);
    fs.writeFileSync(join(outside, "aaa.json"), valid("aaa"));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { maxLength: 25 }),
        fc.array(entryArb, { maxLength: 10 }),
        async (active, retired) => {
          const root = join(dir, `r${run++}`);
          fs.mkdirSync(join(root, "retired"), { recursive: true });
          plant(root, outside, active);
          plant(join(root, "retired"), outside, retired);
          const before = snapshot(dir);

          const registry = await Registry.open(root);
          const scan = await registry.scan();
          await registry.listActive();
          await registry.listRetired();
          for (const name of fs
            .readdirSync(root)
            .filter((n) => n.endsWith(".json") && !n.startsWith("."))) {
            try {
              await registry.get(name.slice(0, -5));
            } catch (error) {
              assert.ok(
                error instanceof RegistryError &&
                  ["INVALID_ID", "INVALID_FILE"].includes(error.code),
              );
            }
          }
          assert.deepEqual(snapshot(dir), before, "nothing on disk changed");

          const accounted = new Map<string, string>();
          for (const record of scan.active) accounted.set(`${record.data.instance_id}.json`, "ok");
          for (const record of scan.retired)
            accounted.set(`retired/${record.data.instance_id}.json`, "ok");
          for (const skipped of scan.skipped) {
            assert.ok(skipped.reason && skipped.message, "every skip has a reason and a message");
            accounted.set(skipped.file, skipped.reason);
          }
          for (const [tree, prefix] of [
            [root, ""],
            [join(root, "retired"), "retired/"],
          ] as const) {
            for (const name of fs.readdirSync(tree)) {
              const candidate = name.endsWith(".json") && !name.startsWith(".");
              assert.equal(accounted.has(`${prefix}${name}`), candidate, `${prefix}${name}`);
              if (isLink(join(tree, name)) && candidate) {
                assert.equal(
                  accounted.get(`${prefix}${name}`),
                  "not-regular-file",
                  "symlinks are never followed",
                );
              }
            }
          }
          assert.equal(
            accounted.size,
            scan.active.length + scan.retired.length + scan.skipped.length,
          );
        },
      ),
      { seed: 20261128, numRuns: 60 },
    );
  });

  test("a 50 MB file, 100,000 levels of nesting and a FIFO are skipped without reading them whole", async (t) => {
    const dir = tempDir(t);
    const root = join(dir, "registry");
    const registry = await Registry.open(root);
    const big = join(root, "big.json");
    fs.writeFileSync(big, "");
    fs.truncateSync(big, 50 * 1024 * 1024);
    fs.writeFileSync(join(root, "deep.json"), `${"[".repeat(100_000)}${"]".repeat(100_000)}`);
    fs.writeFileSync(
      join(root, "deepobj.json"),
      `${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}`,
    );
    const { spawnSync } = await import("node:child_process");
    const fifo = spawnSync("mkfifo", [join(root, "fifo.json")]).status === 0;
    const scan = await registry.scan();
    const reasons = Object.fromEntries(scan.skipped.map((s) => [s.file, s.reason]));
    assert.equal(reasons["big.json"], "too-large");
    assert.equal(reasons["deep.json"], "invalid-json");
    assert.equal(reasons["deepobj.json"], "invalid-json");
    if (fifo) assert.equal(reasons["fifo.json"], "not-regular-file");
    assert.equal(fs.statSync(big).size, 50 * 1024 * 1024);
  });

  test("a registry root that is a symlink to the real directory: listings see every change", async (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(join(dir, "real", "retired"), { recursive: true });
    const root = join(dir, "registry");
    fs.symlinkSync(join(dir, "real"), root);
    // racyMs 0: the directory's identity is trusted at once, as it is 2 s after any change.
    const reader = new TreeReader(fs, root, "", 0);
    assert.equal(reader.read().records.length, 0);
    fs.writeFileSync(join(dir, "real", "aaa.json"), valid("aaa"));
    assert.deepEqual(
      reader.read().records.map((r) => r.data.instance_id),
      ["aaa"],
      "a new file in the linked directory is listed (the link's own identity never changes)",
    );
    const registry = await Registry.open(root);
    await registry.upsert(makeRecord("bbb"));
    assert.equal((await registry.listActive()).length, 2);
  });
});
