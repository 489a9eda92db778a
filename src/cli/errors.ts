/**
 * What the CLI makes of a failure: its code, exit code (docs/ERRORS.md), message and data. Pure
 * classification; `output.ts` writes the result.
 */

import { CommanderError } from "commander";
import { ERROR_TABLE, RegistryError } from "../core/errors.js";

export const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  tryLater: 75,
} as const;

/** An error the CLI raises itself: a code for `--json`, an exit code, a message for people. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    readonly exit: number,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** A usage error (`INVALID_ARGUMENT`, exit 2), raised before anything is opened or written. */
export function usage(message: string): never {
  throw new CliError("INVALID_ARGUMENT", EXIT.usage, message);
}

/** The `EACCES`-style code of a system error, if it is one. */
export const errnoOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
};

const FIXES: Partial<Record<keyof typeof ERROR_TABLE, string>> = {
  AGENT_NOT_FOUND:
    "see the agents with: agentmux-registry list, and the Trash with: agentmux-registry trash",
  AMBIGUOUS_NAME: "use the agent's id",
  AMBIGUOUS_ID: "type more of the id",
  WORKING_DIR_MISSING: "recreate the directory, or forget the agent",
  WORKING_DIR_ESCAPES: "remove the symlink that leads outside the agents base",
  LOCK_TIMEOUT: "another process holds the record; try again",
  INVALID_FILE: "run: agentmux-registry doctor",
  INVALID_LOCK: "run: agentmux-registry doctor",
  INVALID_NAME: "type a plain name; nothing was written",
  RECORD_TOO_LARGE: "shorten the field named in the message; nothing was written",
};

export interface Failure {
  code: string;
  exit: number;
  message: string;
  data: Readonly<Record<string, unknown>>;
  /** The `error:` line for people, unescaped; `null` when commander has already written it. */
  line: string | null;
  /** An unexpected error's stack, for `AGENTMUX_REGISTRY_DEBUG`. */
  stack?: string;
}

/**
 * Classifies anything a run threw; `null` when it is no failure at all (commander showed the help
 * or the version on request). Unexpected failures are `IO` for a system error and `UNEXPECTED`
 * for anything else, both exit 1.
 */
export function failureOf(error: unknown): Failure | null {
  if (error instanceof CommanderError) {
    // The help on request, or for no command at all (app.ts); the version.
    if (["commander.helpDisplayed", "commander.help", "commander.version"].includes(error.code))
      return null;
    // Commander has already written its line (the output module's `outputError`).
    return usageFailure(error.message.replace(/^error: /, ""));
  }
  if (error instanceof CliError || error instanceof RegistryError) {
    const { code, message, data } = error;
    // A code this version does not know (a newer library) is still reported, as unexpected.
    const row = (ERROR_TABLE as Record<string, { exit: number } | undefined>)[code];
    const exit = error instanceof CliError ? error.exit : (row?.exit ?? EXIT.unexpected);
    const fix = error instanceof RegistryError ? FIXES[error.code] : undefined;
    return { code, exit, message, data, line: `${message}${fix ? ` (${fix})` : ""}` };
  }
  const errno = errnoOf(error);
  const text = error instanceof Error ? error.message : String(error);
  const message = errno ? text : `${error instanceof Error ? error.name : "error"}: ${text}`;
  let data: Readonly<Record<string, unknown>> = {};
  if (errno) {
    const { syscall, path } = error as { syscall?: unknown; path?: unknown };
    data = {
      errno,
      ...(typeof syscall === "string" ? { op: syscall } : {}),
      ...(typeof path === "string" ? { path } : {}),
    };
  }
  return {
    code: errno ? "IO" : "UNEXPECTED",
    exit: EXIT.unexpected,
    message,
    data,
    line: `unexpected ${message}`,
    ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
  };
}

const usageFailure = (message: string): Failure => ({
  code: "INVALID_ARGUMENT",
  exit: EXIT.usage,
  message,
  data: {},
  line: null,
});
