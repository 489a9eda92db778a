#!/usr/bin/env node
import { runCli } from "./app.js";

// A reader that goes away (`agentmux-registry list | head -1`) ends the output, not the command:
// later writes are dropped, nothing is said, and the exit code is the command's own. Any other
// write failure (a full disk) is one line on stderr and exit 1. Without these listeners either
// would be an uncaught 'error' event: a stack trace.
let stdoutOpen = true;
let writeFailed = false;
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (!stdoutOpen) return;
  stdoutOpen = false;
  if (error.code === "EPIPE") return;
  writeFailed = true;
  process.exitCode = 1;
  process.stderr.write(`error: could not write the output: ${error.code ?? error.message}\n`);
});
// A closed stderr leaves nowhere to report anything.
process.stderr.on("error", () => {});

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => {
    if (stdoutOpen) process.stdout.write(text);
  },
  stderr: (text) => {
    if (!process.stderr.destroyed) process.stderr.write(text);
  },
  env: process.env,
  stdoutIsTTY: process.stdout.isTTY === true,
  stderrIsTTY: process.stderr.isTTY === true,
  now: Date.now,
});
process.exitCode = writeFailed && code === 0 ? 1 : code;
