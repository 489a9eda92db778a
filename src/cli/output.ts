/**
 * The CLI's one way out: every byte on stdout and stderr — results, warnings, progress, questions,
 * commander's help and parse errors, and every failure — is written here. It knows the output
 * mode (`--json`, `--quiet`), whether each stream is a terminal and how wide stdout's is, and
 * colour (a TTY without `NO_COLOR`). Text for people is escaped with `printable`; `--json` values
 * are written exactly.
 */

import { createRequire } from "node:module";
import { createColors } from "picocolors";
import { failureOf } from "./errors.js";
import { type Colors, plural, printable } from "./format.js";

/** The process as the CLI sees it; tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** The width of stdout's terminal, when it is one and says. */
  columns: number | undefined;
  /** One line typed on stdin (without its newline); `null` at end of input. */
  readLine: () => Promise<string | null>;
  now: () => number;
}

export interface OutputMode {
  /** One JSON value on stdout: the result, or `{ error }`. */
  json: boolean;
  /** Only what was asked for: a command's ids when it has some, no warnings, no progress. */
  quiet: boolean;
}

/** What `--quiet` prints instead of a result's text. */
export interface ResultOptions {
  /** The JSON on a single line, for a process that keeps running (`serve`). */
  oneLine?: boolean;
  /** With `--quiet` (and no `--json`): these ids, one a line, and nothing else. */
  ids?: readonly string[];
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
   * A command's result: `json` with `--json`; else with `--quiet` the `ids` when given (one a
   * line, for `$(…)` and `xargs`); else the text `human` builds (nothing when empty).
   */
  result(json: unknown, human: () => string, options: ResultOptions = {}): void {
    if (this.mode.json) {
      this.io.stdout(`${JSON.stringify(json, null, options.oneLine ? undefined : 2)}\n`);
      return;
    }
    const text = this.mode.quiet && options.ids ? options.ids.join("\n") : human();
    if (text !== "") this.io.stdout(`${text}\n`);
  }

  /** Whether the result will be text for people (neither `--json` nor `--quiet`). */
  get forPeople(): boolean {
    return !this.mode.json && !this.mode.quiet;
  }

  /**
   * How many columns a table may take: the terminal's width when stdout is one; else `COLUMNS`
   * when set; else 80 on a terminal that does not say, and no limit on a pipe or file — what
   * reads it is a program, which a cut would silently lose text for.
   */
  get width(): number {
    if (this.io.stdoutIsTTY && this.io.columns) return this.io.columns;
    const columns = this.io.env.COLUMNS ?? "";
    if (/^[1-9][0-9]{0,5}$/.test(columns)) return Number(columns);
    return this.io.stdoutIsTTY ? 80 : Number.POSITIVE_INFINITY;
  }

  /** Whether a person can be asked: stdin and stdout are both a terminal. */
  get canAsk(): boolean {
    return this.io.stdinIsTTY && this.io.stdoutIsTTY;
  }

  /** Asks `question` on stderr; true only for `y` or `yes` (any case). */
  async confirm(question: string): Promise<boolean> {
    this.io.stderr(`${printable(question)} [y/N] `);
    const answer = await this.io.readLine();
    if (answer === null) this.io.stderr("\n");
    return /^y(es)?$/i.test(answer?.trim() ?? "");
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
      this.warn(
        `${plural(count, "agent record file")} could not be loaded; run: agentmux-registry doctor`,
      );
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
      // Asked only before a question: making process.stdin loads net and tty (ms at every start).
      get stdinIsTTY() {
        return process.stdin.isTTY === true;
      },
      stdoutIsTTY: process.stdout.isTTY === true,
      stderrIsTTY: process.stderr.isTTY === true,
      columns: process.stdout.isTTY ? process.stdout.columns : undefined,
      readLine,
      now: Date.now,
    },
    exitCode: (code) => (writeFailed && code === 0 ? 1 : code),
  };
}

/**
 * One line from stdin. The terminal's own line editing stays on (no raw mode), so Ctrl-C is the
 * usual SIGINT; stdin is let go after the line, so the process can end.
 */
async function readLine(): Promise<string | null> {
  // Required when needed (not imported at start, nor `import()`ed: see src/cli/bin.ts).
  const { createInterface } = createRequire(import.meta.url)(
    "node:readline",
  ) as typeof import("node:readline");
  const lines = createInterface({ input: process.stdin, terminal: false });
  return new Promise((resolve) => {
    lines.once("line", (line) => {
      resolve(line);
      lines.close();
    });
    lines.once("close", () => resolve(null));
  });
}
