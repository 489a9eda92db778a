/**
 * The CLI's one way out: every byte on stdout and stderr — results, warnings, progress, commander's
 * help and parse errors, and every failure — is written here. It knows the output mode (`--json`,
 * `--quiet`), whether each stream is a terminal, and colour (a TTY without `NO_COLOR`). Text for
 * people is escaped with `printable`; `--json` values are written exactly.
 */

import { createColors } from "picocolors";
import { failureOf } from "./errors.js";
import { type Colors, printable } from "./format.js";

/** The process as the CLI sees it; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  now: () => number;
}

export interface OutputMode {
  /** One JSON value on stdout: the result, or `{ error }`. */
  json: boolean;
  /** Only what was asked for: no warnings, no progress. */
  quiet: boolean;
}

/** A progress line on stderr, redrawn in place. */
export interface Progress {
  update(label: string, done: number, total: number): void;
  done(): void;
}

export class Output {
  /** Colour for stdout: only on a terminal, never with `NO_COLOR`. */
  readonly colors: Colors;

  constructor(
    private readonly io: CliIo,
    /** Until the command line is parsed, the mode guessed from argv; then the parsed one. */
    public mode: OutputMode,
  ) {
    this.colors = createColors(
      io.stdoutIsTTY && (io.env.NO_COLOR === undefined || io.env.NO_COLOR === ""),
    );
  }

  /**
   * A command's result: `json` with `--json`, else the text `human` builds (nothing when empty).
   * `oneLine` writes the JSON on a single line, for a process that keeps running (`serve`).
   */
  result(json: unknown, human: () => string, options: { oneLine?: boolean } = {}): void {
    if (this.mode.json) {
      this.io.stdout(`${JSON.stringify(json, null, options.oneLine ? undefined : 2)}\n`);
    } else {
      const text = human();
      if (text !== "") this.io.stdout(`${text}\n`);
    }
  }

  /**
   * A path for people that a script may also read (`cd "$(… continue x)"`): escaped on a
   * terminal, exact on a pipe.
   */
  exactUnlessTerminal(text: string): string {
    return this.io.stdoutIsTTY ? printable(text) : text;
  }

  /** A warning beside the result, on stderr (with `--json` too); `--quiet` drops it. */
  warn(text: string): void {
    if (!this.mode.quiet) this.io.stderr(`${text}\n`);
  }

  /** The files a listing skipped, if any: a pointer to `doctor`. */
  skipped(count: number): void {
    if (count > 0)
      this.warn(`${count} agent record file(s) could not be loaded; run: agentmux-registry doctor`);
  }

  /** A progress bar on a terminal's stderr; none with `--json`, `--quiet` or no terminal. */
  progress(): Progress | undefined {
    if (this.mode.quiet || this.mode.json || !this.io.stderrIsTTY) return undefined;
    const write = this.io.stderr;
    let last = "";
    return {
      update(label, done, total) {
        const width = 24;
        const filled = Math.round((done / Math.max(1, total)) * width);
        const line = `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`;
        if (line !== last) write(`\r${line}`);
        last = line;
      },
      done() {
        if (last !== "") write("\n");
      },
    };
  }

  /** An `error:` line that is not the run's own failure (a command `--exec` could not start). */
  errorLine(text: string): void {
    this.io.stderr(`error: ${printable(text)}\n`);
  }

  /** Commander's writers: help and version on stdout, its parse errors as one line on stderr. */
  commanderOutput() {
    return {
      writeOut: this.io.stdout,
      writeErr: this.io.stderr,
      // One line with the way to help; with --json the error also goes to stdout as JSON.
      outputError: (text: string, write: (text: string) => void) => {
        write(`${printable(text.trimEnd())} (run with --help for usage)\n`);
      },
    };
  }

  /**
   * Every failure ends here: one `error:` line on stderr (control and bidi characters escaped)
   * and, with `--json`, one `{ error: { code, message, … } }` value on stdout — unexpected
   * failures included. Returns the exit code.
   */
  failure(error: unknown): number {
    const failure = failureOf(error);
    if (failure === null) return 0;
    const { code, message, data, line } = failure;
    if (this.mode.json)
      this.io.stdout(`${JSON.stringify({ error: { ...data, code, message } }, null, 2)}\n`);
    if (line !== null) {
      // A bug's stack on request only: by default every error is one line.
      const stack =
        this.io.env.AGENTMUX_REGISTRY_DEBUG && failure.stack
          ? `${printable(failure.stack).replaceAll("\\n", "\n")}\n`
          : "";
      this.io.stderr(`error: ${printable(line)}\n${stack}`);
    }
    return failure.exit;
  }
}

/**
 * The real process's streams. A reader that goes away (`agentmux-registry list | head -1`) ends
 * the output, not the command: later writes are dropped, nothing is said, and the exit code is the
 * command's own. Any other write failure (a full disk) is one line on stderr and exit 1. Without
 * these listeners either would be an uncaught 'error' event: a stack trace.
 */
export function processIo(): { io: CliIo; exitCode: (code: number) => number } {
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
  return {
    io: {
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
    },
    exitCode: (code) => (writeFailed && code === 0 ? 1 : code),
  };
}
