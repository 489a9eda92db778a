import { spawn } from "node:child_process";
import { agentJson } from "../../api.js";
import type { RegistryService } from "../../service.js";
import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { usage } from "../errors.js";
import { text, valueOption } from "../options.js";
import type { Output } from "../output.js";

export const continueCommand = defineCommand({
  name: "continue",
  define: (command) =>
    command
      .description("record a launch; print the working directory, or run a command in it")
      .argument("<agent>", "id, name or unique id prefix (4+ characters)")
      .argument("[command...]", "with --exec: the command to run (after --)")
      .addOption(
        valueOption("--session <id>", "the provider CLI's session id to keep for resume", text),
      )
      .option("--exec", "run the command after -- in the working directory and exit with its code"),
  async run(
    ctx,
    [reference, commandLine]: [string, string[]],
    options: { session?: string; exec?: boolean },
  ) {
    if (options.exec && (commandLine[0] ?? "") === "") usage("--exec needs a command after --");
    if (!options.exec && commandLine.length > 0)
      usage("unexpected arguments (did you mean --exec -- CMD …?)");
    const { service, id } = await agentArgument(ctx, reference, "active");
    if (options.exec) return runHeld(service, id, options.session, commandLine, ctx.out);
    // Launches nothing itself: refused (AGENT_IN_USE) while another process runs the agent.
    const continued = await service.continueAgent(id, { sessionId: options.session });
    // The bare path is for `cd "$(…)"` and must be exact; only a terminal gets it escaped.
    ctx.out.result(
      { agent: agentJson(continued.record), working_dir_path: continued.workingDir },
      () => ctx.out.exactUnlessTerminal(continued.workingDir),
    );
  },
});

/**
 * The one live instance (SPEC §15): claims the agent's lease before the launch is recorded and the
 * command spawned, renews it while the command runs, and releases it on every way out — the
 * command's exit, a failure to start it, an error before it. A lost lease (this process was
 * stopped past the TTL and another took the agent over) is reported, not acted on: the command
 * may hold unsaved work, and stopping it is the user's call.
 */
async function runHeld(
  service: RegistryService,
  id: string,
  sessionId: string | undefined,
  commandLine: string[],
  out: Output,
): Promise<number> {
  const lease = await service.claimAgent(id, { blockId: CLI_BLOCK, sessionId: sessionId ?? null });
  const keeper = service.leases.keep(lease, (error) =>
    out.errorLine(`warning: ${error.message}; another process now runs this agent`),
  );
  try {
    const continued = await service.continueAgent(id, { sessionId, lease });
    return await runIn(continued.workingDir, commandLine, out);
  } finally {
    keeper.stop();
    try {
      await service.releaseAgent(lease);
    } catch (error) {
      // The command's exit code matters more; a lease left behind expires or is taken over once
      // this process is gone (its pid is then provably dead).
      out.errorLine(`warning: could not release the lease: ${(error as Error).message}`);
    }
  }
}

/** The block a CLI run claims as: one run per process, so the boot id tells runs apart. */
const CLI_BLOCK = "cli";

/**
 * Runs the agent's command in its directory with the terminal's stdio. Ctrl-C reaches the child
 * through the process group, so this process waits for it instead of dying first; a SIGTERM or
 * SIGHUP sent to this process alone is passed on. A command that cannot be found exits 127, as
 * in a shell.
 */
function runIn(cwd: string, commandLine: string[], out: Output): Promise<number> {
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
      out.errorLine(`could not run ${file}: ${error.message}`);
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
