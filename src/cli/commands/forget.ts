import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel } from "../format.js";

export const forget = defineCommand({
  name: "forget",
  define: (command) =>
    command
      .description("move an agent to the Trash (restorable)")
      .argument("<agent>", "id, name or unique id prefix (4+ characters)"),
  async run(ctx, [reference]: [string], _options: unknown) {
    const { service, record, id } = await agentArgument(ctx, reference, "active", "forget");
    const moved = await service.forgetAgent(id);
    ctx.out.result(
      { id, moved },
      () => `forgot ${agentLabel(record)}; restore with: agentmux-registry restore ${id}`,
      { ids: [id] },
    );
  },
});
