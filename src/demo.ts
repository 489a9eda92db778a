/**
 * `serve --demo`: a registry made up for the occasion, so a newcomer sees the page at work —
 * several definitions, a Trash, something in Diagnostics — without touching their own registry.
 * Everything lives in one private directory under the OS temp dir (`registry/`, its token
 * included, and `agents/`); `close` removes it. One process owns the directory, so nothing here
 * locks beyond what the `Registry` does itself.
 *
 * Records are written through the `Registry`, as a launcher writes them; only the two files no
 * writer of this package would produce (a torn record, one from a newer version) are planted raw.
 */

import { join } from "node:path";
import { makeDirectories } from "./io/files.js";
import { realFs } from "./io/fs.js";
import { randomId } from "./io/random.js";
import { makeScratchDir, plantFile, removeScratchDir } from "./io/scratch-dir.js";
import { Registry } from "./registry.js";
import { RegistryService, slugify } from "./service.js";

/** How the directory's name starts, under the OS temp dir: a crash (SIGKILL) leaves it there. */
const DEMO_PREFIX = "agentmux-registry-demo-";

export interface Demo {
  /** The directory holding the demo registry, its token and its working directories. */
  readonly dir: string;
  /** A live service over the demo registry. */
  readonly service: RegistryService;
  /** Closes the service and removes `dir`; `IO` naming `dir` when the removal fails. */
  close(): void;
}

/** One made-up agent: times are relative to now, so the page's "2 h ago" reads as intended. */
interface DemoAgent {
  name: string;
  definition: string;
  createdDaysAgo: number;
  launchedHoursAgo: number;
  versions: readonly [created: string, lastLaunched: string];
  /** A provider session to resume. */
  session?: true;
  identity?: string;
  memory?: string;
  /** Written by an older AgentMux: no `source_agents_base` (schema 1 or 2). */
  legacy?: true;
  trash?: true;
  /** Its working directory was deleted by hand: `doctor` says so. */
  dirGone?: true;
}

const AGENTS: readonly DemoAgent[] = [
  {
    name: "livelog",
    definition: "claude-code",
    createdDaysAgo: 12,
    launchedHoursAgo: 0.3,
    versions: ["0.33.790", "0.33.821"],
    session: true,
    identity: "agenta",
  },
  {
    name: "billing-api refactor",
    definition: "claude-code",
    createdDaysAgo: 9,
    launchedHoursAgo: 2.5,
    versions: ["0.33.790", "0.33.821"],
    session: true,
  },
  {
    name: "docs site",
    definition: "gemini-cli",
    createdDaysAgo: 20,
    launchedHoursAgo: 5,
    versions: ["0.32.744", "0.33.821"],
    session: true,
  },
  {
    name: "cold start perf",
    definition: "gemini-cli",
    createdDaysAgo: 2,
    launchedHoursAgo: 7,
    versions: ["0.33.821", "0.33.821"],
  },
  {
    name: "flaky test hunt",
    definition: "codex",
    createdDaysAgo: 3,
    launchedHoursAgo: 26,
    versions: ["0.33.821", "0.33.821"],
    session: true,
  },
  {
    name: "terraform upgrade",
    definition: "claude-code",
    createdDaysAgo: 30,
    launchedHoursAgo: 50,
    versions: ["0.32.744", "0.33.790"],
    session: true,
    memory: "infra-notes",
  },
  {
    name: "onboarding flow",
    definition: "gemini-cli",
    createdDaysAgo: 15,
    launchedHoursAgo: 72,
    versions: ["0.31.702", "0.31.702"],
    legacy: true,
  },
  {
    name: "search indexer",
    definition: "codex",
    createdDaysAgo: 40,
    launchedHoursAgo: 140,
    versions: ["0.31.702", "0.32.744"],
    session: true,
    legacy: true,
  },
  {
    name: "release notes",
    definition: "claude-code",
    createdDaysAgo: 7,
    launchedHoursAgo: 100,
    versions: ["0.33.790", "0.33.790"],
  },
  {
    name: "prototype: voice ui",
    definition: "codex",
    createdDaysAgo: 25,
    launchedHoursAgo: 240,
    versions: ["0.32.744", "0.32.744"],
    session: true,
    dirGone: true,
  },
  {
    name: "scratch",
    definition: "claude-code",
    createdDaysAgo: 60,
    launchedHoursAgo: 480,
    versions: ["0.31.702", "0.32.744"],
    trash: true,
  },
  {
    name: "old monorepo",
    definition: "gemini-cli",
    createdDaysAgo: 90,
    launchedHoursAgo: 1080,
    versions: ["0.30.655", "0.31.702"],
    legacy: true,
    trash: true,
  },
  {
    name: "spike: grpc gateway",
    definition: "codex",
    createdDaysAgo: 35,
    launchedHoursAgo: 720,
    versions: ["0.32.744", "0.32.744"],
    session: true,
    trash: true,
  },
];

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Makes and seeds the demo registry, and opens a live service over it. A failure on the way
 * removes the directory again.
 */
