/**
 * What every command is handed, built once per run: the resolved paths, the output, the clock,
 * and the service — opened on first use, so that a usage error found by the command itself
 * touches no registry.
 */

import { readFileSync } from "node:fs";
import { choosePaths } from "../io/paths.js";
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
  /**
   * The service over `paths`, opened on the first call. A read-only command's creates nothing: a
   * missing registry lists as empty (a message saying so names `paths.root`).
   */
  service(): Promise<RegistryService>;
}

/** How a command opens the registry (`openOptions` in `command.ts` decides). */
export interface OpenOptions {
  sweepOnOpen: boolean;
  live: boolean;
  /** False for read-only commands: nothing is created. */
  create: boolean;
}

export function createContext(
  io: CliIo,
  out: Output,
  options: GlobalOptions,
  open: OpenOptions,
): CliContext {
  const paths = choosePaths(options, io.env);
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
        create: open.create,
        version: PACKAGE_VERSION,
        now: io.now,
      });
      return service;
    },
  };
}
