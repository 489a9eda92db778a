/**
 * The agent picker, keyboard first: focus starts in the search box, ↑/↓ move, Enter shows how to
 * continue the current agent, F2 renames, Alt+Delete forgets (Alt+Z undoes), Alt+N creates. Views:
 * Agents, Trash (restore, delete) and Diagnostics (everything `doctor` reports).
 *
 * State comes from the service's event stream — a snapshot on connect, then changes made by anyone
 * — so the page stays live without reloading. The page owns the reconnection: while the feed is
 * down every action is off, since what is shown may be stale. Diagnostics is asked again after
 * every change (working directories and stray files are `doctor`'s findings, not the feed's).
 *
 * Continue records nothing: the page cannot start a terminal, so it shows the line that continues
 * the agent (web/shell.ts), and the launch is recorded when that line runs.
 *
 * The wire types come from src/api.ts and the formatting from src/present.ts, shared with the CLI:
 * `npm run build` bundles this file with them (esbuild) into dist/web/app.js.
 */

import type {
  Agent,
  AgentLookup,
  ChangesMessage,
  CreatedAgent,
  DoctorReportJson,
  ErrorBody,
  InUse,
  SkippedFileJson,
  Snapshot,
} from "../src/api.js";
import { compareNewestFirst, holderText, relativeTime } from "../src/present.js";
import { byKind, KIND_HEADINGS, problemItem, problemPath, problemTitle } from "./diagnostics.js";
import { $, button, code, copyText, h } from "./dom.js";
import { continueLines } from "./shell.js";

type View = "agents" | "trash" | "diagnostics";
type Phase = "loading" | "live" | "disconnected" | "unauthorized";

const token = new URLSearchParams(location.search).get("token") ?? "";
const state = {
  phase: "loading" as Phase,
  active: new Map<string, Agent>(),
  retired: new Map<string, Agent>(),
  skipped: [] as SkippedFileJson[],
  /** What `doctor` found last; `null` until it first answered. */
  doctor: null as DoctorReportJson | null,
  /** Why the last `doctor` call failed, if it did. */
  doctorError: null as string | null,
  view: "agents" as View,
  /**
   * The agent wanted as the list's current row (↑/↓ move it, Enter continues it). Kept while it
   * is not shown — an Undo's agent is back only once the feed says so — and the first row stands
   * in meanwhile.
   */
  current: null as string | null,
  /** The agent whose Continue panel is open. */
  panel: null as ContinuePanel | null,
  /** The last agent forgotten, while its Undo is offered. */
  undo: null as Agent | null,
};

const live = () => state.phase === "live";

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = (await response.json().catch(() => ({}))) as T | Partial<ErrorBody>;
  if (response.status === 401) setPhase("unauthorized");
  if (!response.ok)
    throw new Error((payload as Partial<ErrorBody>).error?.message ?? `HTTP ${response.status}`);
  return payload as T;
}

const agentPath = (agent: Agent, action = "") =>
  `/api/agents/${encodeURIComponent(agent.instance_id)}${action}`;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

// ---------------------------------------------------------------------------------------------
// The agents list

/** The agents the search box and the definition filter keep, newest launch first. */
function shownAgents(): Agent[] {
  const definition = $<HTMLSelectElement>("#filter-definition").value;
  const query = $<HTMLInputElement>("#search").value.trim().toLowerCase();
  return [...state.active.values()]
    .filter((a) => definition === "" || a.definition_id === definition)
    .filter(
      (a) =>
        query === "" ||
        a.instance_name.toLowerCase().includes(query) ||
        a.instance_id.toLowerCase().startsWith(query) ||
        a.definition_id.toLowerCase().includes(query),
    )
    .sort(compareNewestFirst);
}

/** Skipped files of one tree: flagged rows where their agents would have been. */
function brokenFiles(tree: "active" | "retired"): SkippedFileJson[] {
  return state.skipped.filter((s) => s.file.startsWith("retired/") === (tree === "retired"));
}

/** Who holds the agent and since when, in a sentence. */
function inUseTitle(inUse: InUse): string {
  const since = inUse.holder
    ? `, claimed ${relativeTime(inUse.holder.acquired_at_ms, Date.now())}`
    : "";
  return `In use by ${holderText(inUse.holder)}${since}`;
}

