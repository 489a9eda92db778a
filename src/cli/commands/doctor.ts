import type { DoctorReport, Problem, ProblemKind } from "../../service.js";
import { defineCommand } from "../command.js";
import { EXIT } from "../errors.js";
import { type Colors, printable } from "../format.js";

export const doctor = defineCommand({
  name: "doctor",
  // Stale files are reported before (with --fix) they are removed.
  sweepOnOpen: false,
  readOnly: (options: { fix?: boolean }) => options.fix !== true,
  define: (command) =>
    command
      .description(
        "report everything wrong on disk, with fixes; --fix removes stale temp and lock files",
      )
      .option(
        "--fix",
        "remove stale temp and lock files and lease files expired an hour ago (nothing else is ever changed)",
      ),
  async run(ctx, _args: [], options: { fix?: boolean }) {
    const service = await ctx.service();
    const report = await service.doctor({ fix: options.fix });
    ctx.out.result(report, () => doctorText(report, ctx.out.colors));
    return report.problems.length > 0 ? EXIT.refused : EXIT.ok;
  },
});

/** How many problems of one kind are printed; `--json` has them all. */
const SHOWN_PER_KIND = 10;

/** `36,000`: counts of thousands of problems, readable. */
const count = (n: number): string => n.toLocaleString("en-US");

/** Each kind's heading, given how many problems it has. */
const KIND_HEADINGS: Record<ProblemKind, (n: number) => string> = {
  "skipped-file": (n) => `${count(n)} record file${n === 1 ? "" : "s"} could not be loaded`,
  "in-both-trees": (n) =>
    `${count(n)} agent${n === 1 ? " is" : "s are"} both active and in the Trash`,
  "stale-file": (n) => `${count(n)} file${n === 1 ? "" : "s"} left by a writer that crashed`,
  "odd-entry": (n) => `${count(n)} odd entr${n === 1 ? "y" : "ies"} in the registry`,
  "working-dir-missing": (n) =>
    `${count(n)} working director${n === 1 ? "y is" : "ies are"} missing`,
  "working-dir-escapes": (n) =>
    `${count(n)} working director${n === 1 ? "y leads" : "ies lead"} outside the agents base`,
  "migration-incomplete": () => "the migration from SQLite has not completed",
  "lease-unreadable": (n) => `${count(n)} lease file${n === 1 ? "" : "s"} cannot be read`,
  "lease-expired": (n) => `${count(n)} lease file${n === 1 ? "" : "s"} expired long ago`,
};

/**
 * The report by kind, in the order the kinds were found: a heading with the count, then the
 * first {@link SHOWN_PER_KIND} problems with their fixes — 36,000 broken files are a screenful,
 * not 72,000 lines.
 */
function doctorText(report: DoctorReport, colors: Colors): string {
  const lines = [
    `registry ${printable(report.root)}: ${report.active} active, ${report.retired} in the Trash`,
  ];
  for (const file of report.fixed) lines.push(`removed stale ${printable(file)}`);
  if (report.problems.length === 0) lines.push(colors.green("no problems found"));
  const byKind = new Map<ProblemKind, Problem[]>();
  for (const problem of report.problems) {
    const group = byKind.get(problem.kind);
    if (group) group.push(problem);
    else byKind.set(problem.kind, [problem]);
  }
  for (const [kind, problems] of byKind) {
    lines.push(colors.yellow(`${KIND_HEADINGS[kind](problems.length)}:`));
    for (const problem of problems.slice(0, SHOWN_PER_KIND)) {
      lines.push(`  ${printable(problem.message)}`);
      lines.push(`    fix: ${printable(problem.fix)}`);
    }
    const more = problems.length - SHOWN_PER_KIND;
    if (more > 0)
      lines.push(`  … and ${count(more)} more (agentmux-registry doctor --json lists them all)`);
  }
  return lines.join("\n");
}
