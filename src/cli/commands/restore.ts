import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel } from "../format.js";

export const restore = defineCommand({
  name: "restore",
  define: (command) =>
    command
      .description("bring an agent back from the Trash")
      .argument("<agent>", "id, name or unique id prefix, as in the Trash"),
  async run(ctx, [reference]: [string], _options: unknown) {
    const { service, record, id } = await agentArgument(ctx, reference, "retired");
    const moved = await service.restoreAgent(id);
    ctx.out.result({ id, moved }, () => `restored ${agentLabel(record)}`, { ids: [id] });
  },
});