/** Problems `doctor` found about an agent (its working directory), for a flag on its row. */
function agentProblems(id: string): string[] {
  return (state.doctor?.problems ?? [])
    .filter((p) => p.subject === id)
    .map((p) =>
      p.kind === "working-dir-missing"
        ? "working dir missing"
        : p.kind === "working-dir-escapes"
          ? "working dir outside its base"
          : "also in the Trash",
    );
}

/** The name cell: the name, a badge when a live process holds the agent, and doctor's flags. */
function nameCell(agent: Agent): HTMLTableCellElement {
  const td = h("td", "name", agent.instance_name);
  if (agent.in_use) {
    const badge = h("span", "badge in-use", `in use · ${holderText(agent.in_use.holder)}`);
    badge.title = inUseTitle(agent.in_use);
    td.append(" ", badge);
  }
  for (const flag of agentProblems(agent.instance_id))
    td.append(" ", h("span", "badge flag", flag));
  return td;
}

const definitionCell = (agent: Agent) => h("td", "definition", agent.definition_id);
const dirCell = (agent: Agent) => h("td", "dir", agent.working_dir);
const timeCell = (agent: Agent) =>
  h("td", "time", relativeTime(agent.last_launched_at_ms, Date.now()));

/** Continue, or (while another process holds the agent) a disabled Continue saying who does. */
function continueButton(agent: Agent): HTMLButtonElement {
  const b = button(
    "Continue",
    `Continue ${agent.instance_name}`,
    () => openPanel(agent),
    "primary",
  );
  b.setAttribute("aria-keyshortcuts", "Enter");
  b.setAttribute("aria-expanded", String(state.panel?.agent.instance_id === agent.instance_id));
  if (agent.in_use) {
    b.disabled = true;
    b.title = `${inUseTitle(agent.in_use)}: it cannot be continued until that process lets go`;
    b.setAttribute("aria-label", `Continue ${agent.instance_name} (${b.title})`);
  } else b.disabled = !live();
  return b;
}

/** A button that acts on the service: off while the page is not live. */
function action(label: string, name: string, onClick: () => void, className?: string) {
  const b = button(label, name, onClick, className);
  b.disabled = !live();
  return b;
}

/** The id of the current row among `agents` (the shown ones). */
const currentOf = (agents: readonly Agent[]) =>
  agents.some((a) => a.instance_id === state.current)
    ? state.current
    : (agents[0]?.instance_id ?? null);

/** The cells the list and the Trash share, before their actions. */
const agentCells = (agent: Agent) => [
  nameCell(agent),
  definitionCell(agent),
  dirCell(agent),
  timeCell(agent),
];

function agentRow(agent: Agent, current: boolean): HTMLTableRowElement {
  const row = h(
    "tr",
    current ? "current" : null,
    ...agentCells(agent),
    h(
      "td",
      "actions",
      continueButton(agent),
      action("Rename", `Rename ${agent.instance_name}`, () => openRename(agent)),
      action("Forget", `Forget ${agent.instance_name}`, () => void forget(agent), "danger"),
    ),
  );
  row.dataset.id = agent.instance_id;
  if (current) row.setAttribute("aria-current", "true");
  row.addEventListener("click", (event) => {
    if ((event.target as Element).closest("button, input, a")) return;
    setCurrent(agent.instance_id, false);
  });
  return row;
}

/** A file that could not be loaded, flagged where its agent would have been. */
function brokenRow(file: SkippedFileJson): HTMLTableRowElement {
  const name = file.file.slice(file.file.lastIndexOf("/") + 1);
  const row = h(
    "tr",
    "broken",
    h("td", "name", h("span", "badge flag", "unreadable"), " ", name),
    h("td", "definition", "—"),
    h("td", "dir", file.reason),
    h("td", "time", "—"),
    h(
      "td",
      "actions",
      button("Details", `Details of ${name}, which could not be loaded`, () =>
        showProblem(file.file),
      ),
    ),
  );
  row.dataset.file = file.file;
  return row;
}

