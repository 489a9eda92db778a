/**
 * One error class for every failure the registry reports, with a stable `code`.
 * Text for people is formatted at the edge (CLI, HTTP); callers and tests branch on `code`.
 */

export const ERROR_CODES = [
  "INVALID_ID",
  "INVALID_RECORD",
  "INVALID_FILE",
  "INVALID_ARGUMENT",
  "LOCK_TIMEOUT",
  "CONFLICT",
  "IO",
  "AGENT_NOT_FOUND",
  "WORKING_DIR_MISSING",
  "WORKING_DIR_ESCAPES",
  "AMBIGUOUS_NAME",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

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
