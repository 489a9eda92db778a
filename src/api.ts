/**
 * The wire contract, once: the JSON form of an agent, the change events of the live feed, the
 * error shape, and the bodies and answers of every HTTP route. Each is a JSON Schema (a plain
 * object, `as const`) and its TypeScript type is derived from it (`FromSchema`), so the type, the
 * route's validation and serialisation (fastify) and the OpenAPI document (docs/openapi.json)
 * cannot drift apart. The CLI's `--json`, the HTTP routes and the web page all speak it.
 * Pure (no `node:` imports, nothing but type imports from the core), so the page bundles it.
 */

import type { NamedAgentRecord } from "./core/schema.js";

// ---------------------------------------------------------------------------------------------
// From a schema to its type

/**
 * The TypeScript type of a JSON Schema written `as const`, for the subset this contract uses:
 * `type` (one or a list), `const`, `enum`, `anyOf`, `properties` with `required`, `items`, and
 * `additionalProperties: true`.
 */
export type FromSchema<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? FromSchema<A>
      : S extends { type: infer T }
        ? TypeOf<T extends readonly (infer U)[] ? U : T, S>
        : unknown;

type TypeOf<T, S> = T extends "string"
  ? string
  : T extends "integer" | "number"
    ? number
    : T extends "boolean"
      ? boolean
      : T extends "null"
        ? null
        : T extends "array"
          ? S extends { items: infer I }
            ? FromSchema<I>[]
            : unknown[]
          : T extends "object"
            ? ObjectOf<S>
            : unknown;

type RequiredOf<S> = S extends { required: readonly (infer R)[] } ? R : never;
type Flat<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<S> = S extends { properties: infer P }
  ? Flat<
      { -readonly [K in keyof P & RequiredOf<S>]: FromSchema<P[K]> } & {
        -readonly [K in Exclude<keyof P, RequiredOf<S>>]?: FromSchema<P[K]>;
      } & (S extends { additionalProperties: true } ? { [detail: string]: unknown } : unknown)
    >
  : Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// The agent

const text = { type: "string" } as const;
const textOrNull = { type: ["string", "null"] } as const;
const ms = { type: "integer", description: "milliseconds since the Unix epoch" } as const;

/** The JSON Schema of {@link LeaseHolderJson}. */
export const LeaseHolderSchema = {
  type: "object",
  description:
    "The process that holds an agent's lease (SPEC §15), as its lease file names it. Only what " +
    "a renewal leaves unchanged: a renewal every few seconds changes no agent on the wire.",
  properties: {
    hostname: { type: "string", description: "the holder's host (empty: not recorded)" },
    pid: { type: "integer", description: "the holder's process id (0: not recorded)" },
    channel: { type: "string", description: "the holding program, e.g. `agentmux-registry`" },
    version: { type: "string", description: "the holding program's version" },
    block_id: { type: "string", description: "which part of the process holds it" },
    session_id: textOrNull,
    acquired_at_ms: {
      ...ms,
      description: "when the holder claimed the agent (ms since the epoch)",
    },
  },
  required: ["hostname", "pid", "channel", "version", "block_id", "session_id", "acquired_at_ms"],
  additionalProperties: false,
} as const;
/** Who holds an agent's lease: host, process, program and since when. */
export type LeaseHolderJson = FromSchema<typeof LeaseHolderSchema>;

/** The JSON Schema of {@link InUse}. */
export const InUseSchema = {
  type: "object",
  description:
    "The agent is in use: a live process holds its lease, so Continue is refused " +
    "(`AGENT_IN_USE`). `holder` is null when the lease file cannot be read but is recent enough " +
    "to hold the agent: someone holds it, and who is unknown.",
  properties: { holder: { anyOf: [LeaseHolderSchema, { type: "null" }] } },
  required: ["holder"],
  additionalProperties: false,
} as const;
/** That an agent is in use, and by whom when its lease file says so. */
export type InUse = FromSchema<typeof InUseSchema>;