function renderAgents(): void {
  const definition = $<HTMLSelectElement>("#filter-definition");
  const chosen = definition.value;
  const definitions = [...new Set([...state.active.values()].map((a) => a.definition_id))].sort();
  definition.replaceChildren(new Option("all", ""), ...definitions.map((d) => new Option(d, d)));
  definition.value = definitions.includes(chosen) ? chosen : "";
  $("#definitions").replaceChildren(
    ...[
      ...new Set([...state.active.values(), ...state.retired.values()].map((a) => a.definition_id)),
    ]
      .sort()
      .map((d) => new Option(d)),
  );

  const agents = shownAgents();
  const current = currentOf(agents);
  if (state.panel && !agents.some((a) => a.instance_id === state.panel?.agent.instance_id))
    state.panel = null;
  const filtering =
    $<HTMLInputElement>("#search").value.trim() !== "" ||
    $<HTMLSelectElement>("#filter-definition").value !== "";
  const rows: HTMLTableRowElement[] = [];
  for (const agent of agents) {
    rows.push(agentRow(agent, agent.instance_id === current));
    if (state.panel?.agent.instance_id === agent.instance_id) {
      state.panel.update(agent);
      rows.push(state.panel.row);
    }
  }
  if (!filtering) rows.push(...brokenFiles("active").map(brokenRow));
  $<HTMLTableSectionElement>("#agents tbody").replaceChildren(...rows);

  const loading = state.phase === "loading";
  $("#loading").hidden = !loading;
  $("#agents").hidden = loading || rows.length === 0;
  $("#agents-empty").hidden = loading || state.active.size > 0 || rows.length > 0;
  $("#agents-none").hidden = loading || state.active.size === 0 || agents.length > 0;
  $("#agents-count").textContent = String(state.active.size);
}

function renderTrash(): void {
  const retired = [...state.retired.values()].sort(compareNewestFirst);
  const rows = retired.map((agent) => {
    const row = h(
      "tr",
      null,
      ...agentCells(agent),
      h(
        "td",
        "actions",
        action("Restore", `Restore ${agent.instance_name}`, () => void restore(agent)),
        action(
          "Delete",
          `Delete ${agent.instance_name} for good`,
          () => openDelete(agent),
          "danger",
        ),
      ),
    );
    row.dataset.id = agent.instance_id;
    return row;
  });
  rows.push(...brokenFiles("retired").map(brokenRow));
  $<HTMLTableSectionElement>("#trash tbody").replaceChildren(...rows);
  $("#trash").hidden = rows.length === 0;
  $("#trash-empty").hidden = rows.length > 0 || state.phase === "loading";
  $("#trash-count").textContent = String(state.retired.size);
}

/** Everything `doctor` reports, grouped by kind as the CLI prints it, each with its full path. */
function renderDiagnostics(): void {
  const report = state.doctor;
  const problems = report?.problems ?? [];
  const groups = byKind(problems);
  $("#diagnostics-summary").textContent =
    state.doctorError !== null
      ? `Diagnostics could not be loaded: ${state.doctorError}`
      : report === null
        ? "Checking…"
        : problems.length === 0
          ? `No problems: ${report.active} active and ${report.retired} forgotten agents in ${report.root}.`
          : `${problems.length} problem${problems.length === 1 ? "" : "s"} in ${report.root}. Each says what to do; agentmux-registry doctor prints the same.`;
  const agents = new Map([...state.retired, ...state.active]);
  $("#diagnostics-list").replaceChildren(
    ...[...groups].map(([kind, group]) =>
      h(
        "section",
        "problems",
        h("h3", null, KIND_HEADINGS[kind](group.length)),
        h(
          "ul",
          null,
          ...group.map((problem) => {
            const title = problemTitle(problem, agents);
            const fix = code(problem.fix);
            const copyFix = button(
              "Copy",
              `Copy the fix for ${title}`,
              () => void copy(problem.fix, fix, `the fix for ${title}`),
            );
            return problemItem(
              problem,
              problemPath(problem, report as DoctorReportJson, agents),
              title,
              copyFix,
            );
          }),
        ),
      ),
    ),
  );
  $("#diagnostics-count").textContent = report === null ? "…" : String(problems.length);
}

/**
 * Re-renders everything. Rows are rebuilt, so a keyboard user's focus is put back on the same
 * control of the same row (its accessible name says which); the Continue panel is kept as it is.
 */
function render(): void {
  const focused = document.activeElement as HTMLElement | null;
  const inPanel = focused && state.panel?.row.contains(focused);
  const selection =
    focused instanceof HTMLInputElement ? [focused.selectionStart, focused.selectionEnd] : null;
  const key = focused?.closest("tbody") ? focusKey(focused) : null;
  renderAgents();
  renderTrash();
  renderDiagnostics();
  if (inPanel && focused.isConnected) {
    focused.focus();
    if (selection && focused instanceof HTMLInputElement)
      focused.setSelectionRange(selection[0] ?? null, selection[1] ?? null);
  } else if (key && !focused?.isConnected) {
    const again = [...document.querySelectorAll<HTMLElement>("tbody button")].find(
      (b) => focusKey(b) === key,
    );
    again?.focus();
  }
}

