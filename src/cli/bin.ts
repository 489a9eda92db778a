#!/usr/bin/env node
import { runCli } from "./app.js";
import { processIo } from "./output.js";

const { io, exitCode } = processIo();
process.exitCode = exitCode(await runCli(process.argv.slice(2), io));
