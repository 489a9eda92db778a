import type { DoctorReport } from "../../service.js";
import { defineCommand } from "../command.js";
import { EXIT } from "../errors.js";
import { type Colors, printable } from "../format.js";

export const doctor = defineCommand({
  name: "doctor",
  // Stale files are reported before (with --fix) they are removed.
  sweepOnOpen: false,
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

function doctorText(report: DoctorReport, colors: Colors): string {
  const lines = [
    `registry ${printable(report.root)}: ${report.active} active, ${report.retired} in the Trash`,
  ];
  for (const file of report.fixed) lines.push(`removed stale ${printable(file)}`);
  if (report.problems.length === 0) lines.push(colors.green("no problems found"));
  for (const problem of report.problems) {
    lines.push(`${colors.yellow("problem")} ${printable(problem.message)}`);
    lines.push(`  fix: ${printable(problem.fix)}`);
  }
  return lines.join("\n");
}
