/**
 * The page marks agents in use (SPEC §15): a badge naming the holder, and a disabled Continue
 * whose tooltip says who holds the agent — live, as leases come and go. The holders are lease
 * files as another program writes them, naming this test process (alive, on this host).
 */

import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { makeRecord } from "../helpers.js";
import { leaseOf, writeLeaseFile } from "../in-use-support.js";
import { eventually, sandbox, screenshot, seedId, skipWithoutChromium } from "./support.js";

const ALPHA = seedId(1);
const BRAVO = seedId(2);

const row = (page: Page, id: string) => page.locator(`#agents tr[data-id="${id}"]`);
const continueButton = (page: Page, id: string) =>
  row(page, id).getByRole("button", { name: /^Continue / });

test("agents in use carry a badge and a disabled Continue naming the holder, live", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed([
    makeRecord(ALPHA, { instance_name: "alpha", working_dir: "alpha-wd" }),
    makeRecord(BRAVO, { instance_name: "bravo", working_dir: "bravo-wd", last_launched_at_ms: 1 }),
  ]);
  const alphaLease = writeLeaseFile(box.root, ALPHA, leaseOf(ALPHA));
  const service = await box.serve();
  const page = await box.openPage(service);

  const badge = row(page, ALPHA).locator(".in-use");
  assert.equal(
    await badge.textContent(),
    `in use · ${leaseOf(ALPHA).hostname} · pid ${process.pid} · agentmux 0.34.1`,
  );
  const held = continueButton(page, ALPHA);
  assert.equal(await held.isDisabled(), true);
  assert.match(
    (await held.getAttribute("title")) ?? "",
    /^In use by .* pid \d+ · agentmux 0\.34\.1, claimed just now: it cannot be continued/,
  );
  assert.equal(await row(page, BRAVO).locator(".in-use").count(), 0);
  assert.equal(await continueButton(page, BRAVO).isDisabled(), false);
  await screenshot(page, "in-use");

  // Another program claims bravo, and alpha's holder lets go: the page follows.
  writeLeaseFile(box.root, BRAVO, leaseOf(BRAVO, { channel: "agentmux-registry", version: "" }));
  rmSync(alphaLease);
  await eventually(async () => {
    assert.equal(await continueButton(page, ALPHA).isDisabled(), false);
    assert.equal(await row(page, ALPHA).locator(".in-use").count(), 0);
    assert.equal(await continueButton(page, BRAVO).isDisabled(), true);
    assert.match(
      (await row(page, BRAVO).locator(".in-use").textContent()) ?? "",
      /· agentmux-registry$/,
    );
  });
  // The agent's name stays the name cell's own text, before the badge.
  assert.match((await row(page, BRAVO).locator("td.name").textContent()) ?? "", /^bravo in use/);
});
