/**
 * What several commands do with agents: resolve a command's `<agent>` (SPEC §12) with the CLI's
 * messages, and print a listing.
 */

import { agentJson } from "../api.js";
import { RegistryError } from "../core/errors.js";
import { idProblem } from "../core/ids.js";
import type { NamedAgentRecord } from "../core/schema.js";
import type { RegistryService } from "../service.js";
import type { CliContext } from "./context.js";
import { agentTable } from "./format.js";

/**
 * A listing (`list`, `trash`): `{ agents }` with `--json`, else a table (or `empty`), then the
 * pointer to `doctor` when the listing skipped files. Agents a live process holds are marked.
 */
export async function printAgents(
  ctx: CliContext,
  service: RegistryService,
  agents: readonly NamedAgentRecord[],
  empty: string,
): Promise<void> {
  const inUse = await service.agentsInUse();
  ctx.out.result(
    { agents: agents.map((record) => agentJson(record, inUse.get(record.data.instance_id))) },
    () => (agents.length === 0 ? empty : agentTable(agents, inUse, ctx.now(), ctx.out.colors)),
  );
  ctx.out.skipped(service.skippedCount);
}

/** A command's `<agent>`, resolved in the tree(s) the command works on, and the opened service. */
export async function agentArgument(
  ctx: CliContext,
  reference: string,
  where: "active" | "retired" | "either",
): Promise<{ service: RegistryService; record: NamedAgentRecord; id: string }> {
  const service = await ctx.service();
  const record = await findAgent(service, reference, where);
  return { service, record, id: record.data.instance_id };
}

/**
 * Resolves `reference` in the tree(s) a command works on. A miss says what the reference was
 * taken for: an agent's name in the other tree is `AGENT_NOT_FOUND` saying where it is; a reference that is
 * neither a valid id nor any agent's name is `INVALID_ID` (exit 2); a valid id that matches
 * nothing is `AGENT_NOT_FOUND` (exit 3). Each tree is asked on its own, so an invalid id that is
 * the name of an agent in the second tree is still found.
 */
async function findAgent(
  service: RegistryService,
  reference: string,
  where: "active" | "retired" | "either",
): Promise<NamedAgentRecord> {
  const attempt = async (tree: "active" | "retired") => {
    try {
      return await service.resolveAgent(reference, tree);
    } catch (error) {
      if (error instanceof RegistryError && ["AGENT_NOT_FOUND", "INVALID_ID"].includes(error.code))
        return null;
      throw error;
    }
  };
  for (const tree of where === "either" ? (["active", "retired"] as const) : [where]) {
    const found = await attempt(tree);
    if (found) return found;
  }
  const quoted = JSON.stringify(reference);
  const data = { id: reference };
  if (where !== "either") {
    // Several agents of that name over there still answer "it is over there", not AMBIGUOUS_NAME.
    const elsewhere = await attempt(where === "active" ? "retired" : "active").catch(
      (error: unknown) => {
        if (error instanceof RegistryError && error.code === "AMBIGUOUS_NAME")
          return "several" as const;
        throw error;
      },
    );
    if (elsewhere) {
      const restore =
        elsewhere === "several"
          ? "see them with: agentmux-registry trash, and restore one by its id"
          : `bring it back with: agentmux-registry restore ${elsewhere.data.instance_id}`;
      throw new RegistryError(
        "AGENT_NOT_FOUND",
        where === "active"
          ? `${quoted} is in the Trash, not active (${restore})`
          : `${quoted} is not in the Trash: ${elsewhere === "several" ? "agents of that name are" : "that agent is"} active`,
        { ...data, retired: where === "active" },
      );
    }
  }
  const problem = idProblem(reference);
  if (problem !== null) {
    throw new RegistryError(
      "INVALID_ID",
      `no agent is named ${quoted}, and it is not a valid id either (${problem})`,
      data,
    );
  }
  const scope = { active: "", retired: " in the Trash", either: ", active or in the Trash" }[where];
  throw new RegistryError("AGENT_NOT_FOUND", `no agent has the id or name ${quoted}${scope}`, data);
}
