/**
 * The web page in a real browser (Debian's chromium through playwright-core) against the BUILT
 * service started as a black box: the keyboard path (filter, move, Enter, copy, Forget, Undo),
 * Continue recording nothing, Create, Rename, Restore and Delete through in-page dialogs, live
 * updates from a separate CLI process, Diagnostics equal to `doctor`, and broken files flagged in
 * the list. Every test has its own sandbox, service and browser; screenshots land in
 * test-results/screenshots/.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import type { DoctorReportJson, RecordInput } from "../../src/index.js";
import { relativeTime } from "../../src/present.js";
import { makeRecord } from "../helpers.js";
import {
  eventually,
  type PageOptions,
  rowIds,
  type Sandbox,
  type Service,
  sandbox,
  screenshot,
  skipWithoutChromium,
} from "./support.js";

const HOUR = 3_600_000;
const T0 = Date.now() - 3 * 24 * HOUR;

/** Ids that differ from their first character, so an id prefix picks one agent. */
const idOf = (n: number) => `${String(n).repeat(8)}-0000-4000-8000-000000000000`;

/** Five active agents (launch order ≠ id order, one tie) and one in the Trash. */
const SEED: Record<string, { n: number; definition: string; launched: number }> = {
  alpha: { n: 1, definition: "claude-code", launched: T0 + HOUR },
  bravo: { n: 2, definition: "codex", launched: T0 + 3 * HOUR },
  charlie: { n: 3, definition: "gemini-cli", launched: T0 + 2 * HOUR },
  delta: { n: 4, definition: "codex", launched: T0 },
  echo: { n: 5, definition: "claude-code", launched: T0 + HOUR },
  foxtrot: { n: 6, definition: "codex", launched: T0 + 4 * HOUR },
};
const id = (name: keyof typeof SEED) => idOf(SEED[name]?.n ?? 0);
/** Newest launch first; alpha and echo tie and go by id. foxtrot is in the Trash. */
const ACTIVE_ORDER = ["bravo", "charlie", "alpha", "echo", "delta"];

const seedRecords = (): RecordInput[] =>
  Object.entries(SEED).map(([name, { n, definition, launched }]) =>
    makeRecord(idOf(n), {
      instance_name: name,
      definition_id: definition,
      created_at_ms: T0 - HOUR,
      last_launched_at_ms: launched,
      working_dir: `${name}-wd`,
      // charlie holds a provider session: its Continue line passes it on.
      session_id: name === "charlie" ? "sess-42" : null,
    }),
  );

/** Sandbox + seeded registry + service + page; everything stopped when the test ends. */
async function open(
  t: Parameters<typeof sandbox>[0],
  options?: PageOptions,
): Promise<{ box: Sandbox; service: Service; page: Page }> {
  const box = await sandbox(t);
  await box.seed(seedRecords(), [id("foxtrot")]);
  const service = await box.serve();
  const page = await box.openPage(service, options);
  return { box, service, page };
}

const row = (page: Page, agentId: string) => page.locator(`#agents tr[data-id="${agentId}"]`);
const names = (page: Page) => page.locator("#agents tr[data-id] td.name").allTextContents();
const count = (page: Page, tab: string) => page.locator(`#${tab}-count`).textContent();
const focusedId = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { document: Document }).document.activeElement?.id);
const current = (page: Page) => page.locator("#agents tr.current td.name").textContent();
const clipboard = (page: Page) =>
  page.evaluate(() =>
    (
      globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
    ).navigator.clipboard.readText(),
  );

/** `show --json` through the CLI: the record on disk as another process reads it. */
async function shown(box: Sandbox, agentId: string) {
  const result = await box.cli(["--json", "show", agentId]);
  assert.equal(result.code, 0, result.stderr);
  return (
    JSON.parse(result.stdout) as { agent: { last_launched_at_ms: number; instance_name: string } }
  ).agent;
}

interface Document {
  activeElement: { id: string } | null;
}