/** The JSON Schema of {@link Agent}. */
export const AgentSchema = {
  type: "object",
  description: "An agent on the wire: a record's known fields, flat and snake_case, as on disk.",
  properties: {
    schema_version: { type: "integer", description: "the record's format version" },
    instance_id: text,
    instance_name: text,
    definition_id: text,
    identity_id: textOrNull,
    memory_id: textOrNull,
    session_id: textOrNull,
    working_dir: {
      type: "string",
      description: "relative to source_agents_base (or, when null, the agents base)",
    },
    source_agents_base: textOrNull,
    created_at_ms: ms,
    last_launched_at_ms: ms,
    created_by_version: text,
    last_launched_by_version: text,
    in_use: {
      anyOf: [InUseSchema, { type: "null" }],
      description: "null, or who holds the agent's lease now (not a field of the record)",
    },
  },
  required: [
    "schema_version",
    "instance_id",
    "instance_name",
    "definition_id",
    "identity_id",
    "memory_id",
    "session_id",
    "working_dir",
    "source_agents_base",
    "created_at_ms",
    "last_launched_at_ms",
    "created_by_version",
    "last_launched_by_version",
    "in_use",
  ],
  additionalProperties: false,
} as const;

/**
 * An agent on the wire: a record's known fields, flat and snake_case, as on disk, and whether a
 * live process holds it now (`in_use`).
 */
export type Agent = FromSchema<typeof AgentSchema>;

/**
 * The wire form of a record: its known fields, flat (unknown fields are not sent), and `inUse`
 * (the service's `inUse()` knows it; `null` when no live process holds the agent).
 */
export function agentJson(record: NamedAgentRecord, inUse: InUse | null = null): Agent {
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
    in_use: inUse,
  };
}

// ---------------------------------------------------------------------------------------------
// Skipped files and the change feed

/** The JSON Schema of {@link SkippedFileJson}. */
export const SkippedFileSchema = {
  type: "object",
  description: 'A file a listing left out, and why (docs/ERRORS.md, "Skip reasons").',
  properties: {
    file: { type: "string", description: "as reports name it: `x.json` or `retired/x.json`" },
    reason: { type: "string", description: "a skip reason (docs/ERRORS.md)" },
    message: text,
  },
  required: ["file", "reason", "message"],
  additionalProperties: false,
} as const;

/** A file a listing left out, and why (docs/ERRORS.md, "Skip reasons"). */
export type SkippedFileJson = FromSchema<typeof SkippedFileSchema>;

/** The JSON Schema of {@link ChangeEvent}. */
export const ChangeEventSchema = {
  type: "object",
  description:
    "One change to either tree, by any process. A lease claimed, released, expired or left by " +
    "a dead holder is an `updated` change of its agent (its `in_use`).",
  properties: {
    type: { type: "string", enum: ["created", "updated", "retired", "restored", "deleted"] },
    id: text,
    tree: {
      type: ["string", "null"],
      enum: ["active", "retired", null],
      description: "where the record is now (null once deleted)",
    },
    agent: { anyOf: [AgentSchema, { type: "null" }] },
  },
  required: ["type", "id", "tree", "agent"],
  additionalProperties: false,
} as const;

/** One change of the registry as the change feed reports it: what happened to which agent, and where it is now. */
export type ChangeEvent = FromSchema<typeof ChangeEventSchema>;
/** What happened to an agent: `created`, `updated`, `retired`, `restored` or `deleted`. */
export type ChangeType = ChangeEvent["type"];

/** The JSON Schema of {@link Snapshot}. */
export const SnapshotSchema = {
  type: "object",
  description: "What a subscriber of the change feed starts from (the `snapshot` event).",
  properties: {
    active: { type: "array", items: AgentSchema },
    retired: { type: "array", items: AgentSchema },
    skipped: { type: "array", items: SkippedFileSchema },
  },
  required: ["active", "retired", "skipped"],
  additionalProperties: false,
} as const;

/** What a subscriber of the change feed starts from. */
export type Snapshot = FromSchema<typeof SnapshotSchema>;

/** The JSON Schema of {@link ChangesMessage}. */
export const ChangesMessageSchema = {
  type: "object",
  description: "The `changes` event of the feed: what changed, and the skipped files now.",
  properties: {
    changes: { type: "array", items: ChangeEventSchema },
    skipped: { type: "array", items: SkippedFileSchema },
  },
  required: ["changes", "skipped"],
  additionalProperties: false,
} as const;

