/**
 * `agentmux-registry` — argv → `RegistryService` → output. All behaviour lives in the service;
 * this file parses, resolves names, prints, and maps errors to exit codes (docs/ERRORS.md).
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { agentJson } from "../api.js";
import { ERROR_TABLE, RegistryError } from "../core/errors.js";
import { idProblem } from "../core/ids.js";
import type { NamedAgentRecord } from "../core/schema.js";
import { defaultPaths } from "../io/paths.js";
import { DEFAULT_PORT } from "../server/port.js";
import { RegistryService } from "../service.js";
import type { MigrateProgress } from "../sqlite/migrate.js";
import { agentDetails, agentTable, type Colors, colorsFor, printable } from "./format.js";

const EXIT = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  tryLater: 75,
} as const;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  now: () => number;
}

interface GlobalOptions {
  root?: string;
  home?: string;
  agentsBase?: string;
  json?: boolean;
  quiet?: boolean;
}

const PACKAGE_VERSION: string = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
).version;

/** Runs one command line; resolves to the process exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  // Until the command line is parsed, `--json` is looked for before any `--` (what follows it
  // belongs to `continue --exec`'s command); once parsed, the parsed option decides.
  const dashes = argv.indexOf("--");
  const mode = { json: (dashes < 0 ? argv : argv.slice(0, dashes)).includes("--json") };
  const program = buildProgram(io, mode, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (error) {
    try {
      return reportError(error, io, mode.json);
    } catch {
      return EXIT.unexpected; // the output itself failed; there is nowhere left to say so
    }
  }
}

function buildProgram(
  io: CliIo,
  mode: { json: boolean },
  setExit: (code: number) => void,
): Command {
  const program = new Command("agentmux-registry")
    .description("The shared registry of named AI coding agents (AgentMux-compatible).")
    .version(PACKAGE_VERSION, "--version")
    .addOption(
      new Option(
        "--root <dir>",
        "registry root (default: ~/.agentmux/shared/agents/registry)",
      ).argParser(text("--root")),
    )
    .addOption(
      new Option(
        "--home <dir>",
        "install home with the per-version databases (default: ~/.agentmux)",
      ).argParser(text("--home")),
    )
    .addOption(
      new Option(
        "--agents-base <dir>",
        "where working directories live (default: <home>/agents)",
      ).argParser(text("--agents-base")),
    )
    .option("--json", "print one JSON value on stdout")
    .option("--quiet", "print only what was asked for")
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line with the way to help; with --json the error also goes to stdout as JSON.
      outputError: (text, write) => {
        write(`${printable(text.trimEnd())} (run with --help for usage)\n`);
      },
    })
    .hook("preAction", (_program, action) => {
      mode.json = action.optsWithGlobals<GlobalOptions>().json === true;
    });

  const context = async (command: Command) => {
    const options = command.optsWithGlobals<GlobalOptions>();
    // --home moves every default with it, as AGENTMUX_HOME_OVERRIDE does.
    const env = options.home
      ? { ...io.env, AGENTMUX_HOME_OVERRIDE: resolve(options.home) }
      : io.env;
    const paths = defaultPaths(env);
    const home = resolve(options.home ?? paths.home);
    const service = await RegistryService.open({
      root: resolve(options.root ?? paths.root),
      agentsBase: resolve(options.agentsBase ?? paths.agentsBase),
      // doctor reports stale files before (with --fix) removing them.
      sweepOnOpen: command.name() !== "doctor",
      version: PACKAGE_VERSION,
      home,
      now: io.now,
    });
    const colors = colorsFor(io.stdoutIsTTY, io.env);
    const print = (json: unknown, human: () => string) => {
      if (options.json) io.stdout(`${JSON.stringify(json, null, 2)}\n`);
      else {
        const text = human();
        if (text !== "") io.stdout(`${text}\n`);
      }
    };
    const note = (text: string) => {
      if (!options.quiet && !options.json) io.stderr(`${text}\n`);
    };
    const reportSkipped = () => {
      const skipped = service.skippedCount;
      if (skipped > 0 && !options.quiet) {
        io.stderr(
          `${skipped} agent record file(s) could not be loaded; run: agentmux-registry doctor\n`,
        );
      }
    };
    return { options, service, colors, print, note, reportSkipped };
  };

  program
    .command("list")
    .description("the Continue dropdown: active agents, newest launch first")
    .addOption(
      new Option("--definition <id>", "only agents of this definition").argParser(
        text("--definition"),
      ),
    )
    .addOption(
      new Option("--limit <n>", "at most this many (default 200, max 1000)").argParser(
        count("--limit"),
      ),
    )
    .option("--all", "no limit")
    .action(
      async (options: { definition?: string; limit?: number; all?: boolean }, command: Command) => {
        if (options.all && options.limit !== undefined)
          usage("--all and --limit cannot be used together");
        const { service, print, colors, reportSkipped } = await context(command);
        const agents = await service.listNamedAgents({
          definitionId: options.definition,
          limit: options.limit,
          all: options.all,
        });
        print({ agents: agents.map(agentJson) }, () =>
          agents.length === 0 ? "no agents" : agentTable(agents, io.now(), colors),
        );
        reportSkipped();
      },
    );

  program
    .command("show")
    .description("one agent in detail")
    .argument("<agent>", "id or name")
    .action(async (reference: string, _options: unknown, command: Command) => {
      const { service, print } = await context(command);
      const {
        record,
        retired,
        workingDirPath: workingDir,
      } = await service.locate(await findAgent(service, reference, "either"));
      print(
        { agent: agentJson(record), working_dir_path: workingDir, retired },
        () => `${agentDetails(record, workingDir, io.now())}${retired ? "\n(in the Trash)" : ""}`,
      );
    });

  program
    .command("create")
    .description("create an agent and its working directory")
    .addOption(
      new Option("--name <name>", "the agent's name")
        .argParser(once("--name"))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option("--definition <id>", "the agent definition (claude-code, gemini …)")
        .argParser(text("--definition"))
        .makeOptionMandatory(),
    )
    .addOption(new Option("--identity <id>", "identity id").argParser(text("--identity")))
    .addOption(new Option("--memory <id>", "memory id").argParser(text("--memory")))
    .action(
      async (
        options: { name: string; definition: string; identity?: string; memory?: string },
        command: Command,
      ) => {
        const { service, print } = await context(command);
        const created = await service.createAgent({
          name: options.name,
          definitionId: options.definition,
          identityId: options.identity ?? null,
          memoryId: options.memory ?? null,
        });
        print(
          { agent: agentJson(created.record), working_dir_path: created.workingDir },
          () => `created ${describe(created.record)} in ${printable(created.workingDir)}`,
        );
      },
    );

  program
    .command("continue")
    .description("record a launch; print the working directory, or run a command in it")
    .argument("<agent>", "id or name")
    .argument("[command...]", "with --exec: the command to run (after --)")
    .addOption(
      new Option("--session <id>", "the provider CLI's session id to keep for resume").argParser(
        text("--session"),
      ),
    )
    .option("--exec", "run the command after -- in the working directory and exit with its code")
    .action(
      async (
        reference: string,
        commandLine: string[],
        options: { session?: string; exec?: boolean },
        command: Command,
      ) => {
        if (options.exec && (commandLine[0] ?? "") === "") usage("--exec needs a command after --");
        if (!options.exec && commandLine.length > 0)
          usage("unexpected arguments (did you mean --exec -- CMD …?)");
        const { service, print } = await context(command);
        const record = await findAgent(service, reference, "active");
        const continued = await service.continueAgent(record.data.instance_id, {
          sessionId: options.session,
        });
        if (!options.exec) {
          // The bare path is for `cd "$(…)"` and must be exact; only a terminal gets it escaped.
          print(
            { agent: agentJson(continued.record), working_dir_path: continued.workingDir },
            () => (io.stdoutIsTTY ? printable(continued.workingDir) : continued.workingDir),
          );
          return;
        }
        setExit(await runIn(continued.workingDir, commandLine, io));
      },
    );

  program
    .command("forget")
    .description("move an agent to the Trash (restorable)")
    .argument("<agent>", "id or name")
    .action(async (reference: string, _options: unknown, command: Command) => {
      const { service, print } = await context(command);
      const record = await findAgent(service, reference, "active");
      const moved = await service.forgetAgent(record.data.instance_id);
      print(
        { id: record.data.instance_id, moved },
        () =>
          `forgot ${describe(record)}; restore with: agentmux-registry restore ${record.data.instance_id}`,
      );
    });

  program
    .command("restore")
    .description("bring an agent back from the Trash")
    .argument("<agent>", "id or name (as in the Trash)")
    .action(async (reference: string, _options: unknown, command: Command) => {
      const { service, print } = await context(command);
      const record = await findAgent(service, reference, "retired");
      const moved = await service.restoreAgent(record.data.instance_id);
      print({ id: record.data.instance_id, moved }, () => `restored ${describe(record)}`);
    });

  program
    .command("trash")
    .description("the agents in the Trash, newest launch first")
    .action(async (_options: unknown, command: Command) => {
      const { service, print, colors, reportSkipped } = await context(command);
      const agents = await service.listRetired();
      print({ agents: agents.map(agentJson) }, () =>
        agents.length === 0 ? "the Trash is empty" : agentTable(agents, io.now(), colors),
      );
      reportSkipped();
    });

  program
    .command("rename")
    .description("rename an agent")
    .argument("<agent>", "id or name")
    .argument("<new-name>", "the new name")
    .action(async (reference: string, name: string, _options: unknown, command: Command) => {
      const { service, print } = await context(command);
      const record = await findAgent(service, reference, "active");
      const changed = await service.renameAgent(record.data.instance_id, name);
      // The name as stored (the service trims it), not as typed.
      const newName = (await service.getAgent(record.data.instance_id)).record.data.instance_name;
      print({ id: record.data.instance_id, name: newName, changed }, () =>
        changed === 0
          ? `${describe(record)} is already named that`
          : `renamed ${describe(record)} to ${printable(newName)}`,
      );
    });

  program
    .command("delete")
    .description("delete an agent's registry records for good (never its working directory)")
    .argument("<agent>", "id or name (active or in the Trash)")
    .option("--yes", "really delete")
    .action(async (reference: string, options: { yes?: boolean }, command: Command) => {
      if (!options.yes) usage("delete removes records for good: add --yes to confirm");
      const { service, print } = await context(command);
      const record = await findAgent(service, reference, "either");
      const removed = await service.deleteAgent(record.data.instance_id);
      print(
        { id: record.data.instance_id, removed },
        () => `deleted ${describe(record)} (${removed} file(s)); its working directory was kept`,
      );
    });

  program
    .command("migrate")
    .description("import every per-version SQLite database into the registry, once")
    .action(async (_options: unknown, command: Command) => {
      const { service, print, options } = await context(command);
      const progress =
        !options.quiet && !options.json && io.stderrIsTTY ? progressBar(io) : undefined;
      const stats = await service.migrate({ onProgress: progress?.update });
      progress?.done();
      print(stats, () =>
        [
          `databases: ${stats.dbs_scanned} found, ${stats.dbs_skipped} unreadable; rows: ${stats.rows_seen}`,
          `records: ${stats.records_written} written, ${stats.records_skipped_existing} already present, ` +
            `${stats.records_skipped_unmappable} outside the agents bases, ${stats.records_skipped_invalid} invalid`,
          stats.complete
            ? "complete"
            : "incomplete: fix the unreadable databases and run migrate again",
        ].join("\n"),
      );
      if (!stats.complete) setExit(EXIT.tryLater);
    });

  program
    .command("doctor")
    .description(
      "report everything wrong on disk, with fixes; --fix removes stale temp and lock files",
    )
    .option("--fix", "remove stale temp and lock files (nothing else is ever changed)")
    .action(async (options: { fix?: boolean }, command: Command) => {
      const { service, print, colors } = await context(command);
      const report = await service.doctor({ fix: options.fix });
      print(report, () => doctorText(report, colors));
      if (report.problems.length > 0) setExit(EXIT.refused);
    });

  program
    .command("serve")
    .description("run the local service and web page on 127.0.0.1 (Ctrl-C stops it)")
    .addOption(
      new Option(
        "--port <n>",
        `port to listen on; 0 = any free port (default ${DEFAULT_PORT})`,
      ).argParser(count("--port", 65_535)),
    )
    .action(async (options: { port?: number }, command: Command) => {
      const { service, options: globals } = await context(command);
      // Loaded here: the server (fastify) would slow every other command's start-up.
      const { startServer } = await import("../server/serve.js");
      const port = options.port ?? DEFAULT_PORT;
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(service, { port });
      } catch (error) {
        service.close();
        if (errnoOf(error) === "EADDRINUSE") {
          throw new CliError(
            "PORT_IN_USE",
            EXIT.tryLater,
            `port ${port} is already in use (another agentmux-registry serve?): choose another with --port N, or --port 0 for any free port`,
            { port },
          );
        }
        throw error;
      }
      if (globals.json) io.stdout(`${JSON.stringify({ url: server.url, port: server.port })}\n`);
      else
        io.stdout(`agentmux-registry is serving ${printable(service.root)}\nopen ${server.url}\n`);
      await new Promise<void>((resolveStop) => {
        const stop = () => resolveStop();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
      service.close();
    });

  return program;
}

const describe = (record: NamedAgentRecord) =>
  `${printable(record.data.instance_name)} (${record.data.instance_id})`;

function doctorText(
  report: Awaited<ReturnType<RegistryService["doctor"]>>,
  colors: Colors,
): string {
  const lines = [
    `registry ${printable(report.root)}: ${report.active} active, ${report.retired} in the Trash`,
  ];
  for (const file of report.fixed) lines.push(`removed stale ${printable(file)}`);
  if (report.problems.length === 0) lines.push(colors.green("no problems found"));
  for (const problem of report.problems) {
    lines.push(`${colors.yellow("problem")} ${printable(problem.message)}`);
    lines.push(`  fix: ${printable(problem.fix)}`);
  }
  return lines.join("\n");
}

function progressBar(io: CliIo) {
  let last = "";
  return {
    update(progress: MigrateProgress) {
      const width = 24;
      const filled = Math.round((progress.done / Math.max(1, progress.total)) * width);
      const line = `${progress.phase === "read" ? "reading databases" : "writing records  "} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${progress.done}/${progress.total}`;
      if (line !== last) io.stderr(`\r${line}`);
      last = line;
    },
    done() {
      if (last !== "") io.stderr("\n");
    },
  };
}

/**
 * Runs the agent's command in its directory with the terminal's stdio. Ctrl-C reaches the child
 * through the process group, so this process waits for it instead of dying first; a SIGTERM or
 * SIGHUP sent to this process alone is passed on. A command that cannot be found exits 127, as
 * in a shell.
 */