test("lists agents newest launch first, with counts on the tabs and broken files flagged where they would be", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed(seedRecords(), [id("foxtrot")]);
  writeFileSync(join(box.root, "broken.json"), "{ not json");
  writeFileSync(join(box.root, "retired", "gone.json"), '{"schema_version": 1, "data": 7}\n');
  const service = await box.serve();
  const page = await box.openPage(service);

  assert.deepEqual(await names(page), ACTIVE_ORDER);
  assert.deepEqual(
    await rowIds(page, "#agents"),
    ACTIVE_ORDER.map((n) => id(n)),
  );
  assert.equal(await count(page, "agents"), "5");
  assert.equal(await count(page, "trash"), "1");
  await page.locator("#diagnostics-count").filter({ hasText: "2" }).waitFor();
  assert.equal(await current(page), "bravo", "the newest agent is the current row");
  // Times read as the CLI's (src/present.ts).
  assert.equal(
    await row(page, id("bravo")).locator("td.time").textContent(),
    relativeTime(SEED.bravo?.launched ?? 0, Date.now()),
  );

  // The unreadable file is a flagged row of the list, and its Details lead to Diagnostics.
  const broken = page.locator('#agents tr.broken[data-file="broken.json"]');
  assert.match((await broken.textContent()) ?? "", /unreadable\s*broken\.json.*invalid-json/);
  await screenshot(page, "list");
  await page.locator("#tab-trash").click();
  assert.deepEqual(await rowIds(page, "#trash"), [id("foxtrot")]);
  assert.equal(await page.locator('#trash tr.broken[data-file="retired/gone.json"]').count(), 1);
  assert.equal(await page.locator("#view-agents").isVisible(), false);
  await page.locator("#tab-agents").click();
  await broken.getByRole("button", { name: /^Details of broken\.json/ }).click();
  assert.equal(await page.locator("#view-diagnostics").isVisible(), true);
  await page
    .locator('#diagnostics-list li[data-subject="broken.json"] .path')
    .filter({ hasText: join(box.root, "broken.json") })
    .waitFor();
  await screenshot(page, "diagnostics");
});

test("keyboard: search filters by name, id prefix and definition; arrows move; Enter shows the exact lines and records nothing", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);
  assert.equal(await focusedId(page), "search", "focus starts in the search box");
  const search = page.locator("#search");

  await page.keyboard.type("HA");
  assert.deepEqual(await names(page), ["charlie", "alpha"], "name, case-insensitive");
  await search.fill("");
  await page.keyboard.type("4444");
  assert.deepEqual(await names(page), ["delta"], "id prefix");
  await search.fill("");
  await page.keyboard.type("codex");
  assert.deepEqual(await names(page), ["bravo", "delta"], "definition");
  await search.fill("");
  assert.deepEqual(await names(page), ACTIVE_ORDER);
  await page.locator("#filter-definition").selectOption("claude-code");
  assert.deepEqual(await names(page), ["alpha", "echo"], "the definition filter");
  await page.locator("#filter-definition").selectOption("");
  // "/" brings the focus back to the search box from anywhere.
  await page.locator("#tab-trash").focus();
  await page.keyboard.press("/");
  assert.equal(await focusedId(page), "search");
  assert.equal(await search.inputValue(), "", "the slash is not typed");

  assert.equal(await current(page), "bravo");
  await page.keyboard.press("ArrowDown");
  assert.equal(await current(page), "charlie");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("ArrowUp");
  assert.equal(await current(page), "alpha");
  assert.equal(
    await page.locator("#current").textContent(),
    `alpha, claude-code, launched ${relativeTime(T0 + HOUR, Date.now())}`,
  );
  await page.keyboard.press("ArrowUp");
  assert.equal(await current(page), "charlie");

  const before = await shown(box, id("charlie"));
  await page.keyboard.press("Enter");
  const panel = page.locator(".continue-panel");
  await panel.waitFor();
  // Beside its row: the row right after charlie's.
  assert.equal(
    await page
      .locator(`#agents tr[data-id="${id("charlie")}"] + tr.panel-row .continue-panel`)
      .count(),
    1,
  );
  assert.equal(await focusedId(page), "continue-command", "focus moves to the command box");
  const dir = realpathSync(join(box.agentsBase, "charlie-wd"));
  await panel.locator("code").first().filter({ hasText: dir }).waitFor();
  assert.equal(await panel.getByRole("button", { name: /^Copy the command/ }).isDisabled(), true);
  await screenshot(page, "continue-empty");

  await page.keyboard.type("gemini --resume 'x y'");
  const exec = `agentmux-registry continue ${id("charlie")} --session sess-42 --exec -- gemini --resume 'x y'`;
  const codes = await panel.locator("code").allTextContents();
  assert.deepEqual(codes, [dir, exec, `cd ${dir.includes(" ") ? `'${dir}'` : dir} && ${exec}`]);
  assert.doesNotMatch(
    codes.join("\n"),
    /-- '?gemini-cli/,
    "the definition id is never the program",
  );
  await page.keyboard.press("Enter");
  await page
    .locator("#toast")
    .filter({ hasText: "Copied the command that continues charlie." })
    .waitFor();
  assert.equal(await clipboard(page), exec);
  await panel.getByRole("button", { name: "Copy the working directory of charlie" }).click();
  await eventually(async () => assert.equal(await clipboard(page), dir));
  await screenshot(page, "continue");

  // The page recorded no launch: the record is as it was, and charlie keeps its place.
  assert.equal((await shown(box, id("charlie"))).last_launched_at_ms, before.last_launched_at_ms);
  assert.deepEqual(await names(page), ACTIVE_ORDER);

  // The command is remembered for the definition, and Escape goes back to the search box.
  await panel.locator("#continue-command").focus();
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "detached" });
  assert.equal(await focusedId(page), "search");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#continue-command").inputValue(), "gemini --resume 'x y'");
});

