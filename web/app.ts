/**
 * The agent picker: Continue (filter, search, continue, rename, forget with undo), Trash (restore,
 * delete) and Diagnostics. State comes from the service's event stream — a snapshot on connect,
 * then changes made by anyone — so the page stays live without reloading; Diagnostics shows what
 * `/api/doctor` reports, asked again after every change.
 *
 * The wire types come from src/api.ts and the formatting from src/present.ts, shared with the CLI:
 * `npm run build` bundles this file with them (esbuild) into dist/web/app.js.
 */

import type {
  Agent,
  ChangesMessage,
  ContinuedAgent,
  DoctorReportJson,
  ErrorBody,
  InUse,
  ProblemJson,
  Snapshot,
} from "../src/api.js";
import { compareNewestFirst, holderText, relativeTime } from "../src/present.js";

const token = new URLSearchParams(location.search).get("token") ?? "";
const state = {
  active: new Map<string, Agent>(),
  retired: new Map<string, Agent>(),
  /** What `doctor` found last; `null` until it first answered. */
  doctor: null as DoctorReportJson | null,
  /** Why the last `doctor` call failed, if it did. */
  doctorError: null as string | null,
};

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = (await response.json()) as T | Partial<ErrorBody>;
  if (!response.ok)
    throw new Error((payload as Partial<ErrorBody>).error?.message ?? `HTTP ${response.status}`);
  return payload as T;
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(label: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.title = title;
  b.setAttribute("aria-label", title);
  b.addEventListener("click", onClick);
  return b;
}

/** The name cell: the name, and a badge saying who holds the agent when a live process does. */
function nameCell(agent: Agent): HTMLTableCellElement {
  const td = cell(agent.instance_name, "name");
  if (agent.in_use) {
    const badge = document.createElement("span");
    badge.className = "in-use";
    badge.textContent = `in use · ${holderText(agent.in_use.holder)}`;
    badge.title = inUseTitle(agent.in_use);
    td.append(" ", badge);
  }
  return td;
}

/** Who holds the agent and since when, in a sentence. */
function inUseTitle(inUse: InUse): string {
  const since = inUse.holder
    ? `, claimed ${relativeTime(inUse.holder.acquired_at_ms, Date.now())}`
    : "";
  return `In use by ${holderText(inUse.holder)}${since}`;
}

/** Continue, or (while another process holds the agent) a disabled Continue saying who does. */
function continueButton(agent: Agent): HTMLButtonElement {
  const b = button("Continue", `Continue ${agent.instance_name}`, () => void continueAgent(agent));
  if (agent.in_use) {
    b.disabled = true;
    b.title = `${inUseTitle(agent.in_use)}: it cannot be continued until that process lets go`;
    b.setAttribute("aria-label", `Continue ${agent.instance_name} (${b.title})`);
  }
  return b;
}

/** Re-rendering replaces rows: keep a keyboard user's focus on the same button of the same row. */
function render(): void {
  const focused = document.activeElement;
  const row = focused?.closest<HTMLTableRowElement>("tr[data-id]");
  const label = focused instanceof HTMLButtonElement ? focused.textContent : null;
  const table = row?.closest("table")?.id;
  renderViews();
  if (row && label && table) {
    const again = [...document.querySelectorAll<HTMLButtonElement>(`#${table} tr button`)].find(
      (b) =>
        b.closest<HTMLTableRowElement>("tr")?.dataset.id === row.dataset.id &&
        b.textContent === label,
    );
    again?.focus();
  }
}

