import { defineCommand } from "../command.js";
import { printable } from "../format.js";
import { printAgents, WIDE } from "./list.js";

export const trash = defineCommand({
  name: "trash",
  readOnly: true,
  define: (command) =>
    command.description("the agents in the Trash, newest launch first").option("--wide", WIDE),
  async run(ctx, _args: [], options: { wide?: boolean }) {
    const service = await ctx.service();
    await printAgents(ctx, service, await service.listRetired(), {
      empty: `the Trash of ${printable(service.root)} is empty`,
      wide: options.wide === true,
      tree: "retired",
    });
  },
});
