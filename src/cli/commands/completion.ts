/**
 * Shell completion. `completion bash|zsh|fish` prints a small script; at each Tab the script asks
 * the hidden `__complete` what fits the word being typed — a command, an option, a choice, or an
 * agent (its id or name, read from the registry then) — so the scripts never drift from the
 * program, and names with spaces or quotes reach the shell as single, quoted words.
 */

import { Argument, type Command } from "commander";
import type { AgentTree } from "../../service.js";
import { defineCommand } from "../command.js";
import type { CliContext } from "../context.js";
import { printable } from "../format.js";

const SHELLS = ["bash", "zsh", "fish"] as const;
type Shell = (typeof SHELLS)[number];

export const completion = defineCommand({
  name: "completion",
  define: (command) =>
    command
      .description("print a shell completion script: commands, options, agents' ids and names")
      .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(SHELLS)),
  async run(ctx, [shell]: [Shell], _options: unknown) {
    ctx.out.result({ shell, script: SCRIPTS[shell] }, () => SCRIPTS[shell]);
  },
});

export const complete = defineCommand({
  name: "__complete",
  readOnly: true,
  define: (command) =>
    command
      .description("what may stand in place of the last word (for the completion scripts)")
      .addArgument(new Argument("<shell>").choices(SHELLS))
      .argument("[words...]", "the words after the program's name, after --; the last is typed")
      // `run` reads the program's commands and options; commander hands them to hooks only.
      .hook("preAction", (self) => {
        self.setOptionValue("program", self.parent);
      }),
  async run(ctx, [shell, given]: [Shell, string[]], options: { program: Command }) {
    // bash passes the words as typed, quotes and all; zsh and fish pass them unquoted, and match
    // the candidates against the typed word themselves.
    const words = shell === "bash" ? given.map(unquote) : given;
    const typed = words.at(-1) ?? "";
    const fit = whatFits(options.program, words);
    const found = fit === null ? [] : Array.isArray(fit) ? fit : await agentWords(ctx, fit);
    const candidates = shell === "bash" ? found.filter((word) => word.startsWith(typed)) : found;
    ctx.out.result(candidates, () => candidates.join("\n"));
  },
});

/** In which tree each command looks for its `<agent>` (others: the active agents). */
const AGENT_TREES: Readonly<Record<string, AgentTree | "either">> = {
  restore: "retired",
  show: "either",
  delete: "either",
};

/**
 * What may stand where the last of `words` is typed: these words, the agents of a tree, or
 * `null` for nothing this program knows (a path, a new name: the shell offers files).
 */
function whatFits(
  program: Command,
  words: readonly string[],
): string[] | AgentTree | "either" | null {
  const typed = words.at(-1) ?? "";
  const commands = program.commands.filter((command) => !command.name().startsWith("__"));
  let command: Command | "help" | undefined;
  const optionsNow = () => [
    ...(typeof command === "object" ? command.options : []),
    ...program.options,
  ];
  let operands = 0;
  let dashes = false;
  for (let i = 0; i < words.length - 1; i++) {
    const word = words[i] as string;
    if (!dashes && word === "--") dashes = true;
    else if (!dashes && word.startsWith("-") && word !== "-") {
      const option = optionsNow().find((o) => o.long === word || o.short === word);
      if (option && (option.required || option.optional)) {
        if (i === words.length - 2) return null; // the typed word is its value
        i++;
      }
    } else if (command === undefined) {
      command = word === "help" ? "help" : commands.find((c) => c.name() === word);
      if (command === undefined) return null;
    } else operands++;
  }
  const names = [...commands.map((c) => c.name()), "help"];
  if (!dashes && typed.startsWith("-")) {
    const options = optionsNow().filter((o) => !o.hidden && o.long);
    return [...options.map((o) => o.long as string), "--help"];
  }
  if (command === undefined) return names;
  if (command === "help") return operands === 0 ? names : null;
  const declared = command.registeredArguments;
  const last = declared.at(-1);
  const argument = declared[operands] ?? (last?.variadic ? last : undefined);
  if (argument?.argChoices) return [...argument.argChoices];
  if (argument?.name() === "agent") return AGENT_TREES[command.name()] ?? "active";
  return null;
}

/**
 * The ids and names of the agents of `tree`: every id, and the names a shell can take as one
 * word (no control or invisible characters, none that reads as an option).
 */
async function agentWords(ctx: CliContext, tree: AgentTree | "either"): Promise<string[]> {
  const service = await ctx.service();
  const records = [
    ...(tree === "retired" ? [] : await service.listNamedAgents({ all: true })),
    ...(tree === "active" ? [] : await service.listRetired()),
  ];
  const words = new Set<string>();
  for (const { data } of records) {
    words.add(data.instance_id);
    const name = data.instance_name;
    if (name !== "" && !name.startsWith("-") && printable(name) === name) words.add(name);
  }
  return [...words];
}

/** A word as bash hands it over, quotes and backslashes still in, as the command would see it. */
function unquote(word: string): string {
  let text = "";
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < word.length; i++) {
    const char = word[i] as string;
    const next = word[i + 1];
    if (quote === "'") {
      if (char === "'") quote = null;
      else text += char;
    } else if (char === "\\" && next !== undefined && (quote === null || '"\\$`'.includes(next))) {
      text += next;
      i++;
    } else if (quote === '"') {
      if (char === '"') quote = null;
      else text += char;
    } else if (char === "'" || char === '"') quote = char;
    else text += char;
  }
  return text;
}

/**
 * The scripts. Each passes the words typed after the program's name to `__complete` (after
 * `--`, so none is taken for an option of its own) and offers the lines it prints, each quoted
 * by the shell; when none fits, the shell's own file completion.
 */
const SCRIPTS: Readonly<Record<Shell, string>> = {
  bash: `# bash completion for agentmux-registry: source <(agentmux-registry completion bash)
_agentmux_registry() {
  local candidate quoted
  COMPREPLY=()
  while IFS= read -r candidate; do
    printf -v quoted '%q' "$candidate"
    COMPREPLY+=("$quoted")
  done < <(agentmux-registry __complete bash -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -o default -F _agentmux_registry agentmux-registry`,

  zsh: `#compdef agentmux-registry
# zsh completion for agentmux-registry: source <(agentmux-registry completion zsh) after
# compinit, or save it as _agentmux-registry in a directory of $fpath
_agentmux-registry() {
  local -a candidates
  candidates=(\${(f)"$(agentmux-registry __complete zsh -- "\${(@Q)words[2,CURRENT]}" 2>/dev/null)"})
  if (( \${#candidates} )); then
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if [[ $funcstack[1] == _agentmux-registry ]]; then
  _agentmux-registry "$@"
else
  compdef _agentmux-registry agentmux-registry
fi`,

  fish: `# fish completion for agentmux-registry: agentmux-registry completion fish | source
# or save it as ~/.config/fish/completions/agentmux-registry.fish
function __agentmux_registry_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l typed (commandline -ct)
    set -l found (agentmux-registry __complete fish -- $words "$typed" 2>/dev/null)
    if set -q found[1]
        printf '%s\\n' $found
    else
        __fish_complete_path "$typed"
    end
end
complete -c agentmux-registry -f -a '(__agentmux_registry_complete)'`,
};
