/**
 * The per-version SQLite row (SPEC §8) and how it becomes a registry record: which rows are
 * mirrored (named chain heads), how an absolute `working_directory` is anchored on an agents base
 * (whole path segments only), and the field mapping shared by the mirror and the migration.
 */

import { isAbsolute, normalize, sep } from "node:path";
import { isValidId } from "../core/ids.js";
import { type RecordInput, validateRecord, workingDirProblem } from "../core/schema.js";

export const INSTANCE_TABLE = "db_agent_instances";

export const CREATE_INSTANCE_TABLE = `CREATE TABLE IF NOT EXISTS ${INSTANCE_TABLE} (
  id TEXT PRIMARY KEY,
  definition_id TEXT NOT NULL DEFAULT '',
  parent_instance_id TEXT NOT NULL DEFAULT '',
  block_id TEXT NOT NULL DEFAULT '',
  session_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT '',
  github_context TEXT NOT NULL DEFAULT '',
  identity_id TEXT NOT NULL DEFAULT '',
  memory_id TEXT NOT NULL DEFAULT '',
  instance_name TEXT NOT NULL DEFAULT '',
  working_directory TEXT NOT NULL DEFAULT '',
  started_at INTEGER NOT NULL DEFAULT 0,
  ended_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL DEFAULT 0,
  display_hidden INTEGER NOT NULL DEFAULT 0
)`;

/** A row of `db_agent_instances`, as read with `safeIntegers(true)`: integers are exact bigints. */
export interface InstanceRow {
  id: string;
  definition_id: string;
  parent_instance_id: string;
  block_id: string;
  session_id: string;
  status: string;
  github_context: string;
  identity_id: string;
  memory_id: string;
  instance_name: string;
  working_directory: string;
  started_at: bigint;
  ended_at: bigint;
  created_at: bigint;
  display_hidden: bigint;
}

export const TEXT_COLUMNS = [
  "definition_id",
  "parent_instance_id",
  "block_id",
  "session_id",
  "status",
  "github_context",
  "identity_id",
  "memory_id",
  "instance_name",
  "working_directory",
] as const;

export const INTEGER_COLUMNS = ["started_at", "ended_at", "created_at", "display_hidden"] as const;

/** Only named chain heads are agents a user can continue; the rest never reach the registry. */
export function isNamedChainHead(
  row: Pick<InstanceRow, "instance_name" | "parent_instance_id">,
): boolean {
  return row.instance_name !== "" && row.parent_instance_id === "";
}

export const NAMED_HEADS_WHERE = "instance_name <> '' AND parent_instance_id = ''";

type Anchored = { workingDir: string; base: string };

/**
 * The first base that contains `absolute` by whole path segments, and the path relative to it.
 * `/home/u/.agentmux/agents-old/x` is not under `/home/u/.agentmux/agents`, and neither is a user
 * path that merely has an `agents` segment somewhere.
 */
function anchorWorkingDirectory(absolute: string, bases: readonly string[]): Anchored | null {
  if (!isAbsolute(absolute)) return null;
  const path = normalize(absolute);
  for (const rawBase of bases) {
    const base = normalize(rawBase).replace(/[\\/]+$/, "");
    if (!path.startsWith(base + sep)) continue;
    const workingDir = path.slice(base.length + 1).replace(/[\\/]+$/, "");
    if (workingDir !== "" && workingDirProblem(workingDir) === null) return { workingDir, base };
  }
  return null;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function exactMs(value: bigint): number | null {
  return value > MAX_SAFE || value < -MAX_SAFE ? null : Number(value);
}

export type RowMapping =
  | { ok: true; record: RecordInput; hidden: boolean }
  | { ok: false; reason: "invalid-id" | "invalid" | "unmappable"; message: string };

/** Turns a named chain head into the record the registry stores for it. */
export function rowToRecord(
  row: InstanceRow,
  bases: readonly string[],
  version: string,
): RowMapping {
  if (!isValidId(row.id))
    return {
      ok: false,
      reason: "invalid-id",
      message: `id ${JSON.stringify(row.id)} is not a valid record id`,
    };
  const started = exactMs(row.started_at);
  const created = exactMs(row.created_at === 0n ? row.started_at : row.created_at);
  if (started === null || created === null) {
    return { ok: false, reason: "invalid", message: `${row.id}: a timestamp is outside ±(2^53-1)` };
  }
  const anchored = anchorWorkingDirectory(row.working_directory, bases);
  if (anchored === null) {
    return {
      ok: false,
      reason: "unmappable",
      message: `${row.id}: working directory ${JSON.stringify(row.working_directory)} is under no agents base`,
    };
  }
  const record: RecordInput = {
    schema_version: 1,
    data: {
      instance_id: row.id,
      instance_name: row.instance_name,
      definition_id: row.definition_id,
      identity_id: row.identity_id || null,
      memory_id: row.memory_id || null,
      session_id: row.session_id || null,
      working_dir: anchored.workingDir,
      source_agents_base: anchored.base,
      created_at_ms: created,
      last_launched_at_ms: started,
      created_by_version: version,
      last_launched_by_version: version,
    },
  };
  const validation = validateRecord(row.id, record);
  if (!validation.ok)
    return { ok: false, reason: "invalid", message: `${row.id}: ${validation.issues[0]?.message}` };
  return { ok: true, record, hidden: row.display_hidden !== 0n };
}