const focusKey = (element: HTMLElement) =>
  `${element.closest<HTMLElement>("tr")?.dataset.id}|${element.getAttribute("aria-label") ?? element.textContent}`;

// ---------------------------------------------------------------------------------------------
// The keyboard

function setCurrent(id: string | null, announce: boolean): void {
  state.current = id;
  for (const row of document.querySelectorAll<HTMLTableRowElement>("#agents tbody tr[data-id]")) {
    const current = row.dataset.id === id;
    row.classList.toggle("current", current);
    if (current) {
      row.setAttribute("aria-current", "true");
      row.scrollIntoView({ block: "nearest" });
    } else row.removeAttribute("aria-current");
  }
  const agent = id === null ? undefined : state.active.get(id);
  if (announce && agent)
    $("#current").textContent =
      `${agent.instance_name}, ${agent.definition_id}, launched ${relativeTime(agent.last_launched_at_ms, Date.now())}`;
}

function move(step: number): void {
  const ids = shownAgents().map((a) => a.instance_id);
  if (ids.length === 0) return;
  const current = currentOf(shownAgents());
  const at = current === null ? -1 : ids.indexOf(current);
  const next = Math.min(ids.length - 1, Math.max(0, at + step));
  setCurrent(ids[next] ?? null, true);
}

function currentAgent(): Agent | undefined {
  const current = currentOf(shownAgents());
  return current === null ? undefined : state.active.get(current);
}

/** Keys of the search box: the picker's own. */
function onSearchKey(event: KeyboardEvent): void {
  const agent = currentAgent();
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    move(event.key === "ArrowDown" ? 1 : -1);
  } else if (event.key === "Enter" && agent) {
    event.preventDefault();
    openPanel(agent);
  } else if (event.key === "F2" && agent) {
    event.preventDefault();
    openRename(agent);
  } else if (event.key === "Delete" && event.altKey && agent) {
    event.preventDefault();
    void forget(agent, false);
  } else if (event.key === "Escape" && state.panel) {
    event.preventDefault();
    closePanel();
  }
}

/** Keys anywhere on the page (dialogs handle their own). */
function onPageKey(event: KeyboardEvent): void {
  if (document.querySelector("dialog[open]")) return;
  const target = event.target as HTMLElement;
  const typing = target.matches("input, select, textarea");
  if (event.altKey && event.code === "KeyN") {
    event.preventDefault();
    openCreate();
  } else if (event.altKey && event.code === "KeyZ" && state.undo) {
    event.preventDefault();
    void undoForget();
  } else if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    showView("agents");
    $("#search").focus();
  }
}

/** The Trash: ↑/↓ move between its rows, to the button in the same place (Restore or Delete). */
function onTrashKey(event: KeyboardEvent): void {
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const button = (event.target as HTMLElement).closest("button");
  const row = button?.closest("tr");
  if (!button || !row) return;
  const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
  const buttons = next?.querySelectorAll("button");
  if (!buttons || buttons.length === 0) return;
  event.preventDefault();
  const column = [...row.querySelectorAll("button")].indexOf(button);
  (buttons[Math.min(column, buttons.length - 1)] as HTMLButtonElement).focus();
}

/** The tabs: ←/→ move between them (and show their view), as the ARIA tabs pattern has it. */
function onTabKey(event: KeyboardEvent): void {
  const views: View[] = ["agents", "trash", "diagnostics"];
  const at = views.indexOf(state.view);
  const next =
    event.key === "ArrowRight"
      ? views[(at + 1) % views.length]
      : event.key === "ArrowLeft"
        ? views[(at + views.length - 1) % views.length]
        : event.key === "Home"
          ? views[0]
          : event.key === "End"
            ? views[views.length - 1]
            : undefined;
  if (!next) return;
  event.preventDefault();
  showView(next);
  $(`#tab-${next}`).focus();
}

// ---------------------------------------------------------------------------------------------
// Continue: the lines that continue the agent, beside its row

/** Remembered per definition: the program is the user's, and the same for each of its agents. */
const commandKey = (agent: Agent) => `agentmux-registry.command.${agent.definition_id}`;

