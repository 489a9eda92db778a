/**
 * The command lines the page shows for Continue. Pure (no DOM), so a unit test pins them.
 *
 * The page cannot start a terminal: it shows the line that continues the agent, and the launch is
 * recorded when that line runs (`continue --exec` claims the agent's lease, records the launch and
 * runs the command in the working directory). The program is the user's: the definition id names
 * the kind of agent, not a program, so it is never put after `--`.
 */

import { shellQuote } from "../src/present.js";

export interface ContinueLines {
  /** `agentmux-registry continue <id> [--session <sid>] --exec -- <command>` */
  exec: string;
  /** The same, after `cd <dir> &&`: the shell stays in the working directory afterwards. */
  cd: string;
}

/**
 * The lines that continue an agent. `command` is the user's own shell text (their program and its
 * arguments) and is used as typed; a held session id is passed with `--session`, as the CLI takes
 * it, so the lease names the session while the command runs.
 */
export function continueLines(
  agent: { instance_id: string; session_id: string | null },
  workingDir: string,
  command: string,
): ContinueLines {
  const session = agent.session_id ? ` --session ${shellQuote(agent.session_id)}` : "";
  const exec = `agentmux-registry continue ${shellQuote(agent.instance_id)}${session} --exec -- ${command.trim()}`;
  return { exec, cd: `cd ${shellQuote(workingDir)} && ${exec}` };
}
