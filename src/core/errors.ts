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
  AGENT_IN_USE: {
    exit: 4,
    http: 409,
    meaning: "another live process holds the agent's lease (or this process lost its lease)",
  },
  AMBIGUOUS_NAME: { exit: 4, http: 409, meaning: "a name matches several agents" },
  AMBIGUOUS_ID: { exit: 4, http: 409, meaning: "an id prefix matches several agents" },
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

/** A stable error code: a key of {@link ERROR_TABLE}. Branch on it, never on the message. */
export type ErrorCode = keyof typeof ERROR_TABLE;

/**
 * Every failure the registry, the service and the SQLite store report. Refusals that are part of
 * normal operation (an upsert over a retired agent, a move of an absent file) are outcomes, not
 * errors.
 */
export class RegistryError extends Error {
  /** What went wrong, stable across releases (docs/ERRORS.md). */
  readonly code: ErrorCode;
  /** Details for programs: the id, the file, the errno … (shape depends on the code). */
  readonly data: Readonly<Record<string, unknown>>;

  /**
   * @param code - what went wrong
   * @param message - text for people
   * @param data - details for programs
   * @param options - the underlying error, if any, as `cause`
   */
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

/**
 * Whether `value` is a {@link RegistryError}, and of the given `code` when one is given.
 *
 * @example
 * ```ts
 * try { await registry.get(id); } catch (e) { if (isRegistryError(e, "INVALID_FILE")) … }
 * ```
 */
export function isRegistryError(value: unknown, code?: ErrorCode): value is RegistryError {
  return value instanceof RegistryError && (code === undefined || value.code === code);
}
