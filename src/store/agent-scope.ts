/**
 * Agent-level operations: forget, restore, rename and delete an agent — every record file that
 * belongs to it, one record lock at a time, through the store's single-record operations. In the
 * `"agent"` scope an agent's legacy records (keyed by a launch id, `definition_id` = the agent's
 * id) go with it.
 */

import { RegistryError } from "../core/errors.js";
import { checkId } from "../core/ids.js";
import type { UpsertOutcome } from "../core/merge.js";
import type { NamedAgentRecord } from "../core/schema.js";
import type { TreeRead } from "../io/tree-reader.js";

/**
 * Which records a `…ForAgent` operation touches: `"file-key-only"` the file named by the id;
 * `"agent"` also every record whose `definition_id` is the id (legacy records keyed by a launch).
 */
export type RecordScope = "file-key-only" | "agent";

type Tree = "active" | "retired";

const SCOPES: ReadonlySet<unknown> = new Set<RecordScope>(["file-key-only", "agent"]);

/** The single-record operations of the store that agent-level ones are made of. */
export interface RecordStore {
  readTree(tree: Tree): TreeRead;
  retire(id: string): Promise<{ moved: boolean }>;
  unretire(id: string): Promise<{ moved: boolean }>;
  hardDelete(id: string): Promise<number>;
  update(
    id: string,
    change: (record: NamedAgentRecord) => NamedAgentRecord,
  ): Promise<UpsertOutcome>;
}

/** Removes every record of the agent from both trees; returns how many files went. */
export async function hardDeleteForAgent(
  store: RecordStore,
  agentId: string,
  scope: RecordScope,
): Promise<number> {
  let removed = 0;
  for (const id of idsOf(store, agentId, scope, ["active", "retired"]))
    removed += await store.hardDelete(id);
  return removed;
}

/** Moves every record of the agent from one tree to the other; returns how many moved. */
export async function moveForAgent(
  store: RecordStore,
  agentId: string,
  scope: RecordScope,
  from: Tree,
): Promise<number> {
  let moved = 0;
  for (const id of idsOf(store, agentId, scope, [from])) {
    const outcome = from === "active" ? await store.retire(id) : await store.unretire(id);
    if (outcome.moved) moved++;
  }
  return moved;
}

/**
 * Renames every valid active record of the agent. Records that are invalid (an empty name
 * among them) stay untouched and invisible; records already carrying `name` are not rewritten.
 * Returns how many changed.
 */
export async function setInstanceNameForAgent(
  store: RecordStore,
  agentId: string,
  scope: RecordScope,
  name: string,
): Promise<number> {
  if (typeof name !== "string" || name.length === 0) {
    throw new RegistryError("INVALID_ARGUMENT", "a new name must be a non-empty string", {
      agentId,
    });
  }
  let changed = 0;
  for (const id of idsOf(store, agentId, scope, ["active"])) {
    let outcome: UpsertOutcome | null;
    try {
      outcome = await store.update(id, (record) => {
        record.data.instance_name = name;
        return record;
      });
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === "INVALID_FILE")) throw error;
      outcome = null;
    }
    if (outcome?.status === "updated") changed++;
  }
  return changed;
}

/**
 * The file keys an agent-level operation touches: `agentId` itself, plus (agent scope) every
 * valid record in `trees` whose `definition_id` is `agentId` — legacy records keyed by a launch
 * id belong to their agent.
 */
function idsOf(store: RecordStore, agentId: string, scope: RecordScope, trees: Tree[]): string[] {
  checkId(agentId);
  if (!SCOPES.has(scope)) {
    throw new RegistryError(
      "INVALID_ARGUMENT",
      `scope must be "file-key-only" or "agent" (got ${JSON.stringify(scope)})`,
      { scope },
    );
  }
  const ids = new Set([agentId]);
  if (scope === "agent") {
    for (const tree of trees) {
      for (const record of store.readTree(tree).records) {
        if (record.data.definition_id === agentId) ids.add(record.data.instance_id);
      }
    }
  }
  return [...ids];
}
