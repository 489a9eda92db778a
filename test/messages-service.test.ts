/**
 * How the service resolves what a person types (issue 14): `findAgent`'s precedence — exact id,
 * then exact name, each in the first tree then the other, then a unique id prefix of 4+
 * characters over both trees — the same with and without a live index; `resolveAgent` on top of
 * it; the HTTP routes, which keep exact ids; `agentsNamed` for the duplicate-name warning.
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { RegistryError, RegistryService } from "../src/index.js";
import { buildHttp } from "../src/server/http.js";
import { makeRecord, tempRegistry } from "./helpers.js";

async function setup(t: Parameters<typeof tempRegistry>[0], live = false) {
  const { registry, root } = await tempRegistry(t);
  const service = new RegistryService(registry, { version: "1.0.0", live });
  t.after(() => service.close());
  return { registry, root, service };
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (error: unknown) => (error instanceof RegistryError ? error.code : String(error)),
  );

for (const live of [false, true]) {
  describe(`findAgent (${live ? "live index" : "disk"})`, () => {
    test("an exact id, then an exact name, then a unique prefix of 4+ characters", async (t) => {
      const { registry, service } = await setup(t, live);
      await registry.upsert(makeRecord("abcd", { instance_name: "first" }));
      await registry.upsert(makeRecord("abcd-2", { instance_name: "second" }));
      await registry.upsert(makeRecord("zzzz-9", { instance_name: "abcd-" }));
      await registry.upsert(makeRecord("uniq-1234", { instance_name: "u" }));
      const found = async (reference: string) => {
        const match = await service.findAgent(reference);
        return [match.record.data.instance_id, match.by];
      };
      assert.deepEqual(await found("abcd"), ["abcd", "id"]);
      assert.deepEqual(await found("abcd-"), ["zzzz-9", "name"]);
      assert.deepEqual(await found("uniq"), ["uniq-1234", "prefix"]);
      assert.deepEqual(await found("abcd-2"), ["abcd-2", "id"]);
      assert.equal(await codeOf(service.findAgent("uni")), "AGENT_NOT_FOUND", "3 characters");
      assert.equal(await codeOf(service.findAgent("zzz!")), "INVALID_ID");
    });

    test("the first tree wins for ids and names; prefixes pool both trees", async (t) => {
      const { registry, service } = await setup(t, live);
      await registry.upsert(makeRecord("act-1", { instance_name: "same" }));
      await registry.upsert(makeRecord("ret-1", { instance_name: "same" }));
      await registry.retire("ret-1");
      await registry.upsert(makeRecord("pre-active", { instance_name: "x" }));
      await registry.upsert(makeRecord("pre-retired", { instance_name: "y" }));
      await registry.retire("pre-retired");
      const tree = async (reference: string, first: "active" | "retired") =>
        (await service.findAgent(reference, first)).tree;
      assert.equal(await tree("same", "active"), "active");
      assert.equal(await tree("same", "retired"), "retired");
      assert.equal(await tree("ret-1", "active"), "retired", "an exact id in the other tree");
      await assert.rejects(service.findAgent("pre-"), (error: unknown) => {
        assert.ok(error instanceof RegistryError && error.code === "AMBIGUOUS_ID");
        assert.equal(error.data.prefix, "pre-");
        assert.deepEqual(
          (error.data.candidates as { id: string; retired: boolean }[]).map((c) => [
            c.id,
            c.retired,
          ]),
          [
            ["pre-active", false],
            ["pre-retired", true],
          ],
        );
        return true;
      });
    });

    test("an agent in both trees is one candidate for a prefix, from the first tree", async (t) => {
      const { registry, root, service } = await setup(t, live);
      await registry.upsert(makeRecord("twice-1"));
      await registry.retire("twice-1");
      fs.copyFileSync(join(root, "retired", "twice-1.json"), join(root, "twice-1.json"));
      const match = await service.findAgent("twic", "retired");
      assert.deepEqual([match.record.data.instance_id, match.tree], ["twice-1", "retired"]);
    });

    test("an exact id whose file cannot be read is INVALID_FILE with the file and reason", async (t) => {
      const { root, service } = await setup(t, live);
      fs.writeFileSync(
        join(root, "newer.json"),
        JSON.stringify({ schema_version: 999, data: { instance_id: "newer" } }),
      );
      fs.writeFileSync(join(root, "retired", "torn.json"), "{ not json");
      for (const [reference, file, reason] of [
        ["newer", "newer.json", "newer-schema"],
        ["torn", "retired/torn.json", "invalid-json"],
      ] as const) {
        await assert.rejects(service.findAgent(reference), (error: unknown) => {
          assert.ok(error instanceof RegistryError && error.code === "INVALID_FILE");
          assert.deepEqual(error.data, { id: reference, file, reason });
          assert.match(error.message, /exists but could not be read/);
          return true;
        });
      }
      // A reference that is not an id never matches a file by name ("retired/torn" is no id).
      assert.equal(await codeOf(service.findAgent("retired/torn")), "INVALID_ID");
    });
  });
}

describe("resolveAgent keeps its contract on top of findAgent", () => {
  test("an agent found only in the other tree is AGENT_NOT_FOUND for this tree", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("gone-1", { instance_name: "gone" }));
    await registry.retire("gone-1");
    await registry.upsert(makeRecord("twin-1", { instance_name: "twin" }));
    await registry.upsert(makeRecord("twin-2", { instance_name: "twin" }));
    await registry.retire("twin-1");
    await registry.retire("twin-2");
    assert.equal(await codeOf(service.resolveAgent("gone")), "AGENT_NOT_FOUND");
    assert.equal(await codeOf(service.resolveAgent("gone-1")), "AGENT_NOT_FOUND");
    assert.equal((await service.resolveAgent("gone", "retired")).data.instance_id, "gone-1");
    assert.equal((await service.resolveAgent("gone", "either")).data.instance_id, "gone-1");
    // Several of that name, all in the Trash: none active; in the Trash, ambiguous.
    assert.equal(await codeOf(service.resolveAgent("twin")), "AGENT_NOT_FOUND");
    assert.equal(await codeOf(service.resolveAgent("twin", "retired")), "AMBIGUOUS_NAME");
    assert.equal((await service.resolveAgent("gone-", "either")).data.instance_id, "gone-1");
  });
});

describe("agentsNamed", () => {
  test("active agents of exactly that name, newest launch first; the Trash does not count", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("a", { instance_name: "n", last_launched_at_ms: 1 }));
    await registry.upsert(makeRecord("b", { instance_name: "n", last_launched_at_ms: 2 }));
    await registry.upsert(makeRecord("c", { instance_name: "n " }));
    await registry.upsert(makeRecord("d", { instance_name: "n" }));
    await registry.retire("d");
    assert.deepEqual(
      (await service.agentsNamed("n")).map((record) => record.data.instance_id),
      ["b", "a"],
    );
  });
});

describe("the HTTP API keeps exact ids", () => {
  test("a prefix or a name on a route is AGENT_NOT_FOUND: a program has the id", async (t) => {
    const { registry, service } = await setup(t);
    fs.mkdirSync(registry.agentsBase, { recursive: true });
    await registry.upsert(makeRecord("abcdef-1", { instance_name: "named" }));
    const token = service.loadOrCreateToken();
    const app = buildHttp({ service, token, port: () => 47998 });
    t.after(() => app.close());
    const call = (method: "GET" | "POST", url: string) =>
      app.inject({
        method,
        url,
        headers: { host: "127.0.0.1:47998", authorization: `Bearer ${token}` },
      });
    assert.equal((await call("GET", "/api/agents/abcdef-1")).statusCode, 200);
    for (const reference of ["abcd", "named"]) {
      const response = await call("GET", `/api/agents/${reference}`);
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, "AGENT_NOT_FOUND");
      assert.equal((await call("POST", `/api/agents/${reference}/forget`)).statusCode, 404);
    }
  });
});

describe("an agent in the Trash, over HTTP and in the service", () => {
  test("continue, rename and forget say it is in the Trash; an unknown id does not", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("trashed-1", { instance_name: "old" }));
    await registry.retire("trashed-1");
    const token = "t".repeat(43);
    const app = buildHttp({ service, token, port: () => 47998 });
    t.after(() => app.close());
    const call = (url: string, payload?: object) =>
      app.inject({
        method: "POST",
        url,
        payload,
        headers: { host: "127.0.0.1:47998", authorization: `Bearer ${token}` },
      });
    const restoreFirst = 'no agent "trashed-1": it is in the Trash; restore it first';
    for (const [url, payload, message] of [
      ["/api/agents/trashed-1/continue", {}, restoreFirst],
      ["/api/agents/trashed-1/rename", { name: "new" }, restoreFirst],
      [
        "/api/agents/trashed-1/forget",
        undefined,
        'no agent "trashed-1": it is already in the Trash',
      ],
      ["/api/agents/never-1/forget", undefined, 'no agent "never-1"'],
      ["/api/agents/never-1/continue", {}, 'no agent "never-1"'],
    ] as const) {
      const response = await call(url, payload);
      assert.equal(response.statusCode, 404, url);
      assert.deepEqual(
        [response.json().error.code, response.json().error.message],
        ["AGENT_NOT_FOUND", message],
        url,
      );
    }
    assert.equal((await service.getAgent("trashed-1")).retired, true, "nothing moved");
  });
});
