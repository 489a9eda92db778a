#!/usr/bin/env node
import module from "node:module";
import { runCli } from "./app.js";
import { processIo } from "./output.js";

// Node ≥ 22.1 keeps compiled code between runs: what loads later (fastify for `serve`,
// better-sqlite3 for `migrate`) starts faster. The bundled bin itself is compiled before this line.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

const { io, exitCode } = processIo();
// No top-level await: `npm run build` bundles the bin as CommonJS (see package.json).
void runCli(process.argv.slice(2), io).then((code) => {
  process.exitCode = exitCode(code);
});
