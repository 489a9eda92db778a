/**
 * A source database path that is not a regular file must never block the migration: SQLite's
 * open, like a plain read-only open, waits forever on a FIFO for a writer that never comes. Run
 * in a child with a deadline, so a hang fails the test instead of the suite.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { runScriptWithDeadline, SRC_INDEX } from "../helpers.js";
import { addDb, dbPathIn, makeHome, registryRoot, row } from "./home.js";

test("a FIFO where a source objects.db belongs is unreadable: the others migrate, the run is incomplete", (t) => {
  const home = makeHome(t);
  addDb(home, "versions/0.30.0", [row(home, "a")]);
  const fifo = dbPathIn(home, "versions/0.31.0");
  mkdirSync(dirname(fifo), { recursive: true });
  try {
    execFileSync("mkfifo", [fifo]);
  } catch {
    t.skip("mkfifo is not available");
    return;
  }
  const script = `
    import { Registry, migrateFromSqliteOnce } from ${JSON.stringify(SRC_INDEX)};
    const registry = await Registry.open(${JSON.stringify(registryRoot(home))}, {
      agentsBase: ${JSON.stringify(join(home, "agents"))},
    });
    const stats = await migrateFromSqliteOnce(${JSON.stringify(home)}, registry);
    console.log(JSON.stringify(stats));
  `;
  const child = runScriptWithDeadline(script);
  const stats = JSON.parse(child.stdout);
  assert.equal(stats.complete, false);
  assert.equal(stats.dbs_skipped, 1);
  assert.equal(stats.records_written, 1);
});
