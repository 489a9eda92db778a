/**
 * `node:child_process` for the bundled bin (an esbuild `--alias`, see package.json `build:bin`):
 * the same functions, loaded on first call. Requiring it loads net, dgram and the stream stack —
 * 37 of Node's internal modules, several ms at every start — yet only `continue --exec` spawns,
 * and only `syncfs` and a clock-tick fallback run a command; commander requires it at load time
 * for executable subcommands, which this CLI has none of.
 */

import type * as ChildProcess from "node:child_process";
import { createRequire } from "node:module";

let loaded: typeof ChildProcess | undefined;
// Not `node:child_process`: the alias rewrites that name, this one reaches Node's module.
const childProcess = (): typeof ChildProcess =>
  (loaded ??= createRequire(import.meta.url)("child_process") as typeof ChildProcess);

export const spawn: typeof ChildProcess.spawn = ((...args: Parameters<typeof ChildProcess.spawn>) =>
  childProcess().spawn(...args)) as typeof ChildProcess.spawn;

export const execFileSync: typeof ChildProcess.execFileSync = ((
  ...args: Parameters<typeof ChildProcess.execFileSync>
) => childProcess().execFileSync(...args)) as typeof ChildProcess.execFileSync;
