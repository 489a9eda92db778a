import { agentJson } from "../../api.js";
import { warnSameName } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentLabel, printable } from "../format.js";
import { once, text, valueOption } from "../options.js";

export const create = defineCommand({
  name: "create",
  define: (command) =>
    command
      .description("create an agent and its working directory")
      // The name may be empty here: the service refuses it as INVALID_NAME, as any other bad name.
      .addOption(valueOption("--name <name>", "the agent's name", once).makeOptionMandatory())
      .addOption(
        valueOption(
          "--definition <id>",
          "the agent definition (claude-code, gemini …)",
          text,
        ).makeOptionMandatory(),
      )
      .addOption(valueOption("--identity <id>", "identity id", text))
      .addOption(valueOption("--memory <id>", "memory id", text)),
  async run(
    ctx,
    _args: [],
    options: { name: string; definition: string; identity?: string; memory?: string },
  ) {
    const service = await ctx.service();
    const created = await service.createAgent({
      name: options.name,
      definitionId: options.definition,
      identityId: options.identity ?? null,
      memoryId: options.memory ?? null,
    });
    ctx.out.result(
      { agent: agentJson(created.record), working_dir_path: created.workingDir },
      () => `created ${agentLabel(created.record)} in ${printable(created.workingDir)}`,
      { ids: [created.record.data.instance_id] },
    );
    await warnSameName(ctx, service, created.record);
  },
});
