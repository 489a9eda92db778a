/**
 * How the page holds up: at 360, 420 and 1280 px, in the light and dark schemes — nothing runs
 * off screen, definition ids stay on one line, tabs do not move when selected, the Trash keeps
 * its distance from the tabs, destructive actions look destructive, and axe-core finds no serious
 * or critical violation on any view (list, Continue panel, Trash, Diagnostics, create dialog).
 * Screenshots of each view land in test-results/screenshots/.
 */

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { makeRecord } from "../helpers.js";
import { axeViolations, sandbox, screenshot, seedId, skipWithoutChromium } from "./support.js";

const HOUR = 3_600_000;

/** Long names, hyphenated definitions, an agent in the Trash and a broken file. */
const RECORDS = [
  ["alpha", "claude-code"],
  ["a rather long agent name that has to wrap somewhere sensible", "gemini-cli-experimental"],
  ["bravo", "codex"],
  ["charlie", "claude-code"],
].map(([name, definition], i) =>
  makeRecord(seedId(i + 1), {
    instance_name: name,
    definition_id: definition,
    working_dir: `${(name ?? "").replaceAll(" ", "-")}-wd`,
    last_launched_at_ms: Date.now() - (i + 1) * HOUR,
  }),
);

interface Box {
  y: number;
  height: number;
}

/** Buttons that run off the viewport, and whether the page scrolls sideways. */
function overflow(page: Page): Promise<string[]> {
  // One evaluation: rows are rebuilt on every change, so handles taken one by one may go stale.
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: OverflowDocument }).document;
    const width = doc.documentElement.clientWidth;
    const problems: string[] = [];
    for (const b of doc.querySelectorAll("button")) {
      const box = b.getBoundingClientRect();
      if (box.width === 0) continue; // not shown
      if (box.left < 0 || box.right > width + 0.5)
        problems.push(`${b.getAttribute("aria-label") ?? b.textContent}: ${box.left}–${box.right}`);
    }
    const scrollWidth = doc.documentElement.scrollWidth;
    if (scrollWidth > width) problems.push(`the page scrolls sideways: ${scrollWidth} > ${width}`);
    return problems;
  });
}

interface OverflowDocument {
  documentElement: { clientWidth: number; scrollWidth: number };
  querySelectorAll(selector: string): Iterable<{
    getBoundingClientRect(): { left: number; right: number; width: number };
    getAttribute(name: string): string | null;
    textContent: string | null;
  }>;
}

/**
 * How many lines each definition cell's text takes, and the colours of Continue and Forget — read
 * in one evaluation, as rows are rebuilt on every change.
 */
function measure(page: Page) {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: MeasuredDocument }).document;
    // No named functions in here: tsx would wrap them in a helper the page does not have.
    const [forget, continueColour] = [
      '#agents tr[data-id] button[aria-label^="Forget "]',
      '#agents tr[data-id] button[aria-label^="Continue "]',
    ].map((selector) => {
      const element = doc.querySelector(selector);
      return element ? doc.defaultView.getComputedStyle(element).color : null;
    });
    return {
      definitionLines: [...doc.querySelectorAll("#agents tr[data-id] td.definition")].map(
        (cell) => {
          const range = doc.createRange();
          range.selectNodeContents(cell);
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
        },
      ),
      forget,
      continue: continueColour,
    };
  });
}

interface MeasuredDocument {
  querySelector(selector: string): object | null;
  querySelectorAll(selector: string): Iterable<object>;
  createRange(): {
    selectNodeContents(node: object): void;
    getClientRects(): Iterable<{ top: number }>;
  };
  defaultView: { getComputedStyle(element: object): { color: string } };
}

const tabBoxes = (page: Page) =>
  Promise.all(
    ["agents", "trash", "diagnostics"].map(async (tab) =>
      page.locator(`#tab-${tab}`).boundingBox(),
    ),
  );

for (const colorScheme of ["light", "dark"] as const) {
  for (const width of [360, 420, 1280]) {
    test(`${width} px, ${colorScheme}: every view fits, keeps still and passes axe`, async (t) => {
      if (skipWithoutChromium(t)) return;
      const box = await sandbox(t);
      await box.seed(RECORDS, [seedId(4)]);
      writeFileSync(join(box.root, "broken.json"), "{ not json");
      const service = await box.serve();
      const page = await box.openPage(service, { width, colorScheme });
      await page.locator("#diagnostics-count").filter({ hasText: "1" }).waitFor();
      const name = `${width}-${colorScheme}`;
      const axe = width !== 420; // the in-between width checks the layout only
      const check = async (view: string) => {
        assert.deepEqual(await overflow(page), [], `${view}: on screen`);
        if (axe) assert.deepEqual(await axeViolations(page), [], `${view}: axe`);
        await screenshot(page, `${view}-${name}`);
      };

      await check("list");
      const measured = await measure(page);
      assert.deepEqual(measured.definitionLines, [1, 1, 1], "definitions on one line");
      assert.ok(measured.forget && measured.continue, "both buttons are there");
      assert.notEqual(measured.forget, measured.continue, "Forget stands apart");
      const forget = page.getByRole("button", { name: "Forget alpha" });
      assert.equal(await forget.getAttribute("class"), "danger");

      // Tabs keep their place whichever is selected.
      const tabsBefore = await tabBoxes(page);
      for (const tab of ["trash", "diagnostics", "agents"]) {
        await page.locator(`#tab-${tab}`).click();
        assert.deepEqual(await tabBoxes(page), tabsBefore, `tabs still with ${tab} selected`);
      }

      await page.locator("#search").focus();
      await page.keyboard.press("Enter");
      await page.locator("#continue-command").waitFor();
      await page.keyboard.type("claude --resume");
      await check("continue-panel");

      await page.locator("#tab-trash").click();
      const tablist = (await page.locator('[role="tablist"]').boundingBox()) as Box;
      const trash = (await page.locator("#trash").boundingBox()) as Box;
      assert.ok(trash.y - (tablist.y + tablist.height) >= 8, "the Trash keeps away from the tabs");
      await check("trash");

      await page.locator("#tab-diagnostics").click();
      await page.locator("#diagnostics-list li").first().waitFor();
      await check("diagnostics");

      await page.locator("#tab-agents").click();
      await page.locator("#new-agent").click();
      await page.locator("#create-dialog").waitFor();
      await check("create-dialog");
    });
  }
}