/** The `changes` event of the feed: what changed, and the skipped files now. */
export type ChangesMessage = FromSchema<typeof ChangesMessageSchema>;

// ---------------------------------------------------------------------------------------------
// Errors

/** The JSON Schema of {@link ErrorBody}. */
export const ErrorBodySchema = {
  type: "object",
  description:
    "Every error, the framework's own included: `code` is a row of docs/ERRORS.md (the HTTP " +
    "status is that row's), details such as `field`, `id` or `candidates` sit beside it.",
  properties: {
    error: {
      type: "object",
      properties: { code: text, message: text },
      required: ["code", "message"],
      additionalProperties: true,
    },
  },
  required: ["error"],
  additionalProperties: false,
} as const;

/** Every error the CLI (`--json`) and the service send. */
export type ErrorBody = FromSchema<typeof ErrorBodySchema>;

// ---------------------------------------------------------------------------------------------
// The routes' parameters, bodies and answers

export const AgentIdParamsSchema = {
  type: "object",
  properties: {
    id: {
      type: "string",
      description:
        "the agent's id; one that is not a valid id is `400 INVALID_ID`, never `AGENT_NOT_FOUND`",
    },
  },
  required: ["id"],
} as const;
export type AgentIdParams = FromSchema<typeof AgentIdParamsSchema>;

export const ListAgentsQuerySchema = {
  type: "object",
  properties: {
    definitionId: { type: "string", description: "only agents of this definition (exact)" },
    limit: {
      type: "string",
      pattern: "^[0-9]+$",
      description:
        "a non-negative integer: how many agents at most (0 or absent: 200; at most 1000)",
    },
  },
} as const;
export type ListAgentsQuery = FromSchema<typeof ListAgentsQuerySchema>;

export const EventsQuerySchema = {
  type: "object",
  properties: {
    token: {
      type: "string",
      description: "the token, for clients that cannot send headers (EventSource)",
    },
  },
} as const;

/** The JSON Schema of {@link CreateAgentBody}. */
export const CreateAgentBodySchema = {
  type: "object",
  properties: {
    name: text,
    definitionId: text,
    identityId: textOrNull,
    memoryId: textOrNull,
  },
  required: ["name", "definitionId"],
  additionalProperties: false,
} as const;
/** The body of `POST /api/agents`: a new agent. */
export type CreateAgentBody = FromSchema<typeof CreateAgentBodySchema>;

/** The JSON Schema of {@link ContinueBody}. */
export const ContinueBodySchema = {
  type: "object",
  properties: {
    sessionId: {
      type: ["string", "null"],
      description: "the launcher's new session id; a held one is never replaced by nothing",
    },
  },
  additionalProperties: false,
} as const;
/** The body of `POST /api/agents/:id/continue`: a launch. */
export type ContinueBody = FromSchema<typeof ContinueBodySchema>;

/** The JSON Schema of {@link RenameBody}. */
export const RenameBodySchema = {
  type: "object",
  properties: { name: text },
  required: ["name"],
  additionalProperties: false,
} as const;
/** The body of `POST /api/agents/:id/rename`: the new name. */
export type RenameBody = FromSchema<typeof RenameBodySchema>;

/** The JSON Schema of {@link AgentList}. */
export const AgentListSchema = {
  type: "object",
  description: "Agents, newest launch first.",
  properties: { agents: { type: "array", items: AgentSchema } },
  required: ["agents"],
  additionalProperties: false,
} as const;
/** A list of agents, newest launch first: the dropdown (`GET /api/agents`, `list --json`) or the Trash (`GET /api/trash`). */
export type AgentList = FromSchema<typeof AgentListSchema>;

/** The JSON Schema of {@link AgentLookup}. */
export const AgentLookupSchema = {
  type: "object",
  description: "One agent, active or in the Trash (`show` prints the same).",
  properties: {
    agent: AgentSchema,
    working_dir_path: {
      type: "string",
      description: "(source_agents_base or the agents base)/working_dir, not checked",
    },
    retired: { type: "boolean", description: "whether the agent is in the Trash" },
  },
  required: ["agent", "working_dir_path", "retired"],
  additionalProperties: false,
} as const;
/** One agent, its working directory and whether it is in the Trash (`GET /api/agents/:id`, `show --json`). */
export type AgentLookup = FromSchema<typeof AgentLookupSchema>;

