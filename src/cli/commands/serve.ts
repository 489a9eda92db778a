import { DEFAULT_PORT } from "../../server/port.js";
import type { RegistryService } from "../../service.js";
import { defineCommand } from "../command.js";
import { type CliContext, PACKAGE_VERSION } from "../context.js";
import { CliError, EXIT, errnoOf, usage } from "../errors.js";
import { printable } from "../format.js";
import { valueOption, wholeNumber } from "../options.js";

/** The global options that choose a registry; `--demo` makes its own. */
const LOCATION_OPTIONS = { root: "--root", home: "--home", agentsBase: "--agents-base" } as const;

export const serve = defineCommand({
  name: "serve",
  // Every request and the event streams read the live index (docs/FORMAT.md, "Freshness").
  live: true,
  define: (command) =>
    command
      .description("run the local service and web page on 127.0.0.1 (Ctrl-C stops it)")
      .addOption(
        valueOption(
          "--port <n>",
          `port to listen on; 0 = any free port (default ${DEFAULT_PORT})`,
          (flag) => wholeNumber(flag, { max: 65_535 }),
        ),
      )
      .option("--demo", "serve made-up agents (a temp registry, removed on exit)")
      // Global options are only seen whole here: `run` gets the command's own.
      .hook("preAction", (self) => {
        if (self.opts().demo !== true) return;
        const globals = self.optsWithGlobals<Record<string, unknown>>();
        for (const [key, flag] of Object.entries(LOCATION_OPTIONS)) {
          if (globals[key] !== undefined)
            usage(`--demo serves a temporary registry of its own: it cannot be used with ${flag}`);
        }
      }),
  async run(ctx, _args: [], options: { port?: number; demo?: boolean }) {
    const port = options.port ?? DEFAULT_PORT;
    const signals = stopSignals();
    try {
      if (!options.demo) {
        const service = await ctx.service();
        try {
          await serveUntil(ctx, service, port, signals.stopped, {}, printable(service.root));
        } finally {
          service.close();
        }
        return;
      }
      // Loaded here: only a demo needs the made-up agents.
      const { openDemo } = await import("../../demo.js");
      const demo = await openDemo({ version: PACKAGE_VERSION, now: ctx.now });
      try {
        await serveUntil(
          ctx,
          demo.service,
          port,
          signals.stopped,
          { demo_dir: demo.dir },
          `a demo registry, removed when this stops: ${printable(demo.dir)}`,
        );
      } finally {
        // A failure names the directory left behind.
        demo.close();
      }
      ctx.out.warn(`removed the demo registry ${printable(demo.dir)}`);
    } finally {
      signals.dispose();
    }
  },
});

/**
 * Serves `service` until `stopped`: the address goes out once listening (one line with `--json`,
 * with `extra` beside it), and the server is closed before this returns.
 */
async function serveUntil(
  ctx: CliContext,
  service: RegistryService,
  port: number,
  stopped: Promise<void>,
  extra: Record<string, string>,
  serving: string,
): Promise<void> {
  // Loaded here: the server (fastify) would slow every other command's start-up.
  const { startServer } = await import("../../server/serve.js");
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(service, { port });
  } catch (error) {
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
  // One line with --json: a reader takes the address from the first line while this runs on.
  ctx.out.result(
    { url: server.url, port: server.port, ...extra },
    () => `agentmux-registry is serving ${serving}\nopen ${server.url}`,
    { oneLine: true },
  );
  await stopped;
  await server.close();
}

/**
 * Resolves on the first SIGINT, SIGTERM or SIGHUP (a closed terminal). Listening starts before
 * anything is opened, so a signal at any moment ends the run through its cleanup, and stays on
 * until `dispose`: a second Ctrl-C does not cut the cleanup short (a demo's directory removal).
 */
function stopSignals(): { stopped: Promise<void>; dispose(): void } {
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = () => resolve();
  });
  for (const signal of signals) process.on(signal, stop);
  return {
    stopped,
    dispose: () => {
      for (const signal of signals) process.off(signal, stop);
    },
  };
}
