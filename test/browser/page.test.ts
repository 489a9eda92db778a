/**
 * The web page in a real browser (Debian's chromium through playwright-core) against the BUILT
 * service started as a black box: order, forget / undo, the Trash, live updates from a separate
 * CLI process and from a corrupt file, continue, rename, filters and the keyboard. Every test has
 * its own sandbox, service and browser; screenshots land in test-results/screenshots/.
 */

import assert from "node:assert/strict";
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import type { RecordInput } from "../../src/index.js";
import { relativeTime } from "../../src/present.js";
import { makeRecord } from "../helpers.js";
import {
  eventually,
  rowIds,
  type Sandbox,
  type Service,
  sandbox,
  screenshot,
  seedId,
  skipWithoutChromium,
} from "./support.js";

const HOUR = 3_600_000;
const T0 = Date.now() - 3 * 24 * HOUR;

/** Five active agents (launch order ≠ id order, one tie) and one in the Trash. */
const SEED: Record<string, { n: number; definition: string; launched: number }> = {
  alpha: { n: 1, definition: "claude-code", launched: T0 + HOUR },
  bravo: { n: 2, definition: "codex", launched: T0 + 3 * HOUR },
  charlie: { n: 3, definition: "gemini-cli", launched: T0 + 2 * HOUR },
  delta: { n: 4, definition: "codex", launched: T0 },
  echo: { n: 5, definition: "claude-code", launched: T0 + HOUR },
  foxtrot: { n: 6, definition: "codex", launched: T0 + 4 * HOUR },
};
const id = (name: keyof typeof SEED) => seedId(SEED[name]?.n ?? 0);
/** Newest launch first; alpha and echo tie and go by id. foxtrot is in the Trash. */
const ACTIVE_ORDER = ["bravo", "charlie", "alpha", "echo", "delta"].map(id);

const seedRecords = (): RecordInput[] =>
  Object.entries(SEED).map(([name, { n, definition, launched }]) =>
    makeRecord(seedId(n), {
      instance_name: name,
      definition_id: definition,
      created_at_ms: T0 - HOUR,
      last_launched_at_ms: launched,
      working_dir: `${name}-wd`,
    }),
  );

/** Sandbox + seeded registry + service + page; everything stopped when the test ends. */
async function open(
  t: Parameters<typeof sandbox>[0],
): Promise<{ box: Sandbox; service: Service; page: Page }> {
  const box = await sandbox(t);
  await box.seed(seedRecords(), [id("foxtrot")]);
  const service = await box.serve();
  const page = await box.openPage(service);
  return { box, service, page };
}

const row = (page: Page, agentId: string) => page.locator(`#agents tr[data-id="${agentId}"]`);
const trashCount = (page: Page) => page.locator("#trash-count").textContent();

test("lists the seeded agents newest launch first; Trash and Diagnostics show their counts", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed(seedRecords(), [id("foxtrot")]);
  writeFileSync(join(box.root, "broken.json"), "{ not json");
  const service = await box.serve();
  const page = await box.openPage(service);

  assert.deepEqual(await rowIds(page, "#agents"), ACTIVE_ORDER);
  assert.deepEqual(await page.locator("#agents tbody td.name").allTextContents(), [
    "bravo",
    "charlie",
    "alpha",
    "echo",
    "delta",
  ]);
  assert.equal(await trashCount(page), "1");
  // The count comes from its own request (doctor), which may answer after the list.
  await page.locator("#tab-diagnostics").filter({ hasText: "Diagnostics (1)" }).waitFor();
  assert.equal(await page.locator("#tab-diagnostics").textContent(), "Diagnostics (1)");
  assert.equal(await page.locator("#agents-empty").isVisible(), false);
  await screenshot(page, "list");

  await page.locator("#tab-trash").click();
  assert.deepEqual(await rowIds(page, "#trash"), [id("foxtrot")]);
  assert.equal(await page.locator("#view-continue").isVisible(), false);

  await page.locator("#tab-diagnostics").click();
  assert.equal(
    await page.locator("#diagnostics-summary").textContent(),
    "1 agent record could not be loaded.",
  );
  const first = (await page.locator("#diagnostics-list li").textContent()) ?? "";
  assert.match(first, /^broken\.json — .*invalid-json/);
  assert.doesNotMatch(first, /— :/, "no empty reason");
  await screenshot(page, "diagnostics");

  // A second corrupt file, written while the page is open, shows up without a reload.
  writeFileSync(join(box.root, "also-broken.json"), '{"schema_version": 1, "data": 7}\n');
  await page
    .locator("#diagnostics-summary")
    .filter({ hasText: "2 agent records could not be loaded." })
    .waitFor();
  assert.equal(await page.locator("#tab-diagnostics").textContent(), "Diagnostics (2)");
  const items = await page.locator("#diagnostics-list li").allTextContents();
  assert.equal(items.length, 2);
  assert.ok(
    items.some((item) => item.startsWith("also-broken.json — ")),
    items.join("\n"),
  );
  assert.ok(
    items.every((item) => !item.includes("— :")),
    items.join("\n"),
  );
  await screenshot(page, "diagnostics-live");
});

