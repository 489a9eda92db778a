import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { usage } from "../errors.js";
import { agentLabel } from "../format.js";

export const deleteCommand = defineCommand({
  name: "delete",
  define: (command) =>
    command
      .description("delete an agent's registry records for good (never its working directory)")
      .argument("<agent>", "id or name (active or in the Trash)")
      .option("--yes", "really delete"),
  async run(ctx, [reference]: [string], options: { yes?: boolean }) {
    if (!options.yes) usage("delete removes records for good: add --yes to confirm");
    const { service, record, id } = await agentArgument(ctx, reference, "either");
    const removed = await service.deleteAgent(id);
    ctx.out.result(
      { id, removed },
      () => `deleted ${agentLabel(record)} (${removed} file(s)); its working directory was kept`,
    );
  },
});
