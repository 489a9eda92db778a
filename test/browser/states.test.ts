/**
 * The page's states, each saying what to do: unauthorised (opened without the token, or with a
 * wrong one), empty (how to create an agent, and `serve --demo`), loading (before the feed's
 * snapshot), and disconnected (the service stopped: every action off until a service is back).
 * axe-core checks the unauthorised and empty states in both colour schemes.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { makeRecord } from "../helpers.js";
import {
  axeViolations,
  sandbox,
  screenshot,
  seedId,
  skipWithoutChromium,
  stop,
} from "./support.js";

const SCHEMES = ["light", "dark"] as const;

const visible = (page: Page, selector: string) => page.locator(selector).isVisible();

for (const colorScheme of SCHEMES) {
  test(`unauthorised (${colorScheme}): says which address to open and where the token file is`, async (t) => {
    if (skipWithoutChromium(t)) return;
    const box = await sandbox(t);
    await box.seed([makeRecord(seedId(1), { instance_name: "alpha" })]);
    const service = await box.serve();
    for (const [what, url] of [
      ["no token", `${service.origin}/`],
      ["a wrong token", `${service.origin}/?token=${"0".repeat(64)}`],
    ] as const) {
      const page = await box.openPage(service, { url, colorScheme, live: false });
      const notice = page.locator("#unauthorized");
      await notice.waitFor();
      const text = (await notice.textContent()) ?? "";
      assert.match(text, /agentmux-registry serve/, what);
      assert.match(text, /\?token=/, what);
      assert.match(text, /\.service-token/, what);
      assert.equal(await page.locator("#status").textContent(), "Not authorised", what);
      // Nothing reads like an empty registry: no list, no counts, no actions.
      assert.equal(await visible(page, "#app"), false, what);
      assert.equal(await page.locator("#new-agent").isDisabled(), true, what);
      assert.deepEqual(await axeViolations(page), [], `${what}: axe`);
      await screenshot(page, `unauthorized-${what.replaceAll(" ", "-")}-${colorScheme}`);
    }
  });

  test(`empty registry (${colorScheme}): says how to create an agent and mentions serve --demo`, async (t) => {
    if (skipWithoutChromium(t)) return;
    const box = await sandbox(t);
    const service = await box.serve();
    const page = await box.openPage(service, { colorScheme });
    const empty = page.locator("#agents-empty");
    await empty.waitFor();
    const text = (await empty.textContent()) ?? "";
    assert.match(text, /New agent/);
    assert.match(text, /agentmux-registry create --name NAME --definition DEFINITION/);
    assert.match(text, /agentmux-registry serve --demo/);
    assert.equal(await visible(page, "#agents"), false);
    assert.equal(await page.locator("#agents-count").textContent(), "0");
    assert.equal(await page.locator("#trash-count").textContent(), "0");
    assert.equal(await page.locator("#new-agent").isEnabled(), true);
    assert.deepEqual(await axeViolations(page), []);
    await screenshot(page, `empty-${colorScheme}`);

    // A search that matches nothing is not the empty registry.
    const created = await box.cli(["create", "--name", "alpha", "--definition", "codex"]);
    assert.equal(created.code, 0, created.stderr);
    await page.locator("#agents tr[data-id]").waitFor();
    assert.equal(await empty.isVisible(), false);
    await page.locator("#search").fill("nobody");
    await page
      .locator("#agents-none")
      .filter({ hasText: "No agent matches the search." })
      .waitFor();
    assert.equal(await empty.isVisible(), false);
  });
}

test("loading: before the feed's first snapshot the page says so and offers no action", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed([makeRecord(seedId(1), { instance_name: "alpha" })]);
  const service = await box.serve();
  const page = await box.openPage(service, { url: "about:blank", live: false });
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = () => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  await page.route("**/api/events**", async (route) => {
    held();
    await released;
    await route.continue();
  });
  await page.goto(service.url);
  await holding;
  assert.equal(await page.locator("#status").textContent(), "Loading…");
  assert.equal(await visible(page, "#loading"), true);
  assert.equal(await page.locator("main").getAttribute("aria-busy"), "true");
  assert.equal(await visible(page, "#agents-empty"), false, "not mistaken for an empty registry");
  assert.equal(await page.locator("#new-agent").isDisabled(), true);
  await screenshot(page, "loading");

  release();
  await page.locator("#status").filter({ hasText: "Live" }).waitFor();
  assert.equal(await visible(page, "#loading"), false);
  assert.equal(await page.locator("main").getAttribute("aria-busy"), "false");
  assert.equal(await page.locator("#agents tr[data-id] td.name").textContent(), "alpha");
});

test("disconnected: the service stops promptly, the page turns every action off and comes back with a new service", async (t) => {
  if (skipWithoutChromium(t)) return;
  const box = await sandbox(t);
  await box.seed([
    makeRecord(seedId(1), { instance_name: "alpha", working_dir: "alpha-wd" }),
    makeRecord(seedId(2), { instance_name: "bravo", working_dir: "bravo-wd" }),
  ]);
  const service = await box.serve();
  const page = await box.openPage(service);
  const actions = page.locator("#agents tbody button");
  assert.ok((await actions.count()) >= 6);
  for (const b of await actions.all()) assert.equal(await b.isEnabled(), true);

  const started = performance.now();
  // The open event stream must not keep the service alive (it used to, until the tab closed).
  const exit = await Promise.race([
    stop(service.child).then(() => ({ code: service.child.exitCode })),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref()),
  ]);
  assert.deepEqual(exit, { code: 0 }, "still running 5 s after SIGTERM");
  t.diagnostic(`exited ${Math.round(performance.now() - started)} ms after SIGTERM`);

  await page.locator("#disconnected").waitFor();
  assert.equal(await page.locator("#status").textContent(), "Disconnected — reconnecting…");
  assert.match((await page.locator("#disconnected").textContent()) ?? "", /Actions are off/);
  for (const b of await actions.all()) assert.equal(await b.isDisabled(), true);
  assert.equal(await page.locator("#new-agent").isDisabled(), true);
  // The shortcuts are off too: no dialog, no panel.
  await page.locator("#search").focus();
  await page.keyboard.press("Alt+n");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#create-dialog").isVisible(), false);
  assert.equal(await page.locator(".continue-panel").count(), 0);
  // What was there stays readable.
  assert.equal(await page.locator("#agents tr[data-id]").count(), 2);
  await screenshot(page, "disconnected");

  // A service on the same address (same root, so the same token) brings the page back.
  await box.serve(service.port);
  await page.locator("#status").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
  assert.equal(await visible(page, "#disconnected"), false);
  for (const b of await actions.all()) assert.equal(await b.isEnabled(), true);
  assert.equal(await page.locator("#new-agent").isEnabled(), true);
});
