/**
 * One error class for every failure the registry reports, with a stable `code`.
 * Text for people is formatted at the edge (CLI, HTTP); callers and tests branch on `code`.
 */

/**
 * Every error code, what it means, and how the edges report it: the CLI's exit code and the
 * HTTP status. `docs/ERRORS.md` documents the same table; a test keeps the two in sync.
 */
export const ERROR_TABLE = {
  INVALID_ID: { exit: 2, http: 400, meaning: "an id is not a valid record id" },
  INVALID_RECORD: { exit: 2, http: 400, meaning: "a record to write is not valid" },
  INVALID_FILE: { exit: 4, http: 422, meaning: "a file on disk is not a valid record" },
  INVALID_ARGUMENT: { exit: 2, http: 400, meaning: "a bad scope, option or argument" },
  LOCK_TIMEOUT: { exit: 75, http: 503, meaning: "a record lock could not be taken in time" },
  INVALID_LOCK: {
    exit: 4,
    http: 409,
    meaning: "a record's lock path holds something that is not a lock file",
  },
  CONFLICT: { exit: 4, http: 409, meaning: "the file kept changing under the writer" },
  IO: { exit: 1, http: 500, meaning: "the file system refused an operation" },
  AGENT_NOT_FOUND: { exit: 3, http: 404, meaning: "no such agent" },
  WORKING_DIR_MISSING: { exit: 3, http: 404, meaning: "the agent's working directory is missing" },
  WORKING_DIR_ESCAPES: { exit: 4, http: 403, meaning: "the working directory leaves its base" },
  AMBIGUOUS_NAME: { exit: 4, http: 409, meaning: "a name matches several agents" },
  INVALID_NAME: {
    exit: 2,
    http: 400,
    meaning: "a name is empty, too long, or holds control or bidi-override characters",
  },
  RECORD_TOO_LARGE: {
    exit: 2,
    http: 400,
    meaning: "a write would produce a file the reader refuses (too large or too deep)",
  },
} as const;

export type ErrorCode = keyof typeof ERROR_TABLE;

export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly data: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RegistryError";
    this.code = code;
    this.data = data;
  }
}

export function isRegistryError(value: unknown, code?: ErrorCode): value is RegistryError {
  return value instanceof RegistryError && (code === undefined || value.code === code);
}
