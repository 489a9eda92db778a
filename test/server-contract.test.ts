/**
 * One wire contract (src/api.ts): every answer of every route validates against the schema the
 * OpenAPI document gives for its status; answers keep every field (the serialiser drops what a
 * response schema does not declare, so a missing property would silently vanish); requests the
 * schemas refuse are `INVALID_ARGUMENT` with the field at fault; ids still reach the service.
 */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { agentJson } from "../src/api.js";
import { RegistryService } from "../src/index.js";
import { buildHttp } from "../src/server/http.js";
import { makeRecord, tempRegistry } from "./helpers.js";
import { documentValidator, readOpenApi } from "./openapi-support.js";

const PORT = 47997;
const HOST = `127.0.0.1:${PORT}`;
const NOW = 1_900_000_000_000;

const document = readOpenApi();
const schemaNamed = documentValidator(document);

/** The schema the document gives for `status` of `method path` (exact, else `4XX`-style). */
function responseSchema(method: string, path: string, status: number) {
  const operation = document.paths[path]?.[method.toLowerCase()] as
    | { responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }> }
    | undefined;
  assert.ok(operation, `${method} ${path} is documented`);
  const declared =
    operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
  assert.ok(declared, `${method} ${path} documents status ${status}`);
  const ref = declared.content?.["application/json"]?.schema?.$ref;
  assert.ok(ref, `${method} ${path} ${status} has a named JSON schema`);
  const validate = schemaNamed(ref.slice(ref.lastIndexOf("/") + 1));
  assert.ok(validate, ref);
  return validate;
}

