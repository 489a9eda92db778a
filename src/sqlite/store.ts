/**
 * `SqliteInstanceStore` — one installed version's `objects.db`, where the SQLite row is
 * authoritative and the registry is its mirror (SPEC §8).
 *
 * Order and failure rules: the SQL write happens first and its result stands; then the registry
 * is brought in line. A mirror failure is logged and reported in the result, never thrown. Hide,
 * rename and delete succeed when either side acted, so an agent known only through the registry
 * can still be forgotten; deletes sweep the registry even when no row matched, so a retry
 * converges. Concurrency: better-sqlite3 is synchronous; registry calls take their record locks.
 */

import Database from "better-sqlite3";
import { RegistryError } from "../core/errors.js";
import type { RecordInput } from "../core/schema.js";
import type { Logger, Registry } from "../registry.js";
import {
  CREATE_INSTANCE_TABLE,
  INSTANCE_TABLE,
  INTEGER_COLUMNS,
  type InstanceRow,
  isNamedChainHead,
  NAMED_HEADS_WHERE,
  rowToRecord,
  TEXT_COLUMNS,
} from "./rows.js";

export type { InstanceRow } from "./rows.js";

/**
 * Columns a caller may set (every column of {@link InstanceRow} but `id`): text as strings,
 * integers as numbers or bigints, `display_hidden` also as a boolean.
 */
export type InstanceFields = {
  [Column in Exclude<
    keyof InstanceRow,
    "id" | "display_hidden"
  >]?: InstanceRow[Column] extends bigint ? number | bigint : string;
} & {
  display_hidden?: boolean | number | bigint;
};

/** How a write reached the registry: mirrored, not mirrored and why, or failed (logged, never thrown). */
export type MirrorReport =
  | { status: "mirrored"; registryChanges: number }
  | {
      status: "not-mirrored";
      reason:
        | "no-registry"
        | "unnamed"
        | "continuation"
        | "absent"
        | "unmappable"
        | "invalid"
        | "refused";
      detail?: string;
    }
  | { status: "failed"; code: string; message: string };

/** The result of a {@link SqliteInstanceStore} write: the SQL side and the mirror. */
export interface WriteResult {
  /** Whether the operation took effect anywhere (SQL or registry). */
  ok: boolean;
  /** Rows the SQL statement changed. */
  sqlChanges: number;
  /** What happened in the registry. */
  mirror: MirrorReport;
}

/** Options of {@link SqliteInstanceStore.open}. */
export interface SqliteInstanceStoreOptions {
  /** The registry to mirror into; without one the store is SQL only. */
  registry?: Registry;
  /** This version's string, stamped as `created_by_version` / `last_launched_by_version`. */
  version: string;
  /** This install's own agents dir (a channel's or a dev instance's), tried after the registry's base. */
  ownAgentsDir?: string;
  /** Where mirror failures are logged (silent by default). */
  logger?: Logger;
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * One installed version's `objects.db` (its `db_agent_instances` table), where the SQLite row is
 * authoritative and the registry its mirror (SPEC §8): the SQL write happens first and stands,
 * then the registry is brought in line; a mirror failure is reported in the result, never thrown.
 */
export class SqliteInstanceStore {
  private readonly db: Database.Database;
  private readonly registry: Registry | undefined;
  private readonly version: string;
  private readonly bases: string[];
  private readonly logger: Logger;

  private constructor(db: Database.Database, options: SqliteInstanceStoreOptions) {
    this.db = db;
    this.registry = options.registry;
    this.version = options.version;
    this.logger = options.logger ?? silent;
    this.bases = [options.registry?.agentsBase, options.ownAgentsDir].filter(
      (b): b is string => !!b,
    );
  }

  /** Opens (creating if needed) the database at `path` and its `db_agent_instances` table. */
  static open(path: string, options: SqliteInstanceStoreOptions): SqliteInstanceStore {
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.defaultSafeIntegers(true);
    db.exec(CREATE_INSTANCE_TABLE);
    return new SqliteInstanceStore(db, options);
  }

  /** Closes the database. */
  close(): void {
    this.db.close();
  }