class ContinuePanel {
  readonly row: HTMLTableRowElement;
  private readonly heading = h("h2", null);
  private readonly status = h("p", "hint");
  private readonly dir = code("…");
  private readonly input = h("input", null);
  private readonly exec = code("");
  private readonly cd = code("");
  private readonly copyDir: HTMLButtonElement;
  private readonly copyLines: HTMLButtonElement[];
  private readonly session = h("p", "hint");
  private workingDir: string | null = null;

  constructor(public agent: Agent) {
    const name = agent.instance_name;
    this.input.id = "continue-command";
    this.input.autocomplete = "off";
    this.input.spellcheck = false;
    this.input.placeholder = "e.g. claude --resume";
    this.input.value = localStorage.getItem(commandKey(agent)) ?? "";
    this.input.addEventListener("input", () => {
      localStorage.setItem(commandKey(this.agent), this.input.value);
      this.refresh();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        void this.copyExec();
      } else if (event.key === "Escape") {
        event.preventDefault();
        closePanel();
      }
    });
    this.copyDir = button("Copy", `Copy the working directory of ${name}`, () =>
      this.workingDir === null
        ? undefined
        : void copy(
            this.workingDir,
            this.dir,
            `the working directory of ${this.agent.instance_name}`,
          ),
    );
    const copyExec = button(
      "Copy",
      `Copy the command that continues ${name}`,
      () => void this.copyExec(),
    );
    const copyCd = button(
      "Copy",
      `Copy the cd form of the command for ${name}`,
      () =>
        void copy(
          this.cd.textContent ?? "",
          this.cd,
          `the cd form of the command for ${this.agent.instance_name}`,
        ),
    );
    this.copyLines = [copyExec, copyCd];
    const label = h("label", null, "Your command");
    label.htmlFor = this.input.id;
    const panel = h(
      "section",
      "continue-panel",
      this.heading,
      h(
        "p",
        "hint",
        "The page does not start agents and records nothing. Run one of these lines in a terminal: " +
          "the launch is recorded when it runs, and the agent is held while your command runs.",
      ),
      h("div", "line", h("span", "label", "Working directory"), this.dir, this.copyDir),
      h(
        "div",
        "line",
        label,
        this.input,
        h("span", "hint", "the program that runs this kind of agent, with its arguments"),
      ),
      h("div", "line", h("span", "label", "Continue"), this.exec, copyExec),
      h("div", "line", h("span", "label", "Or, staying there"), this.cd, copyCd),
      this.session,
      this.status,
      button("Close", `Close the lines for ${name}`, () => closePanel()),
    );
    panel.setAttribute("aria-label", `Continue ${name}`);
    const cell = h("td", null, panel);
    cell.colSpan = 5;
    this.row = h("tr", "panel-row", cell);
    this.update(agent);
    void this.lookUp();
  }

  /** The agent as the feed has it now (a rename, a new session id). */
  update(agent: Agent): void {
    this.agent = agent;
    this.heading.textContent = `Continue ${agent.instance_name}`;
    this.session.textContent = agent.session_id
      ? `Its session id, for your command to resume: ${agent.session_id}`
      : "";
    this.session.hidden = !agent.session_id;
    this.refresh();
  }

  focus(): void {
    this.input.focus();
    this.input.select();
  }

  /** The working directory as the service resolves it (`GET /api/agents/:id`: no launch). */
  private async lookUp(): Promise<void> {
    try {
      const found = await api<AgentLookup>("GET", agentPath(this.agent));
      this.workingDir = found.working_dir_path;
      this.dir.textContent = found.working_dir_path;
    } catch (error) {
      this.status.textContent = `Could not look up ${this.agent.instance_name}: ${messageOf(error)}`;
    }
    this.refresh();
  }

  private refresh(): void {
    const command = this.input.value.trim();
    const ready = this.workingDir !== null && command !== "";
    const lines = continueLines(this.agent, this.workingDir ?? "…", command || "<your command>");
    this.exec.textContent = lines.exec;
    this.cd.textContent = lines.cd;
    this.exec.classList.toggle("placeholder-text", !ready);
    this.cd.classList.toggle("placeholder-text", !ready);
    this.copyDir.disabled = this.workingDir === null;
    for (const b of this.copyLines) {
      b.disabled = !ready;
      b.title = ready ? "" : "Type your command first";
    }
  }

  private async copyExec(): Promise<void> {
    if (this.input.value.trim() === "") {
      this.status.textContent = "Type the command that runs your agent first.";
      return;
    }
    await copy(
      this.exec.textContent ?? "",
      this.exec,
      `the command that continues ${this.agent.instance_name}`,
    );
  }
}

