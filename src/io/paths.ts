/**
 * Where things live by default (SPEC §1). Every command and the service can override each path.
 */

import { homedir } from "node:os";
import { join } from "node:path";

/** The default locations (docs/FORMAT.md, "Tree"). */
export interface DefaultPaths {
  /** `$AGENTMUX_HOME_OVERRIDE` or `~/.agentmux`: where the per-version installs live. */
  home: string;
  /** The shared directory all versions use. */
  shared: string;
  /** The registry root: `<shared>/agents/registry`. */
  root: string;
  /** Where agents' working directories live. */
  agentsBase: string;
}

/**
 * The default locations from the environment (SPEC §1): home = `$AGENTMUX_HOME_OVERRIDE` or
 * `~/.agentmux`; shared = `<override>/shared`, else `$AGENTMUX_SHARED_DIR`, else
 * `~/.agentmux/shared`; root = `<shared>/agents/registry`; agents base = `$AGENTMUX_AGENTS_DIR`
 * or `<home>/agents`.
 *
 * @param env - the environment to read (default `process.env`)
 * @param userHome - the user's home directory (default `os.homedir()`)
 */
export function defaultPaths(
  env: Readonly<Record<string, string | undefined>> = process.env,
  userHome: string = homedir(),
): DefaultPaths {
  const override = env.AGENTMUX_HOME_OVERRIDE || undefined;
  const home = override ?? join(userHome, ".agentmux");
  const shared = override
    ? join(override, "shared")
    : env.AGENTMUX_SHARED_DIR || join(userHome, ".agentmux", "shared");
  return {
    home,
    shared,
    root: join(shared, "agents", "registry"),
    agentsBase: env.AGENTMUX_AGENTS_DIR || join(home, "agents"),
  };
}
