/**
 * The public surface as documented: README's "Exports" list names exactly what src/index.ts
 * exports, and every name it exports exists at run time or as a type.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const repo = join(import.meta.dirname, "..");
const read = (...path: string[]) => readFileSync(join(repo, ...path), "utf8");

/** Every name src/index.ts exports, and whether it is type-only. */
function indexExports(): Map<string, { typeOnly: boolean }> {
  const source = read("src", "index.ts");
  const names = new Map<string, { typeOnly: boolean }>();
  for (const block of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}\s+from/g)) {
    const blockIsType = block[1] !== undefined;
    for (const raw of (block[2] as string).split(",")) {
      const item = raw.trim();
      if (item === "") continue;
      const typeOnly = blockIsType || item.startsWith("type ");
      names.set(item.replace(/^type\s+/, ""), { typeOnly });
    }
  }
  return names;
}

/** The names README's Library section lists under "Exports" (its bullet list). */
function readmeExports(): Set<string> {
  const readme = read("README.md");
  const start = readme.indexOf("### Exports");
  assert.ok(start >= 0, 'README has a "### Exports" section');
  const section = readme.slice(start, readme.indexOf("\n### ", start + 1));
  const list = section.slice(section.indexOf("\n- "));
  return new Set(
    [...list.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((match) => match[1] as string),
  );
}

test("README's Exports list names exactly what src/index.ts exports", () => {
  const exported = [...indexExports().keys()].sort();
  const listed = [...readmeExports()].sort();
  assert.ok(exported.length > 40, `${exported.length} exports found`);
  assert.deepEqual(
    exported.filter((name) => !listed.includes(name)),
    [],
    "exported but not in README",
  );
  assert.deepEqual(
    listed.filter((name) => !exported.includes(name)),
    [],
    "in README but not exported",
  );
});

test("the values src/index.ts exports are the ones it declares as values", async () => {
  const runtime = Object.keys(await import("../src/index.js")).sort();
  const values = [...indexExports()]
    .filter(([, { typeOnly }]) => !typeOnly)
    .map(([name]) => name)
    .sort();
  assert.deepEqual(runtime, values);
});
