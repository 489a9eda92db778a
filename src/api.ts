/**
 * The wire contract, once: the JSON form of an agent, the change events of the live feed and the
 * error shape. The CLI's `--json`, the HTTP routes and the web page all speak it. Pure (no `node:`
 * imports), so the page can import its types.
 */

import type { NamedAgentRecord } from "./core/schema.js";

/** An agent on the wire: a record's known fields, flat and snake_case, as on disk. */
export interface Agent {
  schema_version: number;
  instance_id: string;
  instance_name: string;
  definition_id: string;
  identity_id: string | null;
  memory_id: string | null;
  session_id: string | null;
  working_dir: string;
  source_agents_base: string | null;
  created_at_ms: number;
  last_launched_at_ms: number;
  created_by_version: string;
  last_launched_by_version: string;
}

export function agentJson(record: NamedAgentRecord): Agent {
  const { data } = record;
  return {
    schema_version: record.schema_version,
    instance_id: data.instance_id,
    instance_name: data.instance_name,
    definition_id: data.definition_id,
    identity_id: data.identity_id,
    memory_id: data.memory_id,
    session_id: data.session_id,
    working_dir: data.working_dir,
    source_agents_base: data.source_agents_base,
    created_at_ms: data.created_at_ms,
    last_launched_at_ms: data.last_launched_at_ms,
    created_by_version: data.created_by_version,
    last_launched_by_version: data.last_launched_by_version,
  };
}

/** A file a listing left out, and why (docs/ERRORS.md, "Skip reasons"). */
export interface SkippedFileJson {
  /** As reports name it: `x.json` or `retired/x.json`. */
  file: string;
  reason: string;
  message: string;
}

export type ChangeType = "created" | "updated" | "retired" | "restored" | "deleted";

export interface ChangeEvent {
  type: ChangeType;
  id: string;
  /** Where the record is now (`null` once deleted). */
  tree: "active" | "retired" | null;
  agent: Agent | null;
}

/** What a subscriber of the change feed starts from. */
export interface Snapshot {
  active: Agent[];
  retired: Agent[];
  skipped: SkippedFileJson[];
}

/** The `changes` event of the feed: what changed, and the skipped files now. */
export interface ChangesMessage {
  changes: ChangeEvent[];
  skipped: SkippedFileJson[];
}

/** Every error the CLI (`--json`) and the service send. */
export interface ErrorBody {
  error: { code: string; message: string; [detail: string]: unknown };
}
