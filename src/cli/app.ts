/**
 * `agentmux-registry` — argv → `RegistryService` → output. This file only assembles the program:
 * the global options, the commands (one file each under `commands/`), the shared context, and
 * the one output module every byte goes through (errors included; docs/ERRORS.md).
 */

import { Command } from "commander";
import { type CliCommand, openOptions } from "./command.js";
import { COMMANDS } from "./commands/index.js";
import { createContext, type GlobalOptions, PACKAGE_VERSION } from "./context.js";
import { EXIT } from "./errors.js";
import { path, valueOption } from "./options.js";
import { type CliIo, Output } from "./output.js";

/** Runs one command line; resolves to the process exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // Until the command line is parsed, `--json` is looked for before any `--` (what follows it
  // belongs to `continue --exec`'s command); once parsed, the parsed option decides.
  const dashes = argv.indexOf("--");
  const out = new Output(io, {
    json: (dashes < 0 ? argv : argv.slice(0, dashes)).includes("--json"),
    quiet: false,
  });
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, out, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    try {
      return out.failure(error);
    } catch {
      return EXIT.unexpected; // the output itself failed; there is nowhere left to say so
    }
  }
}

function buildProgram(io: CliIo, out: Output, setExit: (code: number) => void): Command {
  const program = new Command("agentmux-registry")
    .description("The shared registry of named AI coding agents (AgentMux-compatible).")
    .version(PACKAGE_VERSION, "--version")
    .addOption(
      valueOption(
        "--root <dir>",
        "registry root (default: ~/.agentmux/shared/agents/registry)",
        path,
      ),
    )
    .addOption(
      valueOption(
        "--home <dir>",
        "install home with the per-version databases (default: ~/.agentmux)",
        path,
      ),
    )
    .addOption(
      valueOption(
        "--agents-base <dir>",
        "where working directories live (default: <home>/agents)",
        path,
      ),
    )
    .option("--json", "print one JSON value on stdout")
    .option("--quiet", "print only what was asked for")
    .exitOverride()
    .configureOutput(out.commanderOutput())
    .hook("preAction", (_program, action) => {
      const options = action.optsWithGlobals<GlobalOptions>();
      out.mode = { json: options.json === true, quiet: options.quiet === true };
    });
  for (const command of COMMANDS) addCommand(program, command, io, out, setExit);
  return program;
}

/** Adds one command: its definition, and an action that hands `run` the shared context. */
function addCommand(
  program: Command,
  command: CliCommand,
  io: CliIo,
  out: Output,
  setExit: (code: number) => void,
): void {
  command.define(program.command(command.name)).action(async (...params: unknown[]) => {
    const parsed = params.at(-1) as Command;
    const ctx = createContext(
      io,
      out,
      parsed.optsWithGlobals<GlobalOptions>(),
      openOptions(command, parsed.opts()),
    );
    setExit((await command.run(ctx, parsed.processedArgs, parsed.opts())) ?? EXIT.ok);
  });
}
