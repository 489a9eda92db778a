import { findAgent } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel } from "../format.js";

export const restore = defineCommand({
  name: "restore",
  define: (command) =>
    command
      .description("bring an agent back from the Trash")
      .argument("<agent>", "id or name (as in the Trash)"),
  async run(ctx, [reference]: [string], _options: unknown) {
    const service = await ctx.service();
    const record = await findAgent(service, reference, "retired");
    const id = record.data.instance_id;
    const moved = await service.restoreAgent(id);
    ctx.out.result({ id, moved }, () => `restored ${agentLabel(record)}`);
  },
});