test("keyboard: Alt+Delete forgets the current agent, Alt+Z undoes it; Tab reaches every button, with a focus ring", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);

  await page.keyboard.press("ArrowDown");
  assert.equal(await current(page), "charlie");
  await page.keyboard.press("Alt+Delete");
  const toast = page.locator("#toast");
  await toast.filter({ hasText: "Forgot charlie." }).waitFor();
  await row(page, id("charlie")).waitFor({ state: "detached" });
  assert.equal(await current(page), "alpha", "the next row becomes current");
  assert.equal(await focusedId(page), "search", "the search box keeps the focus");
  await eventually(async () => assert.equal(await count(page, "trash"), "2"));
  assert.ok(existsSync(join(box.root, "retired", `${id("charlie")}.json`)));
  await screenshot(page, "forget-toast");

  await page.keyboard.press("Alt+z");
  await row(page, id("charlie")).waitFor();
  assert.deepEqual(await names(page), ACTIVE_ORDER);
  await eventually(async () => assert.equal(await count(page, "trash"), "1"));
  assert.equal(await toast.isVisible(), false);
  assert.equal(await current(page), "charlie");

  // Without the shortcuts: Tab from the search box reaches bravo's buttons; Enter on Forget
  // forgets, and the toast's Undo takes the focus.
  const label = async () =>
    (await page.locator(":focus").getAttribute("aria-label")) ??
    (await page.locator(":focus").textContent()) ??
    "";
  const seen: string[] = [];
  for (let i = 0; i < 12 && (await label()) !== "Forget bravo"; i++) {
    await page.keyboard.press("Tab");
    seen.push(await label());
  }
  assert.deepEqual(
    seen.slice(-3),
    ["Continue bravo", "Rename bravo", "Forget bravo"],
    seen.join(" → "),
  );
  assert.equal(await page.locator(":focus-visible").getAttribute("aria-label"), "Forget bravo");
  const outline = await page
    .locator(":focus")
    .evaluate((b) => getComputedStyle(b as never).outlineStyle);
  assert.equal(outline, "solid", "the focused button shows a focus ring");
  await screenshot(page, "keyboard-focus");
  await page.keyboard.press("Enter");
  await toast.filter({ hasText: "Forgot bravo." }).waitFor();
  assert.equal(await label(), "Undo: Forgot bravo.");
  await page.keyboard.press("Enter");
  await row(page, id("bravo")).waitFor();
  await eventually(async () => assert.equal(await count(page, "trash"), "1"));
});

declare function getComputedStyle(element: never): { outlineStyle: string };

test("Create: an in-page dialog offers the definitions in use, shows the CLI's own refusal, and the new agent becomes current", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);
  const nativeDialogs: string[] = [];
  page.on("dialog", (dialog) => nativeDialogs.push(dialog.type()));

  await page.keyboard.press("Alt+n");
  const dialog = page.locator("#create-dialog");
  await dialog.waitFor();
  assert.equal(await focusedId(page), "create-name");
  assert.deepEqual(
    await page
      .locator("#definitions option")
      .evaluateAll((options) => options.map((o) => (o as unknown as { value: string }).value)),
    ["claude-code", "codex", "gemini-cli"],
    "every definition in use, the Trash's included",
  );

  // A name the CLI refuses: the page shows the service's message, which is the CLI's.
  const cli = await box.cli(["--json", "create", "--name", "  ", "--definition", "aider"]);
  assert.notEqual(cli.code, 0);
  const cliMessage = (JSON.parse(cli.stdout) as { error: { message: string } }).error.message;
  await page.keyboard.type("  ");
  await page.locator("#create-definition").fill("aider");
  await page.keyboard.press("Enter");
  await page.locator("#create-error").filter({ hasText: cliMessage }).waitFor();
  assert.equal(await dialog.isVisible(), true, "the dialog stays open");
  await screenshot(page, "create-refused");

  await page.locator("#create-name").fill("from the page");
  await page.locator("#create-definition").fill("aider");
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "hidden" });
  await page
    .locator("#toast")
    .filter({ hasText: /^Created from the page in / })
    .waitFor();
  assert.equal(await current(page), "from the page");
  assert.equal((await names(page))[0], "from the page");
  assert.equal(await focusedId(page), "search", "focus comes back to where it was");
  const listed = await box.cli(["--json", "list"]);
  assert.match(listed.stdout, /"instance_name":\s*"from the page"/);
  assert.deepEqual(nativeDialogs, [], "no prompt, confirm or alert");
});