function openPanel(agent: Agent): void {
  if (!live()) return;
  if (agent.in_use) {
    toast(`${agent.instance_name} is in use: ${inUseTitle(agent.in_use)}.`);
    return;
  }
  state.current = agent.instance_id;
  if (state.panel?.agent.instance_id !== agent.instance_id) state.panel = new ContinuePanel(agent);
  render();
  state.panel?.focus();
}

function closePanel(): void {
  state.panel = null;
  render();
  $("#search").focus();
}

/** Copies `text` (shown in `shown`) and says what was copied, naming the agent. */
async function copy(text: string, shown: HTMLElement, what: string): Promise<void> {
  toast(
    (await copyText(text, shown)) ? `Copied ${what}.` : `Selected ${what}: press Ctrl+C to copy.`,
  );
}

// ---------------------------------------------------------------------------------------------
// Actions

async function forget(agent: Agent, focusUndo = true): Promise<void> {
  if (!live()) return;
  const ids = shownAgents().map((a) => a.instance_id);
  const at = ids.indexOf(agent.instance_id);
  const wasCurrent = currentOf(shownAgents()) === agent.instance_id;
  // Moved on before the call: the feed may report the move before the call returns.
  if (wasCurrent) state.current = ids[at + 1] ?? ids[at - 1] ?? null;
  try {
    await api("POST", agentPath(agent, "/forget"));
  } catch (error) {
    if (wasCurrent) state.current = agent.instance_id;
    toast(`Could not forget ${agent.instance_name}: ${messageOf(error)}`);
    return;
  }
  render();
  state.undo = agent;
  toast(`Forgot ${agent.instance_name}.`, {
    label: "Undo",
    name: `Undo: Forgot ${agent.instance_name}.`,
    shortcut: "Alt+Z",
    action: () => void undoForget(),
    focus: focusUndo,
  });
}

/** Undo a Forget: the agent comes back from the Trash. */
async function undoForget(): Promise<void> {
  const agent = state.undo;
  if (!agent || !live()) return;
  state.undo = null;
  hideToast();
  // Wanted before the call: the feed may bring the agent back before the call returns.
  state.current = agent.instance_id;
  await restore(agent);
  render();
}

async function restore(agent: Agent): Promise<void> {
  try {
    await api("POST", agentPath(agent, "/restore"));
  } catch (error) {
    toast(`Could not restore ${agent.instance_name}: ${messageOf(error)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Dialogs: in the page (never prompt/confirm), focus moved in and given back on close

let returnFocus: HTMLElement | null = null;

function openDialog(dialog: HTMLDialogElement, first: HTMLElement): void {
  returnFocus = document.activeElement as HTMLElement | null;
  const error = dialog.querySelector<HTMLElement>(".error");
  if (error) error.hidden = true;
  dialog.showModal();
  first.focus();
}

function setupDialog(dialog: HTMLDialogElement, submit: () => Promise<string | null>): void {
  const form = dialog.querySelector("form") as HTMLFormElement;
  const error = dialog.querySelector(".error") as HTMLElement;
  const submitButton = form.querySelector<HTMLButtonElement>("[type=submit]") as HTMLButtonElement;
  dialog.querySelector(".cancel")?.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!live()) {
      error.textContent = "The page is not connected to the service; try again once it is live.";
      error.hidden = false;
      return;
    }
    submitButton.disabled = true;
    void submit().then((problem) => {
      submitButton.disabled = false;
      if (problem === null) {
        dialog.close();
        return;
      }
      error.textContent = problem;
      error.hidden = false;
      (form.querySelector("input") ?? submitButton).focus();
    });
  });
  dialog.addEventListener("close", () => {
    // The opener may be gone (its row re-rendered or removed): the search box is the home.
    const back =
      returnFocus?.isConnected === true
        ? returnFocus
        : state.view === "agents"
          ? $("#search")
          : $(`#tab-${state.view}`);
    back.focus();
    returnFocus = null;
  });
}

function openCreate(): void {
  if (!live()) return;
  $<HTMLFormElement>("#create-form").reset();
  openDialog($<HTMLDialogElement>("#create-dialog"), $("#create-name"));
}

