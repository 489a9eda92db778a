import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { CliError, EXIT, usage } from "../errors.js";
import { agentLabel, plural } from "../format.js";

export const deleteCommand = defineCommand({
  name: "delete",
  define: (command) =>
    command
      .description("delete an agent's registry records for good (never its working directory)")
      .argument("<agent>", "id, name or unique id prefix (4+ characters), active or in the Trash")
      .option("-y, --yes", "delete without asking (required when not on a terminal)"),
  async run(ctx, [reference]: [string], options: { yes?: boolean }) {
    // A script cannot answer: without --yes it is refused before anything is opened.
    if (!options.yes && !ctx.out.canAsk)
      usage("delete removes records for good: add --yes to confirm");
    const { service, record, id } = await agentArgument(ctx, reference, "either");
    if (
      !options.yes &&
      !(await ctx.out.confirm(
        `delete ${agentLabel(record)} for good? (its working directory is kept)`,
      ))
    )
      throw new CliError("CANCELLED", EXIT.usage, "delete cancelled: nothing was deleted");
    const removed = await service.deleteAgent(id);
    ctx.out.result(
      { id, removed },
      () =>
        `deleted ${agentLabel(record)} (${plural(removed, "file")}); its working directory was kept`,
      { ids: [id] },
    );
  },
});