function renderViews(): void {
  const definition = $<HTMLSelectElement>("#filter-definition");
  const chosen = definition.value;
  const definitions = [...new Set([...state.active.values()].map((a) => a.definition_id))].sort();
  definition.replaceChildren(new Option("all", ""), ...definitions.map((d) => new Option(d, d)));
  definition.value = definitions.includes(chosen) ? chosen : "";

  const search = $<HTMLInputElement>("#filter-name").value.trim().toLowerCase();
  const agents = [...state.active.values()]
    .filter((a) => definition.value === "" || a.definition_id === definition.value)
    .filter((a) => search === "" || a.instance_name.toLowerCase().includes(search))
    .sort(compareNewestFirst);
  const body = $<HTMLTableSectionElement>("#agents tbody");
  body.replaceChildren(
    ...agents.map((agent) => {
      const row = document.createElement("tr");
      row.dataset.id = agent.instance_id;
      const actions = cell("", "actions");
      actions.append(
        continueButton(agent),
        button("Rename", `Rename ${agent.instance_name}`, () => void renameAgent(agent)),
        button("Forget", `Forget ${agent.instance_name}`, () => void forgetAgent(agent)),
      );
      row.append(
        nameCell(agent),
        cell(agent.definition_id),
        cell(agent.identity_id ?? "—"),
        cell(agent.memory_id ?? "—"),
        cell(agent.working_dir),
        cell(relativeTime(agent.last_launched_at_ms, Date.now())),
        actions,
      );
      return row;
    }),
  );
  $("#agents-empty").hidden = agents.length > 0;

  const retired = [...state.retired.values()].sort(compareNewestFirst);
  $("#trash-count").textContent = String(retired.length);
  $<HTMLTableSectionElement>("#trash tbody").replaceChildren(
    ...retired.map((agent) => {
      const row = document.createElement("tr");
      row.dataset.id = agent.instance_id;
      const actions = cell("", "actions");
      actions.append(
        button(
          "Restore",
          `Restore ${agent.instance_name}`,
          () =>
            void run(() =>
              api("POST", `/api/agents/${encodeURIComponent(agent.instance_id)}/restore`),
            ),
        ),
        button("Delete", `Delete ${agent.instance_name} for good`, () => void deleteAgent(agent)),
      );
      row.append(
        nameCell(agent),
        cell(agent.definition_id),
        cell(agent.working_dir),
        cell(relativeTime(agent.last_launched_at_ms, Date.now())),
        actions,
      );
      return row;
    }),
  );
  $("#trash-empty").hidden = retired.length > 0;

  renderDiagnostics();
}

/** The sentence for `count` problems of one kind, in the summary. */
const PROBLEM_SUMMARY: Record<ProblemJson["kind"], (count: number, s: string) => string> = {
  "skipped-file": (n, s) => `${n} agent record${s} could not be loaded.`,
  "in-both-trees": (n, s) =>
    `${n} agent${s} ${n === 1 ? "is" : "are"} both active and in the Trash.`,
  "stale-file": (n, s) => `${n} file${s} left by a writer that crashed.`,
  "odd-entry": (n, s) => `${n} odd entr${s === "" ? "y" : "ies"} in the registry.`,
  "working-dir-missing": (n, s) => `${n} working director${s === "" ? "y is" : "ies are"} missing.`,
  "working-dir-escapes": (n, s) =>
    `${n} working director${s === "" ? "y leads" : "ies lead"} outside ${n === 1 ? "its" : "their"} base.`,
  "migration-incomplete": () => "The migration from SQLite has not completed.",
  "lease-unreadable": (n, s) => `${n} lease file${s} cannot be read.`,
  "lease-expired": (n, s) => `${n} lease file${s} expired long ago.`,
};

/** Everything `doctor` reports: one sentence per kind, then each problem with its fix. */
function renderDiagnostics(): void {
  const report = state.doctor;
  const problems = report?.problems ?? [];
  const counts = new Map<ProblemJson["kind"], number>();
  for (const problem of problems) counts.set(problem.kind, (counts.get(problem.kind) ?? 0) + 1);
  const summary = [...counts].map(([kind, n]) => PROBLEM_SUMMARY[kind](n, n === 1 ? "" : "s"));
  $("#diagnostics-summary").textContent =
    state.doctorError !== null
      ? `Diagnostics could not be loaded: ${state.doctorError}`
      : report === null
        ? "Checking…"
        : summary.length === 0
          ? "No problems: every agent record could be loaded."
          : summary.join(" ");
  $("#diagnostics-list").replaceChildren(
    ...problems.map((problem) => {
      const item = document.createElement("li");
      item.dataset.kind = problem.kind;
      const subject = document.createElement("code");
      subject.textContent = problem.subject;
      const fix = document.createElement("div");
      fix.className = "fix";
      const command = document.createElement("code");
      command.textContent = problem.fix;
      fix.append("Fix: ", command);
      item.append(subject, ` — ${problem.message}`, fix);
      return item;
    }),
  );
  $("#tab-diagnostics").textContent =
    problems.length === 0 ? "Diagnostics" : `Diagnostics (${problems.length})`;
}

/**
 * Asks `doctor` again: on connect, after every change (working directories and stray files are
 * its findings, not the feed's), and when Diagnostics is opened. One call at a time; asks made
 * meanwhile are folded into one more call.
 */
