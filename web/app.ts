/**
 * The agent picker: Continue (filter, search, continue, rename, forget with undo), Trash (restore,
 * delete) and Diagnostics. State comes from the service's event stream — a snapshot on connect,
 * then changes made by anyone — so the page stays live without reloading.
 */

interface Agent {
  instance_id: string;
  instance_name: string;
  definition_id: string;
  identity_id: string | null;
  memory_id: string | null;
  session_id: string | null;
  working_dir: string;
  last_launched_at_ms: number;
}

interface Snapshot {
  active: Agent[];
  retired: Agent[];
  skipped: { file: string; reason: string; message: string }[];
}

interface Change {
  type: "created" | "updated" | "retired" | "restored" | "deleted";
  id: string;
  tree: "active" | "retired" | null;
  agent: Agent | null;
}

const token = new URLSearchParams(location.search).get("token") ?? "";
const state = {
  active: new Map<string, Agent>(),
  retired: new Map<string, Agent>(),
  skipped: [] as Snapshot["skipped"],
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
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error?.message ?? `HTTP ${response.status}`);
  return payload as T;
}

function relativeTime(ms: number): string {
  const seconds = (Date.now() - ms) / 1000;
  if (Math.abs(seconds) < 45) return "just now";
  const units: [number, string][] = [
    [60, "min"],
    [60, "h"],
    [24, "d"],
    [30.44, "mo"],
    [12, "y"],
  ];
  let value = Math.abs(seconds) / 60;
  let unit = "min";
  for (let i = 1; i < units.length; i++) {
    const [size, name] = units[i] as [number, string];
    if (value < size) break;
    value /= size;
    unit = name;
  }
  return seconds >= 0 ? `${Math.round(value)} ${unit} ago` : `in ${Math.round(value)} ${unit}`;
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

const newestFirst = (a: Agent, b: Agent) =>
  b.last_launched_at_ms - a.last_launched_at_ms ||
  (a.instance_id < b.instance_id ? -1 : a.instance_id > b.instance_id ? 1 : 0);

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
    .sort(newestFirst);
  const body = $<HTMLTableSectionElement>("#agents tbody");
  body.replaceChildren(
    ...agents.map((agent) => {
      const row = document.createElement("tr");
      row.dataset.id = agent.instance_id;
      const actions = cell("", "actions");
      actions.append(
        button("Continue", `Continue ${agent.instance_name}`, () => void continueAgent(agent)),
        button("Rename", `Rename ${agent.instance_name}`, () => void renameAgent(agent)),
        button("Forget", `Forget ${agent.instance_name}`, () => void forgetAgent(agent)),
      );
      row.append(
        cell(agent.instance_name, "name"),
        cell(agent.definition_id),
        cell(agent.identity_id ?? "—"),
        cell(agent.memory_id ?? "—"),
        cell(agent.working_dir),
        cell(relativeTime(agent.last_launched_at_ms)),
        actions,
      );
      return row;
    }),
  );
  $("#agents-empty").hidden = agents.length > 0;

  const retired = [...state.retired.values()].sort(newestFirst);
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
        cell(agent.instance_name, "name"),
        cell(agent.definition_id),
        cell(agent.working_dir),
        cell(relativeTime(agent.last_launched_at_ms)),
        actions,
      );
      return row;
    }),
  );
  $("#trash-empty").hidden = retired.length > 0;

  const count = state.skipped.length;
  $("#diagnostics-summary").textContent =
    count === 0
      ? "All agent records could be loaded."
      : `${count} agent record${count === 1 ? "" : "s"} could not be loaded.`;
  $("#diagnostics-list").replaceChildren(
    ...state.skipped.map((s) => {
      const item = document.createElement("li");
      const file = document.createElement("code");
      file.textContent = s.file;
      // Entries refreshed from /api/doctor carry no reason of their own (it is in the message).
      item.append(file, s.reason === "" ? ` — ${s.message}` : ` — ${s.reason}: ${s.message}`);
      return item;
    }),
  );
  $("#tab-diagnostics").textContent = count === 0 ? "Diagnostics" : `Diagnostics (${count})`;
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
    const result = await api<{ working_dir_path: string; resume_command: string }>(
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
    state.skipped = snapshot.skipped;
    $("#status").textContent = "Live";
    render();
  });
  events.addEventListener("changes", (event) => {
    const { changes, skipped } = JSON.parse((event as MessageEvent).data) as {
      changes: Change[];
      skipped: Snapshot["skipped"];
    };
    for (const change of changes) {
      state.active.delete(change.id);
      state.retired.delete(change.id);
      if (change.agent && change.tree) state[change.tree].set(change.id, change.agent);
    }
    state.skipped = skipped;
    render();
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
  tab.addEventListener("click", () => showView(tab.dataset.view ?? "continue"));
}
$("#filter-definition").addEventListener("change", render);
$("#filter-name").addEventListener("input", render);
setInterval(render, 60_000);
connect();