test("Rename (F2) and Delete use in-page dialogs; Restore and Delete from the Trash", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);
  const nativeDialogs: string[] = [];
  page.on("dialog", (dialog) => nativeDialogs.push(dialog.type()));

  await page.keyboard.press("F2");
  const rename = page.locator("#rename-dialog");
  await rename.waitFor();
  assert.equal(await page.locator("#rename-title").textContent(), "Rename bravo");
  assert.equal(await page.locator("#rename-name").inputValue(), "bravo");
  await page.keyboard.type("renamed bravo");
  await page.keyboard.press("Enter");
  await row(page, id("bravo")).locator("td.name", { hasText: "renamed bravo" }).waitFor();
  assert.equal((await shown(box, id("bravo"))).instance_name, "renamed bravo");
  await page.locator("#toast").filter({ hasText: "Renamed bravo to renamed bravo." }).waitFor();

  // Escape dismisses without a change.
  await page.keyboard.press("F2");
  await rename.waitFor();
  await page.keyboard.type("nobody");
  await page.keyboard.press("Escape");
  await rename.waitFor({ state: "hidden" });
  assert.equal(await focusedId(page), "search");
  assert.equal((await shown(box, id("bravo"))).instance_name, "renamed bravo");

  await page.locator("#tab-trash").click();
  await page.getByRole("button", { name: "Restore foxtrot" }).click();
  await page.locator("#trash-empty").waitFor();
  assert.equal(await count(page, "trash"), "0");
  await page.locator("#tab-agents").click();
  // foxtrot was launched last of all: it comes back at the top.
  assert.equal((await names(page))[0], "foxtrot");

  await row(page, id("delta")).getByRole("button", { name: "Forget delta" }).click();
  await page.locator("#tab-trash").click();
  await page.getByRole("button", { name: "Delete delta for good" }).click();
  const del = page.locator("#delete-dialog");
  await del.waitFor();
  assert.equal(await page.locator("#delete-title").textContent(), "Delete delta for good?");
  assert.equal(
    await page.locator(":focus").textContent(),
    "Cancel",
    "Enter right away must not delete",
  );
  await screenshot(page, "delete-dialog");
  await page.keyboard.press("Enter");
  await del.waitFor({ state: "hidden" });
  assert.ok(existsSync(join(box.root, "retired", `${id("delta")}.json`)), "Cancel kept it");

  await page.getByRole("button", { name: "Delete delta for good" }).click();
  await del.getByRole("button", { name: "Delete" }).click();
  await page.locator("#trash-empty").waitFor();
  await page
    .locator("#toast")
    .filter({ hasText: "Deleted delta; its working directory is kept." })
    .waitFor();
  assert.equal(existsSync(join(box.root, "retired", `${id("delta")}.json`)), false);
  assert.equal(existsSync(join(box.root, `${id("delta")}.json`)), false);
  assert.ok(existsSync(join(box.agentsBase, "delta-wd")), "the working directory is kept");
  assert.deepEqual(nativeDialogs, [], "no prompt, confirm or alert");
});