let renaming: Agent | null = null;
function openRename(agent: Agent): void {
  if (!live()) return;
  renaming = agent;
  $("#rename-title").textContent = `Rename ${agent.instance_name}`;
  const input = $<HTMLInputElement>("#rename-name");
  input.value = agent.instance_name;
  openDialog($<HTMLDialogElement>("#rename-dialog"), input);
  input.select();
}

let deleting: Agent | null = null;
function openDelete(agent: Agent): void {
  if (!live()) return;
  deleting = agent;
  $("#delete-title").textContent = `Delete ${agent.instance_name} for good?`;
  $("#delete-text").replaceChildren(
    `Its record is removed from the Trash and cannot be restored. Its working directory (`,
    code(agent.working_dir),
    ") is kept.",
  );
  const dialog = $<HTMLDialogElement>("#delete-dialog");
  // Cancel first: Enter right after opening must not delete.
  openDialog(dialog, dialog.querySelector(".cancel") as HTMLElement);
}

setupDialog($<HTMLDialogElement>("#create-dialog"), async () => {
  const name = $<HTMLInputElement>("#create-name").value;
  const definitionId = $<HTMLInputElement>("#create-definition").value.trim();
  try {
    const created = await api<CreatedAgent>("POST", "/api/agents", { name, definitionId });
    // Shown at once; the feed's own copy of the change replaces it.
    state.active.set(created.agent.instance_id, created.agent);
    state.current = created.agent.instance_id;
    render();
    toast(`Created ${created.agent.instance_name} in ${created.working_dir_path}.`);
    return null;
  } catch (error) {
    return messageOf(error);
  }
});

setupDialog($<HTMLDialogElement>("#rename-dialog"), async () => {
  const agent = renaming;
  if (!agent) return null;
  const name = $<HTMLInputElement>("#rename-name").value;
  if (name === agent.instance_name) return null;
  try {
    await api("POST", agentPath(agent, "/rename"), { name });
    toast(`Renamed ${agent.instance_name} to ${name.trim()}.`);
    return null;
  } catch (error) {
    return `Could not rename ${agent.instance_name}: ${messageOf(error)}`;
  }
});

setupDialog($<HTMLDialogElement>("#delete-dialog"), async () => {
  const agent = deleting;
  if (!agent) return null;
  try {
    await api("DELETE", agentPath(agent));
    toast(`Deleted ${agent.instance_name}; its working directory is kept.`);
    return null;
  } catch (error) {
    return `Could not delete ${agent.instance_name}: ${messageOf(error)}`;
  }
});

// ---------------------------------------------------------------------------------------------
// The toast

let toastTimer: number | undefined;

function hideToast(): void {
  $("#toast").hidden = true;
}

function toast(
  message: string,
  undo?: { label: string; name: string; shortcut: string; action: () => void; focus: boolean },
): void {
  const box = $("#toast");
  // A toast replaced is an offer withdrawn: Alt+Z undoes only what the toast shows.
  if (!undo) state.undo = null;
  box.replaceChildren(h("span", null, message));
  box.hidden = false;
  if (undo) {
    const b = button(`${undo.label} (${undo.shortcut})`, undo.name, undo.action);
    b.setAttribute("aria-keyshortcuts", undo.shortcut);
    b.disabled = !live();
    box.append(b);
    // Only once the toast is shown: focus() on an element that is not rendered does nothing.
    if (undo.focus) b.focus();
  }
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(
    () => {
      hideToast();
      state.undo = null;
    },
    undo ? 10_000 : 5_000,
  );
}

// ---------------------------------------------------------------------------------------------
// Views and states

function showView(view: View): void {
  state.view = view;
  for (const name of ["agents", "trash", "diagnostics"] as const) {
    $(`#view-${name}`).hidden = name !== view;
    const tab = $(`#tab-${name}`);
    tab.setAttribute("aria-selected", String(name === view));
    tab.tabIndex = name === view ? 0 : -1;
  }
  if (view === "diagnostics") void refreshDoctor();
}

/** Diagnostics, scrolled to the problem about `subject` (a file of a flagged row). */
function showProblem(subject: string): void {
  showView("diagnostics");
  const item = [...document.querySelectorAll<HTMLElement>("#diagnostics-list li")].find(
    (li) => li.dataset.subject === subject,
  );
  item?.scrollIntoView({ block: "center" });
  $("#tab-diagnostics").focus();
}

const STATUS: Record<Phase, string> = {
  loading: "Loading…",
  live: "Live",
  disconnected: "Disconnected — reconnecting…",
  unauthorized: "Not authorised",
};