export async function openDemo(options: { version: string; now: () => number }): Promise<Demo> {
  const dir = makeScratchDir(DEMO_PREFIX);
  // A crash (an uncaught error) still runs exit listeners: only SIGKILL leaves the directory.
  const removeQuietly = () => {
    try {
      removeScratchDir(dir);
    } catch {
      // Left under the OS temp dir, named by its prefix; the failure reported names a path in it.
    }
  };
  process.once("exit", removeQuietly);
  try {
    const agentsBase = join(dir, "agents");
    const registry = await Registry.open(join(dir, "registry"), { agentsBase });
    await seed(registry, agentsBase, options.now());
    const service = new RegistryService(registry, {
      version: options.version,
      now: options.now,
      live: true,
    });
    return {
      dir,
      service,
      close() {
        process.off("exit", removeQuietly);
        try {
          service.close();
        } finally {
          removeScratchDir(dir);
        }
      },
    };
  } catch (error) {
    process.off("exit", removeQuietly);
    removeQuietly();
    throw error;
  }
}

async function seed(registry: Registry, agentsBase: string, now: number): Promise<void> {
  const trash: string[] = [];
  for (const agent of AGENTS) {
    const id = randomId();
    const workingDir = slugify(agent.name);
    if (!agent.dirGone) makeDirectories(realFs, join(agentsBase, workingDir));
    await registry.upsert({
      data: {
        instance_id: id,
        instance_name: agent.name,
        definition_id: agent.definition,
        identity_id: agent.identity ?? null,
        memory_id: agent.memory ?? null,
        session_id: agent.session ? randomId() : null,
        working_dir: workingDir,
        source_agents_base: agent.legacy ? null : agentsBase,
        created_at_ms: Math.round(now - agent.createdDaysAgo * DAY_MS),
        last_launched_at_ms: Math.round(now - agent.launchedHoursAgo * HOUR_MS),
        created_by_version: agent.versions[0],
        last_launched_by_version: agent.versions[1],
      },
    });
    if (agent.trash) trash.push(id);
  }
  for (const id of trash) await registry.retire(id);
  plantUnreadable(registry.root, agentsBase, now);
}

/**
 * The two files Diagnostics lists: a record cut short (what a writer without atomic renames
 * leaves when it crashes) and one from a newer version, which this version skips and keeps.
 */
function plantUnreadable(root: string, agentsBase: string, now: number): void {
  const torn = randomId();
  plantFile(
    join(root, `${torn}.json`),
    `{\n  "schema_version": 2,\n  "data": {\n    "instance_id": "${torn}",\n    "instance_name": "half-written",\n    "definition_id": "claude-code",\n    "identity_id": nu`,
  );
  const newer = randomId();
  makeDirectories(realFs, join(agentsBase, "design-review"));
  const record = {
    schema_version: 4,
    data: {
      instance_id: newer,
      instance_name: "design review",
      definition_id: "claude-code",
      identity_id: null,
      memory_id: null,
      session_id: randomId(),
      working_dir: "design-review",
      source_agents_base: agentsBase,
      created_at_ms: Math.round(now - DAY_MS),
      last_launched_at_ms: Math.round(now - 4 * HOUR_MS),
      created_by_version: "0.40.2",
      last_launched_by_version: "0.40.2",
      sandbox_profile: "workspace-write",
    },
  };
  plantFile(join(root, `${newer}.json`), `${JSON.stringify(record, null, 2)}\n`);
}
