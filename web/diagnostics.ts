/**
 * What `doctor` reports, as the page says it: a heading per kind (the CLI's words), and for each
 * problem the full path it is about, the agent's name when it is about an agent, the reason and
 * the fix. Pure apart from building elements.
 */

import type { Agent, DoctorReportJson, ProblemJson } from "../src/api.js";
import { h } from "./dom.js";

type Kind = ProblemJson["kind"];

/** Each kind's heading, given how many problems it has (as `doctor` prints them). */
export const KIND_HEADINGS: Record<Kind, (n: number) => string> = {
  "skipped-file": (n) => `${n} record file${n === 1 ? "" : "s"} could not be loaded`,
  "in-both-trees": (n) => `${n} agent${n === 1 ? " is" : "s are"} both active and in the Trash`,
  "stale-file": (n) => `${n} file${n === 1 ? "" : "s"} left by a writer that crashed`,
  "odd-entry": (n) => `${n} odd entr${n === 1 ? "y" : "ies"} in the registry`,
  "working-dir-missing": (n) => `${n} working director${n === 1 ? "y is" : "ies are"} missing`,
  "working-dir-escapes": (n) =>
    `${n} working director${n === 1 ? "y leads" : "ies lead"} outside the agents base`,
  "migration-incomplete": () => "The migration from SQLite has not completed",
  "lease-unreadable": (n) => `${n} lease file${n === 1 ? "" : "s"} cannot be read`,
  "lease-expired": (n) => `${n} lease file${n === 1 ? "" : "s"} expired long ago`,
};

/** Kinds whose subject is an agent id rather than a file. */
const ABOUT_AN_AGENT = new Set<Kind>([
  "in-both-trees",
  "working-dir-missing",
  "working-dir-escapes",
]);

/** `root` and `rest` joined with the root's own separator (a Windows root uses backslashes). */
function under(root: string, rest: string): string {
  const separator = root.includes("\\") && !root.includes("/") ? "\\" : "/";
  const tail = separator === "\\" ? rest.replaceAll("/", "\\") : rest;
  return root.endsWith(separator) ? `${root}${tail}` : `${root}${separator}${tail}`;
}

const isAbsolute = (path: string) => path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);

/**
 * The full path a problem is about: the working directory for a working-directory problem, the
 * active record for one in both trees, else the subject under the root (or as it is, when
 * `doctor` named an absolute path, as the migration's unreadable databases).
 */
export function problemPath(
  problem: ProblemJson,
  report: DoctorReportJson,
  agents: ReadonlyMap<string, Agent>,
): string {
  if (isAbsolute(problem.subject)) return problem.subject;
  if (problem.kind === "in-both-trees") return under(report.root, `${problem.subject}.json`);
  if (problem.kind === "working-dir-missing" || problem.kind === "working-dir-escapes") {
    const agent = agents.get(problem.subject);
    if (agent) return under(agent.source_agents_base ?? report.agents_base, agent.working_dir);
  }
  return under(report.root, problem.subject);
}

/** The heading of one problem: the agent's name when it is about an agent, else the file's name. */
export function problemTitle(problem: ProblemJson, agents: ReadonlyMap<string, Agent>): string {
  if (ABOUT_AN_AGENT.has(problem.kind)) {
    const agent = agents.get(problem.subject);
    if (agent) return agent.instance_name;
  }
  return problem.subject.slice(problem.subject.lastIndexOf("/") + 1);
}

/** The problems grouped by kind, in the order the kinds were first found (as `doctor` prints). */
export function byKind(problems: readonly ProblemJson[]): Map<Kind, ProblemJson[]> {
  const groups = new Map<Kind, ProblemJson[]>();
  for (const problem of problems) {
    const group = groups.get(problem.kind);
    if (group) group.push(problem);
    else groups.set(problem.kind, [problem]);
  }
  return groups;
}

/** One problem: its title, full path, reason and fix (with a copy button built by the caller). */
export function problemItem(
  problem: ProblemJson,
  path: string,
  title: string,
  copyFix: HTMLButtonElement,
): HTMLLIElement {
  const item = h(
    "li",
    "problem",
    h("h4", null, title),
    h("p", "path", h("span", "label", "Path "), h("code", null, path)),
    h("p", "reason", problem.message),
    h("p", "fix", h("span", "label", "Fix "), h("code", null, problem.fix), " ", copyFix),
  );
  item.dataset.kind = problem.kind;
  item.dataset.subject = problem.subject;
  return item;
}