function setPhase(phase: Phase): void {
  if (state.phase === phase || state.phase === "unauthorized") return;
  state.phase = phase;
  const status = $("#status");
  status.textContent = STATUS[phase];
  status.dataset.state = phase;
  document.body.dataset.state = phase;
  $("#unauthorized").hidden = phase !== "unauthorized";
  $("#app").hidden = phase === "unauthorized";
  $("#disconnected").hidden = phase !== "disconnected";
  $<HTMLButtonElement>("#new-agent").disabled = phase !== "live";
  $("#new-agent").hidden = phase === "unauthorized";
  $("main").setAttribute("aria-busy", String(phase === "loading"));
  const undo = $("#toast").querySelector("button");
  if (undo) undo.disabled = phase !== "live";
  if (phase === "unauthorized") {
    events?.close();
    for (const dialog of document.querySelectorAll("dialog")) dialog.close();
  }
  render();
}

// ---------------------------------------------------------------------------------------------
// The feed and doctor

/**
 * Asks `doctor` again: on connect, after every change, and when Diagnostics is opened. One call
 * at a time; asks made meanwhile are folded into one more call.
 */
let doctorRunning = false;
let doctorAgain = false;
async function refreshDoctor(): Promise<void> {
  if (doctorRunning) {
    doctorAgain = true;
    return;
  }
  doctorRunning = true;
  const before = JSON.stringify([state.doctor, state.doctorError]);
  try {
    do {
      doctorAgain = false;
      try {
        state.doctor = await api<DoctorReportJson>("GET", "/api/doctor");
        state.doctorError = null;
      } catch (error) {
        state.doctorError = messageOf(error);
      }
    } while (doctorAgain);
  } finally {
    doctorRunning = false;
  }
  // Most answers repeat the last one: rebuilding every row for them only churns the page.
  if (JSON.stringify([state.doctor, state.doctorError]) !== before) render();
}

let events: EventSource | null = null;
let retryMs = 250;

/**
 * Opens the feed. On an error the page closes it and retries itself, after asking whether the
 * token is refused (retrying never helps then): EventSource gives up by itself on some failures
 * (an HTTP error) and not on others, and the page must know which state it is in.
 */
function connect(): void {
  if (token === "") {
    setPhase("unauthorized");
    return;
  }
  const feed = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  events = feed;
  feed.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse((event as MessageEvent).data) as Snapshot;
    state.active = new Map(snapshot.active.map((a) => [a.instance_id, a]));
    state.retired = new Map(snapshot.retired.map((a) => [a.instance_id, a]));
    state.skipped = snapshot.skipped;
    retryMs = 250;
    setPhase("live");
    render();
    void refreshDoctor();
  });
  feed.addEventListener("changes", (event) => {
    const { changes, skipped } = JSON.parse((event as MessageEvent).data) as ChangesMessage;
    for (const change of changes) {
      state.active.delete(change.id);
      state.retired.delete(change.id);
      if (change.agent && change.tree) state[change.tree].set(change.id, change.agent);
    }
    state.skipped = skipped;
    render();
    void refreshDoctor();
  });
  feed.addEventListener("error", () => {
    feed.close();
    if (events !== feed) return;
    if (state.phase !== "loading") setPhase("disconnected");
    void fetch("/api/agents?limit=1", { headers: { authorization: `Bearer ${token}` } })
      .then(
        (response) => response.status === 401,
        () => false,
      )
      .then((refused) => {
        if (refused) setPhase("unauthorized");
        else {
          if (state.phase === "loading") setPhase("disconnected");
          setTimeout(connect, retryMs);
          retryMs = Math.min(retryMs * 2, 4_000);
        }
      });
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

for (const name of ["agents", "trash", "diagnostics"] as const) {
  const tab = $(`#tab-${name}`);
  tab.addEventListener("click", () => showView(name));
  tab.addEventListener("keydown", onTabKey);
}
const search = $<HTMLInputElement>("#search");
// As in an editor's quick-open: a new search starts from its best match.
const newSearch = () => {
  state.current = null;
  render();
};
search.addEventListener("input", newSearch);
search.addEventListener("keydown", onSearchKey);
$("#filter-definition").addEventListener("change", newSearch);
$("#new-agent").addEventListener("click", openCreate);
$("#trash").addEventListener("keydown", onTrashKey);
document.addEventListener("keydown", onPageKey);
setInterval(render, 60_000);
search.focus();
connect();
