import { agentJson } from "../../api.js";
import type { NamedAgentRecord } from "../../core/schema.js";
import {
  type AgentTree,
  DEFAULT_LIST_LIMIT,
  MAX_LIST_LIMIT,
  type RegistryService,
} from "../../service.js";
import { defineCommand } from "../command.js";
import type { CliContext } from "../context.js";
import { usage } from "../errors.js";
import { fullIds, type IdText, printable, shortIds } from "../format.js";
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
      .option("--all", "no limit")
      .option("--wide", WIDE),
  async run(
    ctx,
    _args: [],
    options: { definition?: string; limit?: number; all?: boolean; wide?: boolean },
  ) {
    if (options.all && options.limit !== undefined)
      usage("--all and --limit cannot be used together");
    const service = await ctx.service();
    const agents = await service.listNamedAgents({
      definitionId: options.definition,
      limit: options.limit,
      all: options.all,
    });
    await printAgents(ctx, service, agents, {
      // Which registry was read: a mistyped --root lists nothing, and says where it looked.
      empty: `no ${options.definition === undefined ? "" : `${printable(options.definition)} `}agents in ${printable(service.root)}`,
      wide: options.wide === true,
      tree: options.all && options.definition === undefined ? "active" : undefined,
    });
  },
});

/** The `--wide` of every table. */
export const WIDE = "show every column in full, ids too, however wide the lines get";

/**
 * A listing (`list`, `trash`): `{ agents }` with `--json`, their ids with `--quiet`, else a table
 * (or `empty`); then the pointer to `doctor` when the listing skipped files. Agents a live
 * process holds are marked.
 */
export async function printAgents(
  ctx: CliContext,
  service: RegistryService,
  agents: readonly NamedAgentRecord[],
  options: {
    empty: string;
    wide: boolean;
    /** The tree `agents` are the whole of, if they are: it need not be listed again. */
    tree?: AgentTree | undefined;
  },
): Promise<void> {
  // Counted now: listing the trees for the short ids below would count another listing.
  const skipped = service.skippedCount;
  const inUse = await service.agentsInUse();
  const whole = options.tree && { tree: options.tree, agents };
  const ids = ctx.out.forPeople && !options.wide ? await idText(service, whole) : fullIds;
  const tables = ctx.out.forPeople && agents.length > 0 ? await import("../table.js") : undefined;
  ctx.out.result(
    { agents: agents.map((record) => agentJson(record, inUse.get(record.data.instance_id))) },
    () =>
      tables === undefined
        ? options.empty
        : tables.agentTable(agents, inUse, ctx.now(), {
            width: options.wide ? Number.POSITIVE_INFINITY : ctx.out.width,
            ids,
            colors: ctx.out.colors,
          }),
    { ids: agents.map((record) => record.data.instance_id) },
  );
  ctx.out.skipped(skipped);
}

/**
 * Short ids unique among both trees' ids and names (and `more` ids), so that each one, typed
 * back as an `<agent>` of any command, finds its agent. `whole`, a tree already listed in full,
 * is not listed again (a second listing re-checks every file: 36,000 `lstat`s).
 */
export async function idText(
  service: RegistryService,
  whole?: { tree: AgentTree; agents: readonly NamedAgentRecord[] },
  more: readonly string[] = [],
): Promise<IdText> {
  const [active, retired] = await Promise.all([
    whole?.tree === "active" ? whole.agents : service.listNamedAgents({ all: true }),
    whole?.tree === "retired" ? whole.agents : service.listRetired(),
  ]);
  const ids = [...more];
  const names = new Set<string>();
  for (const tree of [active, retired]) {
    for (const { data } of tree) {
      ids.push(data.instance_id);
      names.add(data.instance_name);
    }
  }
  return shortIds(ids, names);
}
