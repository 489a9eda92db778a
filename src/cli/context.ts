/**
 * What every command is handed, built once per run: the resolved paths, the output, the clock,
 * and the service — opened on first use, so that a usage error found by the command itself
 * touches no registry.
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defaultPaths } from "../io/paths.js";
import { RegistryService } from "../service.js";
import type { CliIo, Output } from "./output.js";

export const PACKAGE_VERSION: string = JSON.parse(
  readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
).version;

/** The global options, as the option parsers left them (paths already absolute). */
export interface GlobalOptions {
  root?: string;
  home?: string;
  agentsBase?: string;
  json?: boolean;
  quiet?: boolean;
}

export interface CliContext {
  readonly out: Output;
  readonly now: () => number;
  readonly paths: { root: string; home: string; agentsBase: string };
  /** The service over `paths`; the registry is opened (and created if missing) on the first call. */
  service(): Promise<RegistryService>;
}

export function createContext(
  io: CliIo,
  out: Output,
  options: GlobalOptions,
  open: { sweepOnOpen: boolean; live: boolean },
): CliContext {
  // --home moves every default with it, as AGENTMUX_HOME_OVERRIDE does.
  const env = options.home ? { ...io.env, AGENTMUX_HOME_OVERRIDE: options.home } : io.env;
  const defaults = defaultPaths(env);
  const paths = {
    root: resolve(options.root ?? defaults.root),
    home: resolve(options.home ?? defaults.home),
    agentsBase: resolve(options.agentsBase ?? defaults.agentsBase),
  };
  let service: Promise<RegistryService> | undefined;
  return {
    out,
    now: io.now,
    paths,
    service: () => {
      service ??= RegistryService.open({
        ...paths,
        sweepOnOpen: open.sweepOnOpen,
        live: open.live,
        version: PACKAGE_VERSION,
        now: io.now,
      });
      return service;
    },
  };
}
