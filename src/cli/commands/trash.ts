import { printAgents } from "../agents.js";
import { defineCommand } from "../command.js";

export const trash = defineCommand({
  name: "trash",
  readOnly: true,
  define: (command) => command.description("the agents in the Trash, newest launch first"),
  async run(ctx, _args: [], _options: unknown) {
    const service = await ctx.service();
    await printAgents(ctx, service, await service.listRetired(), "the Trash is empty");
  },
});
