export {
  type Agent,
  agentJson,
  type ChangeEvent,
  type ChangesMessage,
  type ChangeType,
  type ErrorBody,
  type SkippedFileJson,
  type Snapshot,
} from "./api.js";
export {
  ERROR_CODES,
  ERROR_TABLE,
  type ErrorCode,
  isRegistryError,
  RegistryError,
} from "./core/errors.js";
export { idProblem, isValidId, MAX_ID_LENGTH } from "./core/ids.js";
export { LosslessNumber } from "./core/json.js";
export type { RefusalReason, UpsertOutcome } from "./core/merge.js";
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
  workingDirProblem,
} from "./core/schema.js";
export type { FsOps } from "./io/fs.js";
export { type DefaultPaths, defaultPaths } from "./io/paths.js";
export type { ImportItem, ImportResult, SweepResult } from "./registry.js";
export {
  type LoadedEvent,
  type Logger,
  type MoveOutcome,
  type RecordScope,
  Registry,
  type RegistryEvents,
  type RegistryOptions,
  type ScanResult,
  type SkippedFile,
  type WroteEvent,
} from "./registry.js";
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
export {
  MIGRATION_VERSION,
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