function runIn(cwd: string, commandLine: string[], io: CliIo): Promise<number> {
  const [file, ...args] = commandLine as [string, ...string[]];
  return new Promise((resolvePromise) => {
    const child = spawn(file, args, { cwd, stdio: "inherit" });
    const ignore = () => {};
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    const handlers: [NodeJS.Signals, (signal: NodeJS.Signals) => void][] = [
      ["SIGINT", ignore],
      ["SIGQUIT", ignore],
      ["SIGTERM", forward],
      ["SIGHUP", forward],
    ];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    const done = (code: number) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      resolvePromise(code);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      io.stderr(`error: ${printable(`could not run ${file}: ${error.message}`)}\n`);
      done(error.code === "ENOENT" ? 127 : 126);
    });
    child.on("exit", (code, signal) => done(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return (
    ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[
      signal
    ] ?? 0
  );
}

/**
 * Resolves a command's `<agent>` (SPEC §12) in the tree(s) it works on. A miss says what the
 * reference was taken for: an agent's name in the other tree is `AGENT_NOT_FOUND` saying where it
 * is; a reference that is neither a valid id nor any agent's name is `INVALID_ID` (exit 2); a
 * valid id that matches nothing is `AGENT_NOT_FOUND` (exit 3). Each tree is asked on its own, so an
 * invalid id that is the name of an agent in the second tree is still found.
 */
async function findAgent(
  service: RegistryService,
  reference: string,
  where: "active" | "retired" | "either",
): Promise<NamedAgentRecord> {
  const attempt = async (tree: "active" | "retired") => {
    try {
      return await service.resolveAgent(reference, tree);
    } catch (error) {
      if (error instanceof RegistryError && ["AGENT_NOT_FOUND", "INVALID_ID"].includes(error.code))
        return null;
      throw error;
    }
  };
  for (const tree of where === "either" ? (["active", "retired"] as const) : [where]) {
    const found = await attempt(tree);
    if (found) return found;
  }
  const quoted = JSON.stringify(reference);
  const data = { id: reference };
  if (where !== "either") {
    // Several agents of that name over there still answer "it is over there", not AMBIGUOUS_NAME.
    const elsewhere = await attempt(where === "active" ? "retired" : "active").catch(
      (error: unknown) => {
        if (error instanceof RegistryError && error.code === "AMBIGUOUS_NAME")
          return "several" as const;
        throw error;
      },
    );
    if (elsewhere) {
      const restore =
        elsewhere === "several"
          ? "see them with: agentmux-registry trash, and restore one by its id"
          : `bring it back with: agentmux-registry restore ${elsewhere.data.instance_id}`;
      throw new RegistryError(
        "AGENT_NOT_FOUND",
        where === "active"
          ? `${quoted} is in the Trash, not active (${restore})`
          : `${quoted} is not in the Trash: ${elsewhere === "several" ? "agents of that name are" : "that agent is"} active`,
        { ...data, retired: where === "active" },
      );
    }
  }
  const problem = idProblem(reference);
  if (problem !== null) {
    throw new RegistryError(
      "INVALID_ID",
      `no agent is named ${quoted}, and it is not a valid id either (${problem})`,
      data,
    );
  }
  const scope = { active: "", retired: " in the Trash", either: ", active or in the Trash" }[where];
  throw new RegistryError("AGENT_NOT_FOUND", `no agent has the id or name ${quoted}${scope}`, data);
}

/** A value option that may be given once: a second `--root` is a mistake, not an override. */
function once(flag: string) {
  return (value: string, previous: unknown): string => {
    if (previous !== undefined) usage(`${flag} was given more than once`);
    return value;
  };
}

/** `once`, and not empty: an empty path would silently mean the current directory. */
function text(flag: string) {
  const single = once(flag);
  return (value: string, previous: unknown): string => {
    if (value === "") usage(`${flag} must not be empty`);
    return single(value, previous);
  };
}

/** A non-negative decimal integer up to `max`, given once; the message names the option. */
function count(flag: string, max: number = Number.MAX_SAFE_INTEGER) {
  const single = once(flag);
  return (value: string, previous: unknown): number => {
    single(value, previous);
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n))
      usage(`${flag} must be a non-negative whole number (got ${JSON.stringify(value)})`);
    if (n > max) usage(`${flag} must be at most ${max} (got ${value})`);
    return n;
  };
}

