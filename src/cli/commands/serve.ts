import { DEFAULT_PORT } from "../../server/port.js";
import { defineCommand } from "../command.js";
import { CliError, EXIT, errnoOf } from "../errors.js";
import { printable } from "../format.js";
import { valueOption, wholeNumber } from "../options.js";

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
      ),
  async run(ctx, _args: [], options: { port?: number }) {
    const service = await ctx.service();
    // Loaded here: the server (fastify) would slow every other command's start-up.
    const { startServer } = await import("../../server/serve.js");
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
    // Listening before the line is out: a reader may stop this as soon as it has the address.
    const stopped = new Promise<void>((resolveStop) => {
      const stop = () => resolveStop();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    // One line with --json: a reader takes the address from the first line while this runs on.
    ctx.out.result(
      { url: server.url, port: server.port },
      () => `agentmux-registry is serving ${printable(service.root)}\nopen ${server.url}`,
      { oneLine: true },
    );
    await stopped;
    await server.close();
    service.close();
  },
});