  /** The row with this id, or `null`. */
  get(id: string): InstanceRow | null {
    const row = this.db.prepare(`SELECT * FROM ${INSTANCE_TABLE} WHERE id = ?`).get(id);
    return (row as InstanceRow | undefined) ?? null;
  }

  /** Named chain heads that are not hidden, most recently started first. */
  listNamed(): InstanceRow[] {
    return this.db
      .prepare(
        `SELECT * FROM ${INSTANCE_TABLE} WHERE ${NAMED_HEADS_WHERE} AND display_hidden = 0 ORDER BY started_at DESC, id`,
      )
      .all() as InstanceRow[];
  }

  /** Inserts a row, then mirrors it. */
  async create(id: string, fields: InstanceFields): Promise<WriteResult & { row: InstanceRow }> {
    if (typeof id !== "string" || id === "") {
      throw new RegistryError("INVALID_ARGUMENT", "an instance needs a non-empty id", { id });
    }
    const values = columnValues(fields);
    const columns = ["id", ...Object.keys(values)];
    this.db
      .prepare(
        `INSERT INTO ${INSTANCE_TABLE} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      )
      .run(id, ...Object.values(values));
    const row = this.get(id) as InstanceRow;
    return { ok: true, sqlChanges: 1, mirror: await this.mirrorRow(row), row };
  }

  /** Updates the given columns, then refreshes the mirror. */
  async update(id: string, fields: InstanceFields): Promise<WriteResult> {
    const values = columnValues(fields);
    const columns = Object.keys(values);
    if (columns.length === 0)
      return { ok: false, sqlChanges: 0, mirror: { status: "not-mirrored", reason: "absent" } };
    const sqlChanges = this.db
      .prepare(
        `UPDATE ${INSTANCE_TABLE} SET ${columns.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`,
      )
      .run(...Object.values(values), id).changes;
    const row = this.get(id);
    const mirror = row
      ? await this.mirrorRow(row)
      : ({ status: "not-mirrored", reason: "absent" } as const);
    return { ok: sqlChanges > 0, sqlChanges, mirror };
  }

  /** Hides (forgets) or shows an agent: the row's flag, and every registry record of the agent. */
  async setHidden(id: string, hidden: boolean): Promise<WriteResult> {
    const sqlChanges = this.db
      .prepare(`UPDATE ${INSTANCE_TABLE} SET display_hidden = ? WHERE id = ?`)
      .run(hidden ? 1 : 0, id).changes;
    const mirror = await this.mirrorAction(async (registry) => {
      if (hidden) return registry.retireForAgent(id, "agent");
      const restored = await registry.unretireForAgent(id, "agent");
      return restored + (await this.refresh(registry, id));
    });
    return this.result(sqlChanges, mirror);
  }

  /** Renames an agent: the row, then every active registry record of the agent. */
  async rename(id: string, name: string): Promise<WriteResult> {
    if (typeof name !== "string" || name === "") {
      throw new RegistryError("INVALID_ARGUMENT", "a new name must be a non-empty string", { id });
    }
    const sqlChanges = this.db
      .prepare(`UPDATE ${INSTANCE_TABLE} SET instance_name = ? WHERE id = ?`)
      .run(name, id).changes;
    const mirror = await this.mirrorAction(async (registry) => {
      const renamed = await registry.setInstanceNameForAgent(id, "agent", name);
      return renamed + (await this.refresh(registry, id));
    });
    return this.result(sqlChanges, mirror);
  }

  /** Deletes the row and, unconditionally, every registry record of the agent (never a working dir). */
  async delete(id: string): Promise<WriteResult> {
    const sqlChanges = this.db
      .prepare(`DELETE FROM ${INSTANCE_TABLE} WHERE id = ?`)
      .run(id).changes;
    const mirror = await this.mirrorAction((registry) => registry.hardDeleteForAgent(id, "agent"));
    return this.result(sqlChanges, mirror);
  }

  private result(sqlChanges: number, mirror: MirrorReport): WriteResult {
    const registryActed = mirror.status === "mirrored" && mirror.registryChanges > 0;
    return { ok: sqlChanges > 0 || registryActed, sqlChanges, mirror };
  }

  /** Mirrors one row: unretire, upsert, and retire again when the row is hidden. */
  private async mirrorRow(row: InstanceRow): Promise<MirrorReport> {
    if (!this.registry) return { status: "not-mirrored", reason: "no-registry" };
    const plan = this.planMirror(row);
    if (plan.status === "not-mirrored") return plan;
    let refusal: MirrorReport | null = null;
    const report = await this.mirrorAction(async (registry) => {
      const applied = await this.applyMirror(registry, row.id, plan.record, plan.hidden);
      refusal = applied.refusal;
      return applied.changes;
    });
    return refusal ?? report;
  }

  /**
   * Re-mirrors the row after a hide or rename, inside the caller's mirror action so that a
   * failure here is reported as the operation's mirror failure. Returns the registry changes.
   */
  private async refresh(registry: Registry, id: string): Promise<number> {
    const row = this.get(id);
    if (row === null) return 0;
    const plan = this.planMirror(row);
    if (plan.status === "not-mirrored") return 0;
    return (await this.applyMirror(registry, id, plan.record, plan.hidden)).changes;
  }

  private planMirror(
    row: InstanceRow,
  ):
    | { status: "planned"; record: RecordInput; hidden: boolean }
    | Extract<MirrorReport, { status: "not-mirrored" }> {
    if (row.instance_name === "") return { status: "not-mirrored", reason: "unnamed" };
    if (!isNamedChainHead(row)) return { status: "not-mirrored", reason: "continuation" };
    const mapped = rowToRecord(row, this.bases, this.version);
    if (!mapped.ok) {
      const reason = mapped.reason === "unmappable" ? "unmappable" : "invalid";
      return { status: "not-mirrored", reason, detail: mapped.message };
    }
    return { status: "planned", record: mapped.record, hidden: mapped.hidden };
  }

  private async applyMirror(
    registry: Registry,
    id: string,
    record: RecordInput,
    hidden: boolean,
  ): Promise<{ changes: number; refusal: MirrorReport | null }> {
    let changes = (await registry.unretire(id)).moved ? 1 : 0;
    const outcome = await registry.upsert(record);
    let refusal: MirrorReport | null = null;
    if (outcome.status === "created" || outcome.status === "updated") changes++;
    if (outcome.status === "skipped") {
      this.logger.warn(
        { id, reason: outcome.reason },
        `mirror: registry refused ${id}: ${outcome.message}`,
      );
      refusal = {
        status: "not-mirrored",
        reason: "refused",
        detail: `${outcome.reason}: ${outcome.message}`,
      };
    }
    if (hidden && (await registry.retire(id)).moved) changes++;
    return { changes, refusal };
  }

  private async mirrorAction(
    action: (registry: Registry) => Promise<number>,
  ): Promise<MirrorReport> {
    if (!this.registry) return { status: "not-mirrored", reason: "no-registry" };
    try {
      return { status: "mirrored", registryChanges: await action(this.registry) };
    } catch (error) {
      const code = error instanceof RegistryError ? error.code : "UNEXPECTED";
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error({ code }, `mirror: registry update failed: ${message}`);
      return { status: "failed", code, message };
    }
  }
}

function columnValues(fields: InstanceFields): Record<string, string | bigint> {
  const values: Record<string, string | bigint> = {};
  for (const [column, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if ((TEXT_COLUMNS as readonly string[]).includes(column)) {
      if (typeof value !== "string") throw badColumn(column, "a string");
      values[column] = value;
    } else if ((INTEGER_COLUMNS as readonly string[]).includes(column)) {
      if (typeof value === "boolean") values[column] = value ? 1n : 0n;
      else if (typeof value === "bigint") values[column] = value;
      else if (typeof value === "number" && Number.isSafeInteger(value))
        values[column] = BigInt(value);
      else throw badColumn(column, "an integer");
    } else {
      throw badColumn(column, "a known column");
    }
  }
  return values;
}

function badColumn(column: string, expected: string): RegistryError {
  return new RegistryError("INVALID_ARGUMENT", `${column} must be ${expected}`, { column });
}