const workingDirPath = {
  type: "string",
  description: "the working directory, absolute and resolved",
} as const;

/** The JSON Schema of {@link CreatedAgent}. */
export const CreatedAgentSchema = {
  type: "object",
  properties: { agent: AgentSchema, working_dir_path: workingDirPath },
  required: ["agent", "working_dir_path"],
  additionalProperties: false,
} as const;
/** The answer to `POST /api/agents`: the agent and its working directory. */
export type CreatedAgent = FromSchema<typeof CreatedAgentSchema>;

/** The JSON Schema of {@link ContinuedAgent}. */
export const ContinuedAgentSchema = {
  type: "object",
  properties: {
    agent: AgentSchema,
    working_dir_path: workingDirPath,
    resume_command: {
      type: "string",
      description:
        "the start of the shell line that continues the agent in its working directory, holding its lease: `cd '<dir>' && agentmux-registry continue <id> [--session '<sid>'] --exec --`; append the provider's command (program and arguments). Running it records another launch",
    },
  },
  required: ["agent", "working_dir_path", "resume_command"],
  additionalProperties: false,
} as const;
/** The answer to `POST /api/agents/:id/continue`: the agent as launched, its working directory and a command line that resumes it. */
export type ContinuedAgent = FromSchema<typeof ContinuedAgentSchema>;

/** The JSON Schema of {@link Moved}. */
export const MovedSchema = {
  type: "object",
  properties: { id: text, moved: { type: "integer", description: "how many records moved" } },
  required: ["id", "moved"],
  additionalProperties: false,
} as const;
/** The answer to `POST /api/agents/:id/forget` or `/restore`: how many records moved. */
export type Moved = FromSchema<typeof MovedSchema>;

/** The JSON Schema of {@link Renamed}. */
export const RenamedSchema = {
  type: "object",
  properties: {
    id: text,
    name: text,
    changed: { type: "integer", description: "how many records changed (0: already so named)" },
  },
  required: ["id", "name", "changed"],
  additionalProperties: false,
} as const;
/** The answer to `POST /api/agents/:id/rename`. */
export type Renamed = FromSchema<typeof RenamedSchema>;

/** The JSON Schema of {@link Removed}. */
export const RemovedSchema = {
  type: "object",
  properties: {
    id: text,
    removed: {
      type: "integer",
      description: "how many records were deleted (never the working directory)",
    },
  },
  required: ["id", "removed"],
  additionalProperties: false,
} as const;
/** The answer to `DELETE /api/agents/:id`: how many records were removed. */
export type Removed = FromSchema<typeof RemovedSchema>;

/** The JSON Schema of {@link ProblemJson}. */
export const ProblemSchema = {
  type: "object",
  description: "One thing wrong on disk, and what to do about it.",
  properties: {
    kind: {
      type: "string",
      enum: [
        "skipped-file",
        "in-both-trees",
        "stale-file",
        "odd-entry",
        "working-dir-missing",
        "working-dir-escapes",
        "migration-incomplete",
        "lease-unreadable",
        "lease-expired",
      ],
    },
    subject: { type: "string", description: "the file (relative to the root) or agent concerned" },
    message: text,
    fix: { type: "string", description: "one line telling a person what to do" },
  },
  required: ["kind", "subject", "message", "fix"],
  additionalProperties: false,
} as const;
/** One problem doctor found, with its fix, on the wire. */
export type ProblemJson = FromSchema<typeof ProblemSchema>;

/** The JSON Schema of {@link DoctorReportJson}. */
export const DoctorReportSchema = {
  type: "object",
  description: "Everything `doctor` finds wrong on disk.",
  properties: {
    root: text,
    agents_base: text,
    active: { type: "integer", description: "active records read" },
    retired: { type: "integer", description: "records in the Trash read" },
    problems: { type: "array", items: ProblemSchema },
    fixed: {
      type: "array",
      items: text,
      description:
        "files a fix removed (stale temp and lock files, long-expired lease files; never over HTTP)",
    },
  },
  required: ["root", "agents_base", "active", "retired", "problems", "fixed"],
  additionalProperties: false,
} as const;
/** What doctor found (`GET /api/doctor`). */
export type DoctorReportJson = FromSchema<typeof DoctorReportSchema>;

