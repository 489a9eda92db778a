/** The CLI as one program: bundled to `dist/cli/main.cjs`, which the bin (bin.ts) runs. */

import { runCli } from "./app.js";
import { processIo } from "./output.js";

const { io, exitCode } = processIo();
// No top-level await: `npm run build` bundles the bin as CommonJS (see package.json).
void runCli(process.argv.slice(2), io).then((code) => {
  process.exitCode = exitCode(code);
});
