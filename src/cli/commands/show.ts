import { agentJson } from "../../api.js";
import { agentArgument } from "../agents.js";
import { defineCommand } from "../command.js";
import { agentDetails } from "../format.js";

export const show = defineCommand({
  name: "show",
  readOnly: true,
  define: (command) =>
    command
      .description("one agent in detail")
      .argument("<agent>", "id, name or unique id prefix (4+ characters)"),
  async run(ctx, [reference]: [string], _options: unknown) {
    const found = await agentArgument(ctx, reference, "either");
    const { record, retired, workingDirPath, inUse } = await found.service.locate(found.record);
    ctx.out.result(
      { agent: agentJson(record, inUse), working_dir_path: workingDirPath, retired },
      () =>
        `${agentDetails(record, workingDirPath, inUse, ctx.now(), ctx.out.colors)}${retired ? "\n(in the Trash)" : ""}`,
      { ids: [record.data.instance_id] },
    );
  },
});
