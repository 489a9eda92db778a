/**
 * What several commands do with agents: resolve a command's `<agent>` (SPEC §12) with the CLI's
 * messages.
 */

import { ERROR_TABLE, isRegistryError } from "../core/errors.js";
import type { NamedAgentRecord } from "../core/schema.js";
import { relativeTime } from "../present.js";
import type { RegistryService } from "../service.js";
import type { CliContext } from "./context.js";
import { CliError } from "./errors.js";
import { printable } from "./format.js";

/**
 * A command's `<agent>` — an id, an exact name or a unique id prefix (SPEC §12; the precedence is
 * `RegistryService.findAgent`'s) — resolved in the tree(s) the command works on, and the opened
 * service. An agent found only in the other tree is `AGENT_NOT_FOUND` saying where it is and what
 * to run next: `forget` of an agent already in the Trash says so (`intent: "forget"`).
 */
export async function agentArgument(
  ctx: CliContext,
  reference: string,
  where: "active" | "retired" | "either",
  intent: "use" | "forget" = "use",
): Promise<{ service: RegistryService; record: NamedAgentRecord; id: string }> {
  const service = await ctx.service();
  const record = await findAgent(ctx, service, reference, where, intent);
  return { service, record, id: record.data.instance_id };
}

/** One agent an ambiguous reference matched (`data.candidates`, see `RegistryService.findAgent`). */
interface Candidate {
  id: string;
  name: string;
  definition_id: string;
  working_dir: string;
  last_launched_at_ms: number;
  retired: boolean;
}

async function findAgent(
  ctx: CliContext,
  service: RegistryService,
  reference: string,
  where: "active" | "retired" | "either",
  intent: "use" | "forget",
): Promise<NamedAgentRecord> {
  let match: Awaited<ReturnType<RegistryService["findAgent"]>>;
  try {
    match = await service.findAgent(reference, where === "retired" ? "retired" : "active");
  } catch (error) {
    if (!isRegistryError(error, "AMBIGUOUS_NAME") && !isRegistryError(error, "AMBIGUOUS_ID"))
      throw error;
    const candidates = error.data.candidates as Candidate[];
    printCandidates(ctx, candidates, error.code === "AMBIGUOUS_ID");
    // Several of that name, all in the other tree: none is where the command looks.
    if (
      where !== "either" &&
      error.code === "AMBIGUOUS_NAME" &&
      candidates.every((candidate) => candidate.retired !== (where === "retired"))
    ) {
      const several = `${candidates.length} agents named ${JSON.stringify(reference)}`;
      throw notHere(
        where === "active"
          ? `${several} are ${intent === "forget" ? "already " : ""}in the Trash and none is active; ${
              intent === "forget"
                ? "nothing to forget"
                : "restore one first: agentmux-registry restore <id>"
            }`
          : `${several} are active and none is in the Trash; nothing to restore`,
        { id: reference, retired: where === "active", candidates },
      );
    }
    throw error;
  }
  const { record, tree } = match;
  if (where === "either" || tree === where) return record;
  const name = JSON.stringify(record.data.instance_name);
  const id = record.data.instance_id;
  const restore = `agentmux-registry restore ${id}`;
  throw notHere(
    where === "retired"
      ? `${name} is not in the Trash: that agent is active; nothing to restore`
      : intent === "forget"
        ? `${name} is already in the Trash; to bring it back: ${restore}`
        : `${name} is in the Trash; restore it first: ${restore}`,
    { id: reference, instance_id: id, retired: tree === "retired" },
  );
}

/** `AGENT_NOT_FOUND` whose message already says what to run next (no generic hint after it). */
function notHere(message: string, data: Record<string, unknown>): CliError {
  return new CliError("AGENT_NOT_FOUND", ERROR_TABLE.AGENT_NOT_FOUND.exit, message, data);
}

/**
 * The agents an ambiguous reference matched, one aligned line each on stderr before the error (as
 * git lists the candidates of an ambiguous short id): enough to tell them apart. `--json` has
 * them in the error's `candidates`; `--quiet` leaves the error line alone.
 */
function printCandidates(
  ctx: CliContext,
  candidates: readonly Candidate[],
  showNames: boolean,
): void {
  if (ctx.out.mode.json) return;
  const now = ctx.now();
  const rows = candidates.map((candidate) => [
    candidate.id,
    ...(showNames ? [printable(JSON.stringify(candidate.name))] : []),
    printable(candidate.definition_id),
    printable(candidate.working_dir),
    `launched ${relativeTime(candidate.last_launched_at_ms, now)}`,
    candidate.retired ? "in the Trash" : "",
  ]);
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  for (const row of rows)
    ctx.out.warn(
      `  ${row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd()}`,
    );
}

/**
 * After `create` or `rename`: a warning, not a refusal, when other active agents carry the same
 * name — the name alone no longer finds one agent, so the warning gives the id to use.
 */
export async function warnSameName(
  ctx: CliContext,
  service: RegistryService,
  record: NamedAgentRecord,
): Promise<void> {
  const { instance_id: id, instance_name: name } = record.data;
  const others = (await service.agentsNamed(name)).filter((other) => other.data.instance_id !== id);
  if (others.length === 0) return;
  const ids = others.slice(0, 3).map((other) => other.data.instance_id);
  if (others.length > ids.length) ids.push(`${others.length - ids.length} more`);
  const who = others.length === 1 ? "another agent is" : `${others.length} other agents are`;
  ctx.out.warn(
    `warning: ${who} also named ${printable(JSON.stringify(name))} (${ids.join(", ")}); to refer to this one, use its id: ${id}`,
  );
}