/** An error the CLI raises itself: a code for `--json`, an exit code, a message for people. */
class CliError extends Error {
  constructor(
    readonly code: string,
    readonly exit: number,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

function usage(message: string): never {
  throw new CliError("INVALID_ARGUMENT", EXIT.usage, message);
}

const errnoOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
};

const FIXES: Partial<Record<keyof typeof ERROR_TABLE, string>> = {
  AGENT_NOT_FOUND: "see the agents with: agentmux-registry list (or trash)",
  AMBIGUOUS_NAME: "use the agent's id",
  WORKING_DIR_MISSING: "recreate the directory, or forget the agent",
  WORKING_DIR_ESCAPES: "remove the symlink that leads outside the agents base",
  LOCK_TIMEOUT: "another process holds the record; try again",
  INVALID_FILE: "run: agentmux-registry doctor",
  INVALID_LOCK: "run: agentmux-registry doctor",
  INVALID_NAME: "type a plain name; nothing was written",
  RECORD_TOO_LARGE: "shorten the field named in the message; nothing was written",
};

/**
 * Every failure ends here: one `error:` line on stderr (control and bidi characters escaped) and,
 * with `--json`, one `{ error: { code, message, … } }` value on stdout — unexpected failures
 * included (`IO` for a system error, `UNEXPECTED` for anything else, both exit 1).
 */
function reportError(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof CommanderError) {
    if (["commander.helpDisplayed", "commander.version"].includes(error.code)) return EXIT.ok;
    // No command at all: commander printed the help on stderr; that is a usage error.
    if (error.code === "commander.help") {
      if (error.exitCode === 0) return EXIT.ok;
      if (json) printJsonError(io, "INVALID_ARGUMENT", "a command is required", {});
      return EXIT.usage;
    }
    // Commander has already written its line (outputError).
    if (json) printJsonError(io, "INVALID_ARGUMENT", error.message.replace(/^error: /, ""), {});
    return EXIT.usage;
  }
  let code: string;
  let exit: number;
  let message: string;
  let data: Readonly<Record<string, unknown>> = {};
  let line: string;
  let stack = "";
  if (error instanceof CliError || error instanceof RegistryError) {
    ({ code, message, data } = error);
    // A code this version does not know (a newer library) is still reported, as unexpected.
    const row = (ERROR_TABLE as Record<string, { exit: number } | undefined>)[error.code];
    exit = error instanceof CliError ? error.exit : (row?.exit ?? EXIT.unexpected);
    const fix = error instanceof RegistryError ? FIXES[error.code] : undefined;
    line = `${message}${fix ? ` (${fix})` : ""}`;
  } else {
    const errno = errnoOf(error);
    const text = error instanceof Error ? error.message : String(error);
    code = errno ? "IO" : "UNEXPECTED";
    exit = EXIT.unexpected;
    message = errno ? text : `${error instanceof Error ? error.name : "error"}: ${text}`;
    if (errno) {
      const { syscall, path } = error as { syscall?: unknown; path?: unknown };
      data = {
        errno,
        ...(typeof syscall === "string" ? { op: syscall } : {}),
        ...(typeof path === "string" ? { path } : {}),
      };
    }
    line = `unexpected ${message}`;
    // A bug's stack on request only: by default every error is one line.
    if (io.env.AGENTMUX_REGISTRY_DEBUG && error instanceof Error && error.stack)
      stack = `${printable(error.stack).replaceAll("\\n", "\n")}\n`;
  }
  if (json) printJsonError(io, code, message, data);
  io.stderr(`error: ${printable(line)}\n${stack}`);
  return exit;
}
function printJsonError(
  io: CliIo,
  code: string,
  message: string,
  data: Readonly<Record<string, unknown>>,
): void {
  io.stdout(`${JSON.stringify({ error: { ...data, code, message } }, null, 2)}\n`);
}