let doctorRunning = false;
let doctorAgain = false;
async function refreshDoctor(): Promise<void> {
  if (doctorRunning) {
    doctorAgain = true;
    return;
  }
  doctorRunning = true;
  try {
    do {
      doctorAgain = false;
      try {
        state.doctor = await api<DoctorReportJson>("GET", "/api/doctor");
        state.doctorError = null;
      } catch (error) {
        state.doctorError = error instanceof Error ? error.message : String(error);
      }
    } while (doctorAgain);
  } finally {
    doctorRunning = false;
  }
  renderDiagnostics();
}

async function run(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    showToast(`Error: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function continueAgent(agent: Agent): Promise<void> {
  await run(async () => {
    const result = await api<ContinuedAgent>(
      "POST",
      `/api/agents/${encodeURIComponent(agent.instance_id)}/continue`,
      {},
    );
    const box = $("#continue-result");
    const dir = document.createElement("code");
    dir.textContent = result.working_dir_path;
    const command = document.createElement("code");
    command.textContent = result.resume_command;
    const title = document.createElement("strong");
    title.textContent = `Continue ${agent.instance_name}`;
    box.replaceChildren(
      title,
      document.createElement("br"),
      "Working dir: ",
      dir,
      document.createElement("br"),
      "Resume: ",
      command,
    );
    box.hidden = false;
  });
}

async function renameAgent(agent: Agent): Promise<void> {
  const name = prompt(`New name for ${agent.instance_name}`, agent.instance_name);
  if (name === null || name.trim() === "" || name === agent.instance_name) return;
  await run(() =>
    api("POST", `/api/agents/${encodeURIComponent(agent.instance_id)}/rename`, { name }),
  );
}

async function forgetAgent(agent: Agent): Promise<void> {
  await run(async () => {
    await api("POST", `/api/agents/${encodeURIComponent(agent.instance_id)}/forget`);
    showToast(`Forgot ${agent.instance_name}.`, {
      label: "Undo",
      action: () =>
        void run(() => api("POST", `/api/agents/${encodeURIComponent(agent.instance_id)}/restore`)),
    });
  });
}

async function deleteAgent(agent: Agent): Promise<void> {
  if (!confirm(`Delete ${agent.instance_name} for good? Its working directory is kept.`)) return;
  await run(() => api("DELETE", `/api/agents/${encodeURIComponent(agent.instance_id)}`));
}

let toastTimer: number | undefined;
function showToast(message: string, undo?: { label: string; action: () => void }): void {
  const toast = $("#toast");
  const text = document.createElement("span");
  text.textContent = message;
  toast.replaceChildren(text);
  toast.hidden = false;
  if (undo) {
    const b = button(undo.label, `${undo.label}: ${message}`, () => {
      toast.hidden = true;
      undo.action();
    });
    toast.append(b);
    // Only once the toast is shown: focus() on an element that is not rendered does nothing.
    b.focus();
  }
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => {
    toast.hidden = true;
  }, 8000);
}

function showView(view: string): void {
  for (const name of ["continue", "trash", "diagnostics"]) {
    $(`#view-${name}`).hidden = name !== view;
    $(`#tab-${name}`).setAttribute("aria-pressed", String(name === view));
  }
}

function connect(): void {
  const events = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  events.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse((event as MessageEvent).data) as Snapshot;
    state.active = new Map(snapshot.active.map((a) => [a.instance_id, a]));
    state.retired = new Map(snapshot.retired.map((a) => [a.instance_id, a]));
    $("#status").textContent = "Live";
    render();
    void refreshDoctor();
  });
  events.addEventListener("changes", (event) => {
    const { changes } = JSON.parse((event as MessageEvent).data) as ChangesMessage;
    for (const change of changes) {
      state.active.delete(change.id);
      state.retired.delete(change.id);
      if (change.agent && change.tree) state[change.tree].set(change.id, change.agent);
    }
    render();
    void refreshDoctor();
  });
  events.addEventListener("error", () => {
    $("#status").textContent = "Reconnecting…";
    // A refused token never gets better by retrying: say so and stop.
    void fetch("/api/agents?limit=1", { headers: { authorization: `Bearer ${token}` } }).then(
      (response) => {
        if (response.status !== 401) return;
        events.close();
        $("#status").textContent =
          "Not authorized: open the address the service printed (it carries the token).";
      },
      () => {
        // The service is down: EventSource keeps retrying, and the status already says so.
      },
    );
  });
}

for (const tab of document.querySelectorAll<HTMLButtonElement>("nav button")) {
  tab.addEventListener("click", () => {
    const view = tab.dataset.view ?? "continue";
    showView(view);
    if (view === "diagnostics") void refreshDoctor();
  });
}
$("#filter-definition").addEventListener("change", render);
$("#filter-name").addEventListener("input", render);
setInterval(render, 60_000);
connect();
