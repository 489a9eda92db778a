import type { LeaseJson } from "../../api.js";
import { defineCommand } from "../command.js";
import { fullIds, printable } from "../format.js";
import type { Column, TableLayout } from "../table.js";
import { idText, WIDE } from "./list.js";

export const leases = defineCommand({
  name: "leases",
  readOnly: true,
  define: (command) =>
    command
      .description("the agents a live process holds now (leases; SPEC §15)")
      .option("--all", "every lease file, expired, dead and unreadable ones too, with its status")
      .option("--wide", WIDE),
  async run(ctx, _args: [], options: { all?: boolean; wide?: boolean }) {
    const service = await ctx.service();
    const found = await service.listLeases({ all: options.all });
    const wide = options.wide === true;
    const ids =
      ctx.out.forPeople && !wide && found.length > 0
        ? await idText(
            service,
            undefined,
            found.map((lease) => lease.instance_id),
          )
        : fullIds;
    const tables = ctx.out.forPeople && found.length > 0 ? await import("../table.js") : undefined;
    ctx.out.result(
      { leases: found },
      () =>
        tables === undefined
          ? options.all
            ? "no lease files"
            : "no agent is in use"
          : leaseTable(tables, found, options.all === true, {
              width: wide ? Number.POSITIVE_INFINITY : ctx.out.width,
              ids,
              colors: ctx.out.colors,
            }),
      { ids: found.map((lease) => lease.instance_id) },
    );
  },
});

function leaseTable(
  tables: typeof import("../table.js"),
  found: readonly LeaseJson[],
  all: boolean,
  layout: TableLayout,
): string {
  const { colors } = layout;
  const columns: Column[] = [
    { head: "AGENT", flex: true },
    { head: "ID", paint: colors.dim },
    { head: "HOST", flex: true },
    { head: "PID" },
    { head: "PROGRAM", flex: true },
    { head: "BLOCK", flex: true },
    { head: "RENEWED" },
  ];
  if (all) {
    columns.push({
      head: "STATUS",
      paint: (text, row) => (found[row]?.holding ? colors.yellow(text) : text),
    });
  }
  const rows = found.map((lease) => {
    const { holder } = lease;
    const program = holder
      ? [holder.channel || "-", holder.version].filter(Boolean).join(" ")
      : "unknown (unreadable lease file)";
    const row = [
      printable(lease.instance_name ?? "-"),
      // From a file name: anything may be in it.
      printable(layout.ids(lease.instance_id)),
      printable(holder?.hostname || "-"),
      holder && holder.pid !== 0 ? String(holder.pid) : "-",
      printable(program),
      printable(holder?.block_id || "-"),
      `${(lease.age_ms / 1000).toFixed(1)} s ago`,
    ];
    if (all) row.push(lease.status);
    return row;
  });
  return tables.renderTable(columns, rows, layout);
}
