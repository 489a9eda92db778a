import type { LeaseJson } from "../../api.js";
import { defineCommand } from "../command.js";
import { type Colors, printable, textTable } from "../format.js";

export const leases = defineCommand({
  name: "leases",
  readOnly: true,
  define: (command) =>
    command
      .description("the agents a live process holds now (leases; SPEC §15)")
      .option("--all", "every lease file, expired, dead and unreadable ones too, with its status"),
  async run(ctx, _args: [], options: { all?: boolean }) {
    const service = await ctx.service();
    const found = await service.listLeases({ all: options.all });
    ctx.out.result({ leases: found }, () =>
      found.length === 0
        ? options.all
          ? "no lease files"
          : "no agent is in use"
        : leaseTable(found, options.all === true, ctx.out.colors),
    );
  },
});

function leaseTable(found: readonly LeaseJson[], all: boolean, colors: Colors): string {
  const head = ["AGENT", "ID", "HOST", "PID", "PROGRAM", "BLOCK", "RENEWED"];
  const rows = found.map((lease) => {
    const { holder } = lease;
    const program = holder
      ? [holder.channel || "-", holder.version].filter(Boolean).join(" ")
      : "unknown (unreadable lease file)";
    const row = [
      printable(lease.instance_name ?? "-"),
      colors.dim(lease.instance_id),
      printable(holder?.hostname || "-"),
      holder && holder.pid !== 0 ? String(holder.pid) : "-",
      printable(program),
      printable(holder?.block_id || "-"),
      `${(lease.age_ms / 1000).toFixed(1)} s ago`,
    ];
    if (all) row.push(lease.holding ? colors.yellow(lease.status) : lease.status);
    return row;
  });
  return textTable(all ? [...head, "STATUS"] : head, rows, colors);
}
