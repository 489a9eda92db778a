/**
 * Where things live by default (SPEC §1). Every command and the service can override each path.
 */

import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

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

/** The paths a command works on, each absolute. */
export interface ChosenPaths {
  root: string;
  home: string;
  agentsBase: string;
}

/**
 * The paths given (`--root`, `--home`, `--agents-base`), the others from the defaults. `home`
 * moves every default with it, as `$AGENTMUX_HOME_OVERRIDE` does. An agents base that is not
 * given — neither directly nor by `$AGENTMUX_AGENTS_DIR` — follows an explicit root: it is the
 * root's parent directory (AgentMux's rule), and the SPEC §1 default only beside the default root.
 *
 * @param given - the paths given explicitly
 * @param env - the environment to read (default `process.env`)
 * @param userHome - the user's home directory (default `os.homedir()`)
 */
export function choosePaths(
  given: { root?: string; home?: string; agentsBase?: string },
  env: Readonly<Record<string, string | undefined>> = process.env,
  userHome: string = homedir(),
): ChosenPaths {
  const defaults = defaultPaths(
    given.home ? { ...env, AGENTMUX_HOME_OVERRIDE: given.home } : env,
    userHome,
  );
  const root = resolve(given.root ?? defaults.root);
  const agentsBase =
    given.agentsBase ??
    (given.root !== undefined && !env.AGENTMUX_AGENTS_DIR ? dirname(root) : defaults.agentsBase);
  return { root, home: resolve(defaults.home), agentsBase: resolve(agentsBase) };
}
