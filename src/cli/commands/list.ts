import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../../service.js";
import { printAgents } from "../agents.js";
import { defineCommand } from "../command.js";
import { usage } from "../errors.js";
import { text, valueOption, wholeNumber } from "../options.js";

export const list = defineCommand({
  name: "list",
  readOnly: true,
  define: (command) =>
    command
      .description("the Continue dropdown: active agents, newest launch first")
      .addOption(valueOption("--definition <id>", "only agents of this definition", text))
      .addOption(
        valueOption(
          "--limit <n>",
          `at most this many (default ${DEFAULT_LIST_LIMIT}, max ${MAX_LIST_LIMIT})`,
          wholeNumber,
        ),
      )
      .option("--all", "no limit"),
  async run(ctx, _args: [], options: { definition?: string; limit?: number; all?: boolean }) {
    if (options.all && options.limit !== undefined)
      usage("--all and --limit cannot be used together");
    const service = await ctx.service();
    const agents = await service.listNamedAgents({
      definitionId: options.definition,
      limit: options.limit,
      all: options.all,
    });
    await printAgents(ctx, service, agents, "no agents");
  },
});
