import { findAgent } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel } from "../format.js";

export const forget = defineCommand({
  name: "forget",
  define: (command) =>
    command
      .description("move an agent to the Trash (restorable)")
      .argument("<agent>", "id or name"),
  async run(ctx, [reference]: [string], _options: unknown) {
    const service = await ctx.service();
    const record = await findAgent(service, reference, "active");
    const id = record.data.instance_id;
    const moved = await service.forgetAgent(id);
    ctx.out.result(
      { id, moved },
      () => `forgot ${agentLabel(record)}; restore with: agentmux-registry restore ${id}`,
    );
  },
});
