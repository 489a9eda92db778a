import { agentArgument, warnSameName } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel, printable } from "../format.js";

export const rename = defineCommand({
  name: "rename",
  define: (command) =>
    command
      .description("rename an agent")
      .argument("<agent>", "id, name or unique id prefix (4+ characters)")
      .argument("<new-name>", "the new name"),
  async run(ctx, [reference, name]: [string, string], _options: unknown) {
    const { service, record, id } = await agentArgument(ctx, reference, "active");
    const changed = await service.renameAgent(id, name);
    // The name as stored (the service trims it), not as typed.
    const renamed = (await service.getAgent(id)).record;
    const newName = renamed.data.instance_name;
    ctx.out.result(
      { id, name: newName, changed },
      () =>
        changed === 0
          ? `${agentLabel(record)} is already named that`
          : `renamed ${agentLabel(record)} to ${printable(newName)}`,
      { ids: [id] },
    );
    await warnSameName(ctx, service, renamed);
  },
});
