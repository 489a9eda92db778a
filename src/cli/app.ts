/**
 * `agentmux-registry` — argv → `RegistryService` → output. This file only assembles the program:
 * the global options, the commands (one file each under `commands/`), the shared context, and
 * the one output module every byte goes through (errors included; docs/ERRORS.md).
 */

import { Command, Help, type HelpContext } from "commander";
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

/**
 * The program. Given no command at all, commander shows the help as an error (stderr, exit 1);
 * here, as in gh, that is a request for help: stdout, exit 0. With `--json` it is a usage error,
 * as stdout must then be one JSON value.
 */
class Program extends Command {
  constructor(private readonly out: Output) {
    super("agentmux-registry");
  }

  override help(context?: HelpContext | ((text: string) => string)): never {
    if (typeof context !== "object" || !context.error) return super.help(context as HelpContext);
    if (this.out.mode.json) this.error("error: a command is required", { exitCode: EXIT.usage });
    return super.help({ error: false });
  }
}

const plainHelp = new Help();

function buildProgram(io: CliIo, out: Output, setExit: (code: number) => void): Command {
  const program = new Program(out)
    .description("The shared registry of named AI coding agents (AgentMux-compatible).")
    // -V too: `npx` takes a `--version` for itself.
    .version(PACKAGE_VERSION, "-V, --version")
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
    .option("-q, --quiet", "print only ids (of the agents a command lists or changes); no warnings")
    .exitOverride()
    .configureOutput(out.commanderOutput())
    // Inherited by every command defined after: its help shows these options and its required ones.
    .configureHelp({
      showGlobalOptions: true,
      optionDescription: (option) =>
        `${plainHelp.optionDescription(option)}${option.mandatory ? " (required)" : ""}`,
    })
    .addHelpText("after", examples(PROGRAM_EXAMPLES))
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
  // `__name`: for the completion scripts, not for people.
  const defined = command.define(
    program.command(command.name, { hidden: command.name.startsWith("__") }),
  );
  const shown = EXAMPLES[command.name];
  if (shown) defined.addHelpText("after", examples(shown));
  defined.action(async (...params: unknown[]) => {
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

/** A command line, and what it does when that is not plain. */
type Example = readonly [line: string, what?: string];

const PROGRAM_EXAMPLES: readonly Example[] = [
  ["agentmux-registry list", "the agents, newest launch first"],
  ['cd "$(agentmux-registry continue livelog)"', "go where an agent works"],
  ["agentmux-registry <command> --help", "a command's options and examples"],
];

/** Each command's examples, after its `--help` (a test checks every command has some). */
const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  list: [
    ["agentmux-registry list"],
    ["agentmux-registry list --definition claude-code --limit 10"],
    ["agentmux-registry list --all --wide", "every agent, no column cut, full ids"],
    ["agentmux-registry list -q | head -1", "the id of the newest agent"],
  ],
  show: [["agentmux-registry show livelog"], ["agentmux-registry show 3f2a9c1e --json"]],
  create: [
    ["agentmux-registry create --name livelog --definition claude-code"],
    ['id="$(agentmux-registry create -q --name scratch --definition gemini)"', "keep its id"],
  ],
  continue: [
    ['cd "$(agentmux-registry continue livelog)"'],
    ["agentmux-registry continue livelog --exec -- claude --continue", "run it there, held"],
  ],
  forget: [["agentmux-registry forget livelog", "to the Trash; restore brings it back"]],
  restore: [["agentmux-registry restore livelog"]],
  trash: [["agentmux-registry trash"], ["agentmux-registry trash -q", "their ids"]],
  leases: [["agentmux-registry leases"], ["agentmux-registry leases --all --json"]],
  rename: [['agentmux-registry rename livelog "live log"']],
  delete: [
    ["agentmux-registry delete livelog", "asks first, on a terminal"],
    ["agentmux-registry delete 3f2a9c1e --yes", "in a script"],
  ],
  migrate: [["agentmux-registry migrate"], ["agentmux-registry migrate --home /opt/agentmux"]],
  doctor: [["agentmux-registry doctor"], ["agentmux-registry doctor --fix"]],
  serve: [
    ["agentmux-registry serve"],
    ["agentmux-registry serve --port 0", "any free port"],
    ["agentmux-registry serve --demo", "made-up agents, to try the page"],
  ],
  completion: [
    ["source <(agentmux-registry completion bash)", "in ~/.bashrc"],
    ["source <(agentmux-registry completion zsh)", "in ~/.zshrc, after compinit"],
    ["agentmux-registry completion fish > ~/.config/fish/completions/agentmux-registry.fish"],
  ],
};

function examples(list: readonly Example[]): string {
  const width = Math.max(...list.map(([line, what]) => (what ? line.length : 0)));
  const lines = list.map(([line, what]) =>
    what ? `  $ ${line.padEnd(width)}  # ${what}` : `  $ ${line}`,
  );
  return `\nExamples:\n${lines.join("\n")}`;
}
