import { defineCommand } from "../command.js";
import { EXIT } from "../errors.js";
import { printable } from "../format.js";

const PHASES = { read: "reading databases", write: "writing records  " } as const;

export const migrate = defineCommand({
  name: "migrate",
  define: (command) =>
    command.description("import every per-version SQLite database into the registry, once"),
  async run(ctx, _args: [], _options: unknown) {
    const service = await ctx.service();
    const progress = ctx.out.progress();
    const stats = await service.migrate({
      onProgress: progress && ((p) => progress.update(PHASES[p.phase], p.done, p.total)),
    });
    progress?.done();
    ctx.out.result(stats, () =>
      [
        `databases: ${stats.dbs_scanned} found, ${stats.dbs_skipped} unreadable; rows: ${stats.rows_seen}`,
        `records: ${stats.records_written} written, ${stats.records_skipped_existing} already present, ` +
          `${stats.records_skipped_unmappable} outside the agents bases, ${stats.records_skipped_invalid} invalid`,
        ...(stats.complete
          ? ["complete"]
          : [
              "incomplete: these could not be read:",
              ...stats.unreadable.map(
                ({ path, reason }) => `  ${printable(path)}: ${printable(reason)}`,
              ),
              "make them readable (a running version may hold a database locked), then run migrate again",
            ]),
      ].join("\n"),
    );
    return stats.complete ? EXIT.ok : EXIT.tryLater;
  },
});
