/**
 * The human table of `list --all` against its `--json`, over a registry of `records` agents with
 * realistic names (long ones, CJK ones) and random-looking ids. Two comparisons:
 *
 * - **render**, in this process, on the listing already in memory: what the two outputs cost
 *   beyond the listing they share — `JSON.stringify` of the agents as `--json` prints them,
 *   against the short ids and the table fitted to 120 columns (and `--wide`). This is the figure
 *   the table is held to (at most 2x the JSON): in a fresh process the listing and the start-up,
 *   the same for both, would hide what the table costs.
 * - **fresh process**: `list --all` and `list --all --json` as a person runs them (through tsx,
 *   from src), stdout into a pipe: the whole wait, start-up and listing included.
 */

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createColors } from "picocolors";
import { agentJson } from "../src/api.js";
import { idText } from "../src/cli/commands/list.js";
import { fullIds } from "../src/cli/format.js";
import { agentTable } from "../src/cli/table.js";
import type { NamedAgentRecord } from "../src/index.js";
import { RegistryService } from "../src/index.js";
import { RACY_MS } from "../src/io/tree-reader.js";
import { alternate, type Comparison, canonicalText } from "./harness.js";

export interface TableOptions {
  /** A scratch directory (`home/` is made in it). */
  dir: string;
  records: number;
  rounds: number;
}

const REPO = join(import.meta.dirname, "..");
const COLUMNS = 120;
const NO_COLOUR = createColors(false);

export async function benchTable(options: TableOptions): Promise<Comparison[]> {
  const home = join(options.dir, "home");
  const root = join(home, "shared", "agents", "registry");
  mkdirSync(root, { recursive: true, mode: 0o700 });
  for (let i = 0; i < options.records; i++) {
    const record = tableRecord(i);
    writeFileSync(join(root, `${record.data.instance_id}.json`), canonicalText(record), {
      mode: 0o600,
    });
  }
  // Let the files settle past the listing cache's racy window, as a real registry's have.
  await new Promise((resolve) => setTimeout(resolve, RACY_MS + 200));

  const service = await RegistryService.open({
    root,
    agentsBase: join(home, "agents"),
    version: "bench",
    sweepOnOpen: false,
  });
  const agents = await service.listNamedAgents({ all: true });
  if (agents.length !== options.records)
    throw new Error(`listed ${agents.length} of ${options.records} agents`);
  const inUse = await service.agentsInUse();
  const now = Date.now();
  let written = 0;
  const render = await alternate(options.rounds, [
    {
      label: "--json text",
      run: () => {
        const json = { agents: agents.map((r) => agentJson(r, inUse.get(r.data.instance_id))) };
        written = JSON.stringify(json, null, 2).length;
      },
    },
    {
      label: `table, ${COLUMNS} columns`,
      run: async () => {
        // As `list --all` does: the active tree is the listing itself; the Trash is listed.
        const ids = await idText(service, { tree: "active", agents });
        written = agentTable(agents, inUse, now, { width: COLUMNS, ids, colors: NO_COLOUR }).length;
      },
    },
    {
      label: "table --wide",
      run: () => {
        const layout = { width: Number.POSITIVE_INFINITY, ids: fullIds, colors: NO_COLOUR };
        written = agentTable(agents, inUse, now, layout).length;
      },
    },
  ]);
  service.close();
  if (written === 0) throw new Error("nothing was rendered");

  const cli = (args: string[]) => () => {
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", join(REPO, "src", "cli", "main.ts"), ...args],
      {
        cwd: REPO,
        env: { ...process.env, AGENTMUX_HOME_OVERRIDE: home, COLUMNS: String(COLUMNS) },
        encoding: "utf8",
        maxBuffer: 1 << 30,
      },
    );
    // A correctness check: a run that failed or listed nothing measures nothing.
    if (child.status !== 0 || child.stdout.split("\n").length < options.records)
      throw new Error(`list ${args.join(" ")} failed: ${child.stderr}`);
  };
  const fresh = await alternate(options.rounds, [
    { label: "list --all --json", run: cli(["list", "--all", "--json"]) },
    { label: "list --all", run: cli(["list", "--all"]) },
  ]);
  const [json, ...tables] = render;
  const [freshJson, ...freshTables] = fresh;
  return [
    { title: "table: render", items: options.records, baseline: json, cases: tables },
    {
      title: "table: fresh process",
      items: options.records,
      baseline: freshJson,
      cases: freshTables,
    },
  ];
}

const NAMES = [
  (i: number) => `agent-${i}`,
  (i: number) => `refactor the billing service's retry logic, take ${i}`,
  (i: number) => `docs-${i}`,
  (i: number) => `夜間ビルドの調査エージェント ${i}`,
  (i: number) => `release ${i} — changelog and tag`,
];
const DEFINITIONS = ["claude-code", "codex", "gemini-cli", "aider"];

/** Agent `i`: a uuid-like id from a hash (short ids of 8 characters, now and then 9). */
function tableRecord(i: number): NamedAgentRecord {
  const hex = createHash("sha256").update(String(i)).digest("hex");
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  const name = (NAMES[i % NAMES.length] as (i: number) => string)(i);
  const created = 1_747_049_400_000 + i * 60_000;
  return {
    schema_version: 1,
    data: {
      instance_id: id,
      instance_name: name,
      definition_id: DEFINITIONS[i % DEFINITIONS.length] as string,
      identity_id: i % 3 === 0 ? `identity-${i % 17}` : null,
      memory_id: i % 5 === 0 ? `memory-${i % 11}` : null,
      session_id: null,
      working_dir: `projects/team-${i % 40}/agent-${i}-${hex.slice(0, 6)}`,
      source_agents_base: null,
      created_at_ms: created,
      last_launched_at_ms: created + (i % 97) * 3_600_000,
      created_by_version: "0.33.821",
      last_launched_by_version: "0.33.821",
    },
  };
}
