/**
 * A foreign writer for the live index's tests: a separate process that changes the registry the
 * way other programs do — by rename (as every writer of the format does), and, outside the
 * contract, by editing a file in place and putting its mtime back. It takes no locks. Each
 * message is one operation; the reply comes once the operation completed.
 */

import {
  closeSync,
  existsSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export type ForeignOp =
  | { kind: "write"; tree: "active" | "retired"; id: string; name: string; ts: number }
  | { kind: "invalid"; tree: "active" | "retired"; id: string }
  | { kind: "delete"; tree: "active" | "retired"; id: string }
  | { kind: "retire"; id: string }
  | { kind: "restore"; id: string }
  | { kind: "inplace"; tree: "active" | "retired"; id: string; name: string };

const root = process.argv[2] as string;
let tmp = 0;

const dirOf = (tree: "active" | "retired") => (tree === "active" ? root : join(root, "retired"));

export function recordText(id: string, name: string, ts: number): string {
  return `${JSON.stringify(
    {
      schema_version: 1,
      data: {
        instance_id: id,
        instance_name: name,
        definition_id: "claude-code",
        identity_id: null,
        memory_id: null,
        session_id: null,
        working_dir: `${id}-wd`,
        source_agents_base: null,
        created_at_ms: 1_747_049_400_000,
        last_launched_at_ms: ts,
        created_by_version: "0.1.0",
        last_launched_by_version: "0.1.0",
      },
    },
    null,
    2,
  )}\n`;
}

function replace(path: string, text: string): void {
  const temp = join(path, "..", `.tmp-foreign-${process.pid}-${tmp++}`);
  writeFileSync(temp, text);
  renameSync(temp, path);
}

function apply(op: ForeignOp): void {
  switch (op.kind) {
    case "write":
      replace(join(dirOf(op.tree), `${op.id}.json`), recordText(op.id, op.name, op.ts));
      return;
    case "invalid":
      replace(join(dirOf(op.tree), `${op.id}.json`), "{ not json");
      return;
    case "delete":
      rmSync(join(dirOf(op.tree), `${op.id}.json`), { force: true });
      return;
    case "retire": {
      const from = join(root, `${op.id}.json`);
      if (existsSync(from)) renameSync(from, join(root, "retired", `${op.id}.json`));
      return;
    }
    case "restore": {
      const from = join(root, "retired", `${op.id}.json`);
      const to = join(root, `${op.id}.json`);
      if (existsSync(from) && !existsSync(to)) renameSync(from, to);
      return;
    }
    case "inplace": {
      // Same size, same mtime: only the ctime (and the watcher) can tell.
      const path = join(dirOf(op.tree), `${op.id}.json`);
      if (!existsSync(path)) return;
      const before = statSync(path);
      const text = recordText(op.id, op.name, 1_747_061_640_000);
      const fd = openSync(path, "r+");
      try {
        writeSync(fd, text, 0);
      } finally {
        closeSync(fd);
      }
      utimesSync(path, before.atime, before.mtime);
      return;
    }
  }
}

if (process.send) {
  process.on("message", (op: ForeignOp) => {
    try {
      apply(op);
      process.send?.({ ok: true });
    } catch (error) {
      process.send?.({ ok: false, error: String(error) });
    }
  });
}