async function setup(t: Parameters<typeof tempRegistry>[0]) {
  const { registry, root } = await tempRegistry(t);
  fs.mkdirSync(registry.agentsBase, { recursive: true });
  const service = new RegistryService(registry, { version: "1.0.0", now: () => NOW });
  const token = service.loadOrCreateToken();
  const app = buildHttp({ service, token, port: () => PORT });
  t.after(async () => {
    await app.close();
    service.close();
  });
  /**
   * Calls `method url` (`path` is its documented template) and checks the answer against the
   * document's schema for its status.
   */
  const call = async (method: string, path: string, url: string, body?: unknown) => {
    const response = await app.inject({
      method: method as "GET",
      url,
      headers: { host: HOST, authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    const validate = responseSchema(method, path, response.statusCode);
    const json = response.json();
    assert.ok(
      validate(json),
      `${method} ${url} → ${response.statusCode} breaks its schema: ${JSON.stringify(validate.errors)}\n${response.body}`,
    );
    return { status: response.statusCode, json };
  };
  return { registry, root, service, call };
}

describe("one wire contract", () => {
  test("every answer, errors included, is what the document declares for its status", async (t) => {
    const { registry, service, call } = await setup(t);
    await registry.upsert(makeRecord("old", { last_launched_at_ms: 1, identity_id: "me" }));
    fs.mkdirSync(join(registry.agentsBase, "old-wd"));
    await registry.upsert(makeRecord("nodir"));

    const created = await call("POST", "/api/agents", "/api/agents", {
      name: "Contract",
      definitionId: "claude-code",
      identityId: "id-1",
      memoryId: null,
    });
    assert.equal(created.status, 201);
    const id = created.json.agent.instance_id as string;
    const record = await registry.get(id);
    assert.ok(record);
    assert.deepEqual(created.json.agent, agentJson(record), "every field of the new agent");

    const list = await call("GET", "/api/agents", "/api/agents?limit=0");
    assert.deepEqual(
      list.json.agents,
      (await service.listNamedAgents()).map((r) => agentJson(r)),
      "the listing keeps every field",
    );
    const one = await call("GET", "/api/agents/{id}", "/api/agents/old");
    assert.deepEqual(one.json, {
      agent: agentJson((await registry.get("old")) ?? assert.fail()),
      working_dir_path: join(registry.agentsBase, "old-wd"),
      retired: false,
    });
    const continued = await call("POST", "/api/agents/{id}/continue", "/api/agents/old/continue", {
      sessionId: "s-9",
    });
    assert.deepEqual(Object.keys(continued.json).sort(), [
      "agent",
      "resume_command",
      "working_dir_path",
    ]);
    assert.equal(continued.json.agent.session_id, "s-9");
    assert.equal(continued.json.agent.identity_id, "me");
    assert.equal(continued.json.agent.last_launched_at_ms, NOW);

    assert.deepEqual(
      (await call("POST", "/api/agents/{id}/rename", `/api/agents/${id}/rename`, { name: "R" }))
        .json,
      { id, name: "R", changed: 1 },
    );
    assert.deepEqual(
      (await call("POST", "/api/agents/{id}/forget", `/api/agents/${id}/forget`)).json,
      { id, moved: 1 },
    );
    const trash = await call("GET", "/api/trash", "/api/trash");
    assert.deepEqual(
      trash.json.agents,
      (await service.listRetired()).map((r) => agentJson(r)),
    );
    assert.deepEqual(
      (await call("POST", "/api/agents/{id}/restore", `/api/agents/${id}/restore`)).json,
      { id, moved: 1 },
    );
    assert.deepEqual((await call("DELETE", "/api/agents/{id}", `/api/agents/${id}`)).json, {
      id,
      removed: 1,
    });

    const doctor = await call("GET", "/api/doctor", "/api/doctor");
    assert.deepEqual(doctor.json, await service.doctor(), "the report keeps every field");
    assert.ok(doctor.json.problems.some((p: { kind: string }) => p.kind === "working-dir-missing"));

    // Errors: the service's and the server's own, each in the ErrorBody shape.
    const errors: [string, string, string, unknown, string][] = [
      ["GET", "/api/agents/{id}", "/api/agents/missing", undefined, "AGENT_NOT_FOUND"],
      ["GET", "/api/agents/{id}", "/api/agents/bad%20id", undefined, "INVALID_ID"],
      [
        "POST",
        "/api/agents/{id}/continue",
        "/api/agents/nodir/continue",
        {},
        "WORKING_DIR_MISSING",
      ],
      ["POST", "/api/agents/{id}/restore", "/api/agents/nodir/restore", undefined, "CONFLICT"],
      ["POST", "/api/agents", "/api/agents", { name: "", definitionId: "d" }, "INVALID_NAME"],
      ["GET", "/api/agents", "/api/agents?limit=x", undefined, "INVALID_ARGUMENT"],
    ];
    for (const [method, path, url, body, code] of errors) {
      const answer = await call(method, path, url, body);
      assert.equal(answer.json.error.code, code, `${method} ${url}`);
    }
  });

  test("the feed's snapshot and changes are what the document declares", async (t) => {
    const { registry, service } = await setup(t);
    await registry.upsert(makeRecord("a"));
    fs.writeFileSync(join(registry.root, "broken.json"), "{");
    const heard: unknown[] = [];
    const { snapshot, unsubscribe } = await service.subscribe((changes, current) =>
      heard.push({ changes, skipped: current.skipped }),
    );
    t.after(unsubscribe);
    const snapshotSchema = schemaNamed("Snapshot");
    assert.ok(snapshotSchema?.(snapshot), JSON.stringify(snapshotSchema?.errors));
    assert.equal(snapshot.skipped.length, 1);
    await service.forgetAgent("a");
    const deadline = Date.now() + 5_000;
    while (heard.length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const changesSchema = schemaNamed("ChangesMessage");
    assert.ok(heard.length > 0, "the forget was heard");
    for (const message of heard)
      assert.ok(changesSchema?.(message), JSON.stringify(changesSchema?.errors));
  });

  test("requests the schemas refuse are INVALID_ARGUMENT, naming the field", async (t) => {
    const { registry, call } = await setup(t);
    await registry.upsert(makeRecord("x1"));
    const cases: [
      string,
      string,
      string,
      unknown,
      { field?: string; in: string; message: RegExp },
    ][] = [
      ["POST", "/api/agents", "/api/agents", [1], { in: "body", message: /JSON object/ }],
      [
        "POST",
        "/api/agents",
        "/api/agents",
        { name: "n" },
        { field: "definitionId", in: "body", message: /definitionId is required/ },
      ],
      [
        "POST",
        "/api/agents",
        "/api/agents",
        { name: 5, definitionId: "d" },
        { field: "name", in: "body", message: /name must be string/ },
      ],
      [
        "POST",
        "/api/agents",
        "/api/agents",
        { name: true, definitionId: "d" },
        { field: "name", in: "body", message: /name must be string/ },
      ],
      [
        "POST",
        "/api/agents",
        "/api/agents",
        { name: "n", definitionId: "d", identityId: 7 },
        { field: "identityId", in: "body", message: /identityId must be string or null/ },
      ],
      [
        "POST",
        "/api/agents",
        "/api/agents",
        { name: "n", definition_id: "d", definitionId: "d" },
        { field: "definition_id", in: "body", message: /not a field this route takes/ },
      ],
      [
        "POST",
        "/api/agents/{id}/rename",
        "/api/agents/x1/rename",
        {},
        { field: "name", in: "body", message: /name is required/ },
      ],
      [
        "POST",
        "/api/agents/{id}/continue",
        "/api/agents/x1/continue",
        { sessionId: 1 },
        { field: "sessionId", in: "body", message: /sessionId must be string or null/ },
      ],
      [
        "GET",
        "/api/agents",
        "/api/agents?limit=-1",
        undefined,
        { field: "limit", in: "querystring", message: /limit must be a non-negative integer/ },
      ],
      [
        "GET",
        "/api/agents",
        "/api/agents?limit=1.5",
        undefined,
        { field: "limit", in: "querystring", message: /non-negative integer/ },
      ],
    ];
    for (const [method, path, url, body, expected] of cases) {
      const { status, json } = await call(method, path, url, body);
      const context = `${method} ${url} ${JSON.stringify(body)}`;
      assert.equal(status, 400, context);
      assert.equal(json.error.code, "INVALID_ARGUMENT", context);
      assert.equal(json.error.in, expected.in, context);
      assert.equal(json.error.field, expected.field, context);
      assert.match(json.error.message, expected.message, context);
    }
    // Nothing was created by any of them.
    assert.deepEqual(
      (await registry.listActive()).map((r) => r.data.instance_id),
      ["x1"],
    );
  });

  test("continue takes no body at all; an invalid id reaches the service (INVALID_ID) on every route", async (t) => {
    const { registry, call } = await setup(t);
    await registry.upsert(makeRecord("c1"));
    fs.mkdirSync(join(registry.agentsBase, "c1-wd"));
    const bare = await call("POST", "/api/agents/{id}/continue", "/api/agents/c1/continue");
    assert.equal(bare.status, 200);
    for (const [method, path, body] of [
      ["GET", "/api/agents/{id}", undefined],
      ["DELETE", "/api/agents/{id}", undefined],
      ["POST", "/api/agents/{id}/continue", {}],
      ["POST", "/api/agents/{id}/forget", undefined],
      ["POST", "/api/agents/{id}/restore", undefined],
      ["POST", "/api/agents/{id}/rename", { name: "n" }],
    ] as const) {
      for (const bad of [".hidden", "a%20b", "x".repeat(129)]) {
        const url = path.replace("{id}", bad);
        const answer = await call(method, path, url, body);
        assert.equal(answer.status, 400, `${method} ${url}`);
        assert.equal(answer.json.error.code, "INVALID_ID", `${method} ${url}`);
      }
    }
  });
});