test("Forget shows a toast whose Undo brings the agent back; Restore and Delete in the Trash", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);

  await row(page, id("alpha")).getByRole("button", { name: "Forget alpha" }).click();
  const toast = page.locator("#toast");
  await toast.filter({ hasText: "Forgot alpha." }).waitFor();
  await row(page, id("alpha")).waitFor({ state: "detached" });
  await eventually(async () => assert.equal(await trashCount(page), "2"));
  assert.ok(existsSync(join(box.root, "retired", `${id("alpha")}.json`)));
  await screenshot(page, "forget-toast");

  await toast.getByRole("button", { name: /^Undo/ }).click();
  await row(page, id("alpha")).waitFor();
  assert.deepEqual(await rowIds(page, "#agents"), ACTIVE_ORDER);
  await eventually(async () => assert.equal(await trashCount(page), "1"));
  assert.ok(existsSync(join(box.root, `${id("alpha")}.json`)));
  assert.equal(await toast.isVisible(), false);

  await page.locator("#tab-trash").click();
  await screenshot(page, "trash");
  await page.getByRole("button", { name: "Restore foxtrot" }).click();
  await page.locator("#trash-empty").waitFor();
  assert.equal(await trashCount(page), "0");
  await page.locator("#tab-continue").click();
  // foxtrot was launched last of all: it comes back at the top.
  assert.deepEqual(await rowIds(page, "#agents"), [id("foxtrot"), ...ACTIVE_ORDER]);
  assert.ok(existsSync(join(box.root, `${id("foxtrot")}.json`)));

  // Delete asks first (confirm), then removes the records for good but keeps the working dir.
  await row(page, id("delta")).getByRole("button", { name: "Forget delta" }).click();
  await page.locator("#tab-trash").click();
  page.once("dialog", (dialog) => {
    assert.equal(dialog.type(), "confirm");
    void dialog.accept();
  });
  await page.getByRole("button", { name: "Delete delta for good" }).click();
  await page.locator("#trash-empty").waitFor();
  assert.equal(existsSync(join(box.root, "retired", `${id("delta")}.json`)), false);
  assert.equal(existsSync(join(box.root, `${id("delta")}.json`)), false);
  assert.ok(existsSync(join(box.agentsBase, "delta-wd")), "the working directory is kept");
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
  // Created now: the newest launch, so the first row.
  assert.deepEqual(await rowIds(page, "#agents"), [newId, ...ACTIVE_ORDER]);
  assert.equal(await row(page, newId).locator("td.name").textContent(), "from-cli");
  assert.ok(
    (await page.locator("#filter-definition option").allTextContents()).includes("aider"),
    "the new definition joins the filter",
  );

  // And a forget by another process disappears the same way.
  const forgot = await box.cli(["forget", "from-cli"]);
  assert.equal(forgot.code, 0, forgot.stderr);
  await row(page, newId).waitFor({ state: "detached" });
  await eventually(async () => assert.equal(await trashCount(page), "2"));
  assert.equal(
    await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded),
    true,
  );
  await screenshot(page, "live-cli");
});

