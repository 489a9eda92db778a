/**
 * The shared file-per-agent registry of AgentMux-style launchers: one JSON file per agent,
 * written atomically, schema-versioned and lossless, readable and writable beside AgentMux's
 * own Rust server.
 *
 * - {@link Registry} is the store itself: one registry root on disk, every read and write.
 * - {@link RegistryService} is what the CLI and the local HTTP service use: agents by name,
 *   working directories, the change feed, doctor and the one-shot SQLite migration.
 * - The wire types ({@link Agent}, {@link ChangeEvent}, {@link ErrorBody} …) are the JSON the
 *   CLI's `--json` and the HTTP routes speak.
 * - {@link LeaseStore} holds the agents' leases: at most one live process drives an agent, shared
 *   with AgentMux's own lease files; an agent on the wire says who holds it (`in_use`).
 * - {@link SqliteInstanceStore} and {@link migrateFromSqliteOnce} are the SQLite side.
 *
 * This file is the whole public surface: everything else under `dist/` is internal and may
 * change in any release. `etc/agentmux-registry.api.md` is its report, checked in CI.
 *
 * @packageDocumentation
 */

// The wire contract: the JSON the CLI's `--json`, the HTTP routes and the change feed speak.
// Schema-first: each type is `FromSchema<typeof ItsSchema>`, so the schemas (JSON Schema
// 2020-12 objects, the ones docs/openapi.json names) are part of the surface too.
export {
  type Agent,
  type AgentList,
  AgentListSchema,
  type AgentLookup,
  AgentLookupSchema,
  AgentSchema,
  API_VERSION,
  agentJson,
  type ChangeEvent,
  ChangeEventSchema,
  type ChangesMessage,
  ChangesMessageSchema,
  type ChangeType,
  type ContinueBody,
  ContinueBodySchema,
  type ContinuedAgent,
  ContinuedAgentSchema,
  type CreateAgentBody,
  CreateAgentBodySchema,
  type CreatedAgent,
  CreatedAgentSchema,
  type DoctorReportJson,
  DoctorReportSchema,
  type ErrorBody,
  ErrorBodySchema,
  type FromSchema,
  type InUse,
  InUseSchema,
  type LeaseHolderJson,
  LeaseHolderSchema,
  type LeaseJson,
  type LeaseList,
  LeaseListSchema,
  LeaseSchema,
  type Moved,
  MovedSchema,
  type ProblemJson,
  ProblemSchema,
  type Removed,
  RemovedSchema,
  type RenameBody,
  RenameBodySchema,
  type Renamed,
  RenamedSchema,
  type SkippedFileJson,
  SkippedFileSchema,
  type Snapshot,
  SnapshotSchema,
} from "./api.js";
// Errors: one class, a stable code, the code's exit status and HTTP status.
export { ERROR_TABLE, type ErrorCode, isRegistryError, RegistryError } from "./core/errors.js";
export { isValidId } from "./core/ids.js";
// Values of unknown fields: numbers JavaScript cannot reproduce exactly stay tokens.
export { LosslessNumber } from "./core/json.js";
// Leases (SPEC §15): the lease file's content and AgentMux's timings.
export { LEASE_RENEW_MS, LEASE_TTL_MS, type Lease } from "./core/lease.js";
export type { RefusalReason, UpsertOutcome } from "./core/merge.js";
export type { PlainValue } from "./core/plain.js";
// The record format (docs/FORMAT.md, docs/record.schema.json).
export {
  MAX_FILE_BYTES,
  MAX_SUPPORTED_SCHEMA,
  MIN_SUPPORTED_SCHEMA,
  minSchemaVersion,
  type NamedAgentData,
  type NamedAgentRecord,
  type RecordInput,
  type RecordValidation,
  type SkipReason,
  type ValidationIssue,
  validateRecord,
} from "./core/schema.js";
export type { FsOps } from "./io/fs.js";
export { type DefaultPaths, defaultPaths } from "./io/paths.js";
// How the live index watches and verifies, part of the service's options.
export type { FeedOptions } from "./live-index.js";
// The store.
export {
  type ImportItem,
  type ImportResult,
  type LoadedEvent,
  type Logger,
  type MoveOutcome,
  type RecordScope,
  Registry,
  type RegistryEvents,
  type RegistryOptions,
  type ScanResult,
  type SkippedFile,
  type SweepResult,
  type WroteEvent,
} from "./registry.js";
// The service: the one door of the CLI and the HTTP routes.
export {
  type AgentTree,
  type ContinueResult,
  type CreateAgentInput,
  DEFAULT_LIST_LIMIT,
  type DoctorReport,
  type LocatedAgent,
  MAX_LIST_LIMIT,
  type OpenServiceOptions,
  type Problem,
  type ProblemKind,
  RegistryService,
  type ServiceOptions,
} from "./service.js";
// The SQLite side: the one-shot migration and a version's own store, mirrored into the registry.
export {
  type MigrateOptions,
  type MigrateProgress,
  type MigrateStats,
  migrateFromSqliteOnce,
} from "./sqlite/migrate.js";
export {
  type InstanceFields,
  type InstanceRow,
  type MirrorReport,
  SqliteInstanceStore,
  type SqliteInstanceStoreOptions,
  type WriteResult,
} from "./sqlite/store.js";
// The lease store: one live process per agent, beside the registry (`<root>/leases/`).
export {
  type ClaimOptions,
  type LeaseHandle,
  type LeaseHolder,
  LeaseStore,
  type LeaseStoreOptions,
  type LeaseView,
  type ProcessProbe,
} from "./store/lease-store.js";