/** The JSON Schema of {@link LeaseJson}. */
export const LeaseSchema = {
  type: "object",
  description: "One lease file of `<root>/leases/` (SPEC §15), judged now.",
  properties: {
    instance_id: text,
    instance_name: {
      type: ["string", "null"],
      description: "the agent's name (null: no valid record of that id)",
    },
    tree: {
      type: ["string", "null"],
      enum: ["active", "retired", null],
      description: "where the agent's record is (null: no valid record of that id)",
    },
    status: {
      type: "string",
      enum: ["live", "expired", "dead", "unreadable"],
      description:
        "live: held; expired: not renewed within the TTL; dead: its holder provably exited; " +
        "unreadable: not a lease file this version can read",
    },
    holding: {
      type: "boolean",
      description: "whether it keeps others out now (live, or unreadable and recent)",
    },
    age_ms: {
      type: "integer",
      description: "since the last renewal (an unreadable file: since it was written)",
    },
    renewed_at_ms: { type: ["integer", "null"], description: "null when unreadable" },
    epoch: {
      type: ["string", "null"],
      description: "the ownership generation, a decimal u64 (null when unreadable)",
    },
    holder: { anyOf: [LeaseHolderSchema, { type: "null" }] },
    file: { type: "string", description: "relative to the registry root" },
  },
  required: [
    "instance_id",
    "instance_name",
    "tree",
    "status",
    "holding",
    "age_ms",
    "renewed_at_ms",
    "epoch",
    "holder",
    "file",
  ],
  additionalProperties: false,
} as const;
/** One lease file and what it means now (`leases --json`, `GET /api/leases`). */
export type LeaseJson = FromSchema<typeof LeaseSchema>;

/** The JSON Schema of {@link LeaseList}. */
export const LeaseListSchema = {
  type: "object",
  description: "The agents' leases: the holding ones, or (`all`) every lease file.",
  properties: { leases: { type: "array", items: LeaseSchema } },
  required: ["leases"],
  additionalProperties: false,
} as const;
/** The agents' leases (`leases --json`, `GET /api/leases`). */
export type LeaseList = FromSchema<typeof LeaseListSchema>;

export const LeasesQuerySchema = {
  type: "object",
  properties: {
    all: {
      type: "string",
      enum: ["true", "false"],
      description: "`true`: expired, dead and unreadable lease files too",
    },
  },
} as const;
export type LeasesQuery = FromSchema<typeof LeasesQuerySchema>;

/**
 * The schemas the OpenAPI document names (`#/components/schemas/<name>`): wherever one of these
 * very objects appears in a route's schema, the document refers to it instead of repeating it.
 */
export const NAMED_SCHEMAS = {
  Agent: AgentSchema,
  InUse: InUseSchema,
  LeaseHolder: LeaseHolderSchema,
  SkippedFile: SkippedFileSchema,
  ChangeEvent: ChangeEventSchema,
  Snapshot: SnapshotSchema,
  ChangesMessage: ChangesMessageSchema,
  ErrorBody: ErrorBodySchema,
  CreateAgentBody: CreateAgentBodySchema,
  ContinueBody: ContinueBodySchema,
  RenameBody: RenameBodySchema,
  AgentList: AgentListSchema,
  AgentLookup: AgentLookupSchema,
  CreatedAgent: CreatedAgentSchema,
  ContinuedAgent: ContinuedAgentSchema,
  Moved: MovedSchema,
  Renamed: RenamedSchema,
  Removed: RemovedSchema,
  Problem: ProblemSchema,
  DoctorReport: DoctorReportSchema,
  Lease: LeaseSchema,
  LeaseList: LeaseListSchema,
} as const;

/** The version of this contract, the OpenAPI document's `info.version`. */
export const API_VERSION = "1.0.0";