test("Continue shows the resolved working dir and resume command; Rename uses the prompt", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { box, page } = await open(t);

  await row(page, id("delta")).getByRole("button", { name: "Continue delta" }).click();
  const result = page.locator("#continue-result");
  await result.waitFor();
  const expectedDir = realpathSync(join(box.agentsBase, "delta-wd"));
  const codes = await result.locator("code").allTextContents();
  assert.equal(codes[0], expectedDir);
  assert.equal(
    codes[1],
    `cd '${expectedDir}' && agentmux-registry continue ${id("delta")} --exec -- 'codex'`,
  );
  assert.match((await result.textContent()) ?? "", /^Continue delta/);
  // Continuing records a launch: delta moves to the top once the change arrives.
  await eventually(async () => assert.equal((await rowIds(page, "#agents"))[0], id("delta")));
  await screenshot(page, "continue");

  const prompts: string[] = [];
  page.once("dialog", (dialog) => {
    prompts.push(`${dialog.type()}: ${dialog.message()} [${dialog.defaultValue()}]`);
    void dialog.accept("renamed bravo");
  });
  await row(page, id("bravo")).getByRole("button", { name: "Rename bravo" }).click();
  await row(page, id("bravo")).locator("td.name", { hasText: "renamed bravo" }).waitFor();
  assert.deepEqual(prompts, ["prompt: New name for bravo [bravo]"]);
  const shown = await box.cli(["--json", "show", id("bravo")]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(
    (JSON.parse(shown.stdout) as { agent: { instance_name: string } }).agent.instance_name,
    "renamed bravo",
  );

  // Dismissing the prompt changes nothing.
  page.once("dialog", (dialog) => void dialog.dismiss());
  await row(page, id("charlie")).getByRole("button", { name: "Rename charlie" }).click();
  await page.waitForTimeout(300);
  assert.equal(await row(page, id("charlie")).locator("td.name").textContent(), "charlie");
  await screenshot(page, "rename");
});

test("filter by definition and search by name", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { page } = await open(t);
  const names = () => page.locator("#agents tbody td.name").allTextContents();

  assert.deepEqual(await page.locator("#filter-definition option").allTextContents(), [
    "all",
    "claude-code",
    "codex",
    "gemini-cli",
  ]);
  await page.locator("#filter-definition").selectOption("codex");
  assert.deepEqual(await names(), ["bravo", "delta"]);
  await page.locator("#filter-definition").selectOption("claude-code");
  assert.deepEqual(await names(), ["alpha", "echo"]);

  await page.locator("#filter-definition").selectOption("");
  await page.locator("#filter-name").fill("HA");
  assert.deepEqual(await names(), ["charlie", "alpha"], "case-insensitive substring");
  await page.locator("#filter-definition").selectOption("gemini-cli");
  assert.deepEqual(await names(), ["charlie"], "both filters at once");
  await screenshot(page, "filter");

  await page.locator("#filter-name").fill("nobody");
  assert.deepEqual(await names(), []);
  assert.equal(await page.locator("#agents-empty").isVisible(), true);

  await page.locator("#filter-name").fill("");
  await page.locator("#filter-definition").selectOption("");
  assert.deepEqual(await rowIds(page, "#agents"), ACTIVE_ORDER);
});