test("keyboard in the Trash: arrows move between rows, keeping Restore or Delete", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { page } = await open(t);
  for (const name of ["delta", "echo"] as const) {
    await row(page, id(name))
      .getByRole("button", { name: `Forget ${name}` })
      .click();
    await row(page, id(name)).waitFor({ state: "detached" });
  }
  await page.locator("#tab-trash").click();
  await page.getByRole("button", { name: "Delete delta for good" }).waitFor();
  const focused = () => page.locator(":focus").getAttribute("aria-label");
  // Newest launch first: foxtrot, echo, delta.
  await page.getByRole("button", { name: "Restore foxtrot" }).focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await focused(), "Restore echo");
  await page.keyboard.press("ArrowDown");
  assert.equal(await focused(), "Restore delta");
  await page.keyboard.press("Tab");
  assert.equal(await focused(), "Delete delta for good");
  await page.keyboard.press("ArrowUp");
  assert.equal(await focused(), "Delete echo for good");
  await page.keyboard.press("Enter");
  await page.locator("#delete-dialog").waitFor();
  await page.keyboard.press("Escape");
});

test("a record created by a separate CLI process appears without reloading", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);
  // Gone if the page reloads.
  await page.evaluate(() => {
    (globalThis as { notReloaded?: boolean }).notReloaded = true;
  });

  const created = await box.cli([
    "--json",
    "create",
    "--name",
    "from-cli",
    "--definition",
    "aider",
  ]);
  assert.equal(created.code, 0, created.stderr);
  const newId = (JSON.parse(created.stdout) as { agent: { instance_id: string } }).agent
    .instance_id;

  await row(page, newId).waitFor();
  assert.deepEqual(await names(page), ["from-cli", ...ACTIVE_ORDER]);
  assert.equal(await count(page, "agents"), "6");
  assert.ok(
    (await page.locator("#filter-definition option").allTextContents()).includes("aider"),
    "the new definition joins the filter",
  );

  const forgot = await box.cli(["forget", "from-cli"]);
  assert.equal(forgot.code, 0, forgot.stderr);
  await row(page, newId).waitFor({ state: "detached" });
  await eventually(async () => assert.equal(await count(page, "trash"), "2"));
  assert.equal(
    await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded),
    true,
  );
  await screenshot(page, "live-cli");
});

test("Diagnostics shows every problem doctor reports, with its full path and fix, and flags the agents concerned", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed(seedRecords(), [id("foxtrot")]);
  // delta's working directory goes away; a corrupt file; a directory where a temp file belongs.
  rmSync(join(box.agentsBase, "delta-wd"), { recursive: true });
  writeFileSync(join(box.root, "broken.json"), "{ not json");
  mkdirSync(join(box.root, ".tmp-odd"));
  const service = await box.serve();
  const page = await box.openPage(service);

  const doctor = await box.cli(["--json", "doctor"]);
  const report = JSON.parse(doctor.stdout) as DoctorReportJson;
  assert.ok(report.problems.length >= 2, doctor.stdout);
  await page
    .locator("#diagnostics-count")
    .filter({ hasText: String(report.problems.length) })
    .waitFor();
  await row(page, id("delta")).locator(".flag", { hasText: "working dir missing" }).waitFor();

  await page.locator("#tab-diagnostics").click();
  const items = page.locator("#diagnostics-list li");
  assert.equal(await items.count(), report.problems.length);
  for (const problem of report.problems) {
    const item = page.locator(
      `#diagnostics-list li[data-kind="${problem.kind}"][data-subject="${problem.subject}"]`,
    );
    assert.equal(await item.locator(".reason").textContent(), problem.message);
    assert.equal(await item.locator(".fix code").textContent(), problem.fix);
    const path = await item.locator(".path code").textContent();
    assert.equal(
      path,
      problem.kind === "working-dir-missing"
        ? join(box.agentsBase, "delta-wd")
        : join(box.root, problem.subject),
    );
  }
  const missing = page.locator('#diagnostics-list li[data-kind="working-dir-missing"]');
  assert.equal(await missing.locator("h4").textContent(), "delta", "named, not by its id");
  assert.equal(
    await page.locator("#diagnostics-list h3").first().textContent(),
    "1 record file could not be loaded",
  );
  await missing.getByRole("button", { name: "Copy the fix for delta" }).click();
  await eventually(async () =>
    assert.equal(
      await clipboard(page),
      report.problems.find((p) => p.subject === id("delta"))?.fix,
    ),
  );
  await screenshot(page, "diagnostics-doctor");

  // Repaired on disk, and any change later: the page asks doctor again.
  mkdirSync(join(box.agentsBase, "delta-wd"));
  const forgot = await box.cli(["forget", "echo"]);
  assert.equal(forgot.code, 0, forgot.stderr);
  await missing.waitFor({ state: "detached" });
  await page.locator("#tab-agents").click();
  assert.equal(await row(page, id("delta")).locator(".flag").count(), 0);
});
