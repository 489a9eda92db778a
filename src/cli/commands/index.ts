/** Every command, in the order `--help` lists them. A new command is a file here and a line below. */

import type { CliCommand } from "../command.js";
import { complete, completion } from "./completion.js";
import { continueCommand } from "./continue.js";
import { create } from "./create.js";
import { deleteCommand } from "./delete.js";
import { doctor } from "./doctor.js";
import { forget } from "./forget.js";
import { leases } from "./leases.js";
import { list } from "./list.js";
import { migrate } from "./migrate.js";
import { rename } from "./rename.js";
import { restore } from "./restore.js";
import { serve } from "./serve.js";
import { show } from "./show.js";
import { trash } from "./trash.js";

export const COMMANDS: readonly CliCommand[] = [
  list,
  show,
  create,
  continueCommand,
  forget,
  restore,
  trash,
  leases,
  rename,
  deleteCommand,
  migrate,
  doctor,
  serve,
  completion,
  complete,
];