test("keyboard: Tab to a Forget button, Enter forgets, Enter on the focused Undo restores", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { page } = await open(t);
  const focused = async () =>
    (await page.locator(":focus").count()) === 0
      ? ""
      : ((await page.locator(":focus").getAttribute("aria-label")) ?? "");

  // Tab order: the three tabs, the two filters, then each row's Continue, Rename, Forget.
  const seen: string[] = [];
  for (let i = 0; i < 20 && (await focused()) !== "Forget bravo"; i++) {
    await page.keyboard.press("Tab");
    seen.push(await focused());
  }
  assert.equal(await focused(), "Forget bravo", `focus went: ${seen.join(" → ")}`);
  assert.deepEqual(seen.slice(-3), ["Continue bravo", "Rename bravo", "Forget bravo"]);
  assert.equal(
    await page.locator(":focus-visible").getAttribute("aria-label"),
    "Forget bravo",
    "the focused button shows a focus ring",
  );
  await screenshot(page, "keyboard-focus");

  await page.keyboard.press("Enter");
  await page.locator("#toast").filter({ hasText: "Forgot bravo." }).waitFor();
  await row(page, id("bravo")).waitFor({ state: "detached" });
  assert.equal(await focused(), "Undo: Forgot bravo.", "the toast's Undo takes the focus");
  await screenshot(page, "keyboard-undo");

  await page.keyboard.press("Enter");
  await row(page, id("bravo")).waitFor();
  assert.deepEqual(await rowIds(page, "#agents"), ACTIVE_ORDER);
  await eventually(async () => assert.equal(await trashCount(page), "1"));
});

test("stopping the service with a page open: it exits promptly and the page says so", async (t) => {
  if (skipWithoutChromium(t)) return;
  const { service, page } = await open(t);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    service.child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const started = performance.now();
  service.child.kill("SIGTERM");
  // The open event stream must not keep the service alive (it used to, until the tab closed).
  const exit = await Promise.race([
    exited,
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref()),
  ]);
  assert.deepEqual(exit, { code: 0, signal: null }, `still running 5 s after SIGTERM`);
  t.diagnostic(`exited ${Math.round(performance.now() - started)} ms after SIGTERM`);
  await page.locator("#status").filter({ hasText: "Reconnecting…" }).waitFor();
});

test("Diagnostics shows everything doctor reports, with each fix; times read as the CLI's", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  const records = seedRecords();
  // Launched exactly an hour ago: the CLI says "1 h ago" (src/present.ts), and so must the page.
  const hourAgo = makeRecord(seedId(7), {
    instance_name: "golf",
    definition_id: "codex",
    last_launched_at_ms: Date.now() - HOUR,
    working_dir: "golf-wd",
  });
  await box.seed([...records, hourAgo], [id("foxtrot")]);
  // delta's working directory goes away: doctor finds it, the listing does not.
  rmSync(join(box.agentsBase, "delta-wd"), { recursive: true });
  writeFileSync(join(box.root, "broken.json"), "{ not json");
  const service = await box.serve();
  const page = await box.openPage(service);

  assert.equal(
    await row(page, seedId(7)).locator("td").nth(5).textContent(),
    relativeTime(Date.now() - HOUR, Date.now()),
  );
  assert.equal(await row(page, seedId(7)).locator("td").nth(5).textContent(), "1 h ago");

  await page.locator("#tab-diagnostics").filter({ hasText: "Diagnostics (2)" }).waitFor();
  await page.locator("#tab-diagnostics").click();
  assert.equal(
    await page.locator("#diagnostics-summary").textContent(),
    "1 agent record could not be loaded. 1 working directory is missing.",
  );
  const missing = page.locator('#diagnostics-list li[data-kind="working-dir-missing"]');
  assert.match((await missing.textContent()) ?? "", new RegExp(`^${id("delta")} — .*delta-wd`));
  assert.match(
    (await missing.locator(".fix").textContent()) ?? "",
    new RegExp(`^Fix: .*agentmux-registry forget ${id("delta")}`),
  );
  const skipped = page.locator('#diagnostics-list li[data-kind="skipped-file"]');
  assert.match((await skipped.textContent()) ?? "", /^broken\.json — .*invalid-json/);
  await screenshot(page, "diagnostics-doctor");

  // Repaired on disk, and any change later: the page asks doctor again.
  mkdirSync(join(box.agentsBase, "delta-wd"));
  const forgot = await box.cli(["forget", "golf"]);
  assert.equal(forgot.code, 0, forgot.stderr);
  await page
    .locator("#diagnostics-summary")
    .filter({ hasText: /^1 agent record could not be loaded\.$/ })
    .waitFor();
  assert.equal(await page.locator("#tab-diagnostics").textContent(), "Diagnostics (1)");
});
