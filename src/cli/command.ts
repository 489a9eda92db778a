/**
 * The shape of a command: one file under `commands/` exports one of these. `define` adds the
 * description, arguments and options to the command the program made (so it inherits the
 * program's output and error settings); `run` gets the shared context and commander's parsed
 * arguments and options, and resolves to the exit code (0 when it returns nothing).
 */

import type { Command } from "commander";
import type { CliContext, OpenOptions } from "./context.js";

export interface CliCommand<Args extends unknown[] = unknown[], Options = unknown> {
  name: string;
  define(command: Command): Command;
  /** Usage checks come first, before `ctx.service()` opens the registry. */
  run(ctx: CliContext, args: Args, options: Options): Promise<number | undefined>;
  /** Whether opening the registry sweeps stale temp and lock files (default true). */
  sweepOnOpen?: boolean;
  /** Whether the service keeps a live index (long-running commands: `serve`). */
  live?: boolean;
  /**
   * Whether the command only reads (default false), given its options: its registry is opened
   * without creating anything and without the sweep, so a mistyped `--root` leaves no trace.
   */
  readOnly?: boolean | OptionsRule<Options>;
}

/** A decision from a command's options; a method's type, so every command fits the program's list. */
type OptionsRule<Options> = { decide(options: Options): boolean }["decide"];

/** Types a command's `run` from its own declaration; the result fits the program's list. */
export const defineCommand = <Args extends unknown[], Options>(
  command: CliCommand<Args, Options>,
): CliCommand<Args, Options> => command;

/** How `command`, run with `options`, opens the registry. */
export function openOptions<Options>(
  command: CliCommand<unknown[], Options>,
  options: Options,
): OpenOptions {
  const readOnly =
    typeof command.readOnly === "function" ? command.readOnly(options) : command.readOnly === true;
  return {
    sweepOnOpen: !readOnly && (command.sweepOnOpen ?? true),
    live: command.live ?? false,
    create: !readOnly,
  };
}
