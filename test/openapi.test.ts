/**
 * docs/openapi.json is the document the service serves at /api/openapi.json, generated from the
 * routes' own schemas (src/api.ts): regenerated here and compared. After a change of a route or a
 * schema, rewrite it with
 *   AMR_UPDATE_OPENAPI=1 node --import tsx --test test/openapi.test.ts
 * (then `npx biome format --write docs/openapi.json`). And the document tells the truth about
 * access: every operation it says needs the token answers 401 without one, and only the page's
 * own files are public.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import type { RegistryService } from "../src/index.js";
import { buildHttp } from "../src/server/http.js";
import { documentValidator, OPENAPI_FILE as FILE } from "./openapi-support.js";

const PORT = 47998;
const TOKEN = "t".repeat(64);

type Json = Record<string, unknown>;

/** The HTTP app around a service that is never called: documents and refusals only. */
async function app(t: { after: (fn: () => Promise<void>) => void }) {
  const service = new Proxy({} as RegistryService, {
    get: (_target, name) => {
      throw new Error(`the service was called (${String(name)})`);
    },
  });
  const http = buildHttp({ service, token: TOKEN, port: () => PORT });
  t.after(() => http.close());
  await http.ready();
  return http;
}

test("docs/openapi.json is the document /api/openapi.json serves", async (t) => {
  const http = await app(t);
  const response = await http.inject({
    method: "GET",
    url: "/api/openapi.json",
    headers: { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(response.statusCode, 200, response.body);
  const served = response.json() as Json;
  if (process.env.AMR_UPDATE_OPENAPI) writeFileSync(FILE, `${JSON.stringify(served, null, 2)}\n`);
  const committed = JSON.parse(readFileSync(FILE, "utf8")) as Json;
  assert.deepEqual(
    served,
    committed,
    "docs/openapi.json is out of date: AMR_UPDATE_OPENAPI=1 node --import tsx --test test/openapi.test.ts",
  );
  const anonymous = await http.inject({
    method: "GET",
    url: "/api/openapi.json",
    headers: { host: `127.0.0.1:${PORT}` },
  });
  assert.equal(anonymous.statusCode, 401, "the document is under /api: it needs the token");
});

test("every route is documented, with its schemas, and its access is what the document says", async (t) => {
  const http = await app(t);
  const document = JSON.parse(readFileSync(FILE, "utf8")) as {
    openapi: string;
    paths: Record<string, Record<string, Json>>;
    components: { schemas: Record<string, Json> };
  };
  assert.equal(document.openapi, "3.1.0");
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );
  const ids = operations.map(({ operation }) => operation.operationId);
  assert.equal(new Set(ids).size, ids.length, "operation ids are unique");
  for (const { path, method, operation } of operations) {
    const context = `${method.toUpperCase()} ${path}`;
    assert.equal(typeof operation.summary, "string", `${context}: summary`);
    const responses = operation.responses as Json;
    assert.ok(
      Object.keys(responses).some((status) => status.startsWith("2")),
      `${context}: declares its answer`,
    );
    const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
    assert.equal(isPublic, !path.startsWith("/api/"), `${context}: only the page is public`);
    if (!isPublic)
      assert.deepEqual(
        responses["4XX"],
        {
          description: (responses["4XX"] as Json).description,
          content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
        },
        `${context}: errors in the contract`,
      );
    // Without a token: 401 for what the document says needs it, the file for the page's own.
    const url = path.replace("{id}", "some-id");
    const answer = await http.inject({
      method: method.toUpperCase() as "GET",
      url,
      headers: { host: `127.0.0.1:${PORT}` },
    });
    assert.equal(answer.statusCode, isPublic ? 200 : 401, `${context}: ${answer.body}`);
  }

  // Every route fastify holds (other than HEAD twins) is in the document.
  const documented = new Set(operations.map(({ path, method }) => `${method} ${path}`));
  for (const route of [
    "get /api/agents",
    "post /api/agents",
    "get /api/agents/{id}",
    "delete /api/agents/{id}",
    "post /api/agents/{id}/continue",
    "post /api/agents/{id}/forget",
    "post /api/agents/{id}/restore",
    "post /api/agents/{id}/rename",
    "get /api/trash",
    "get /api/doctor",
    "get /api/leases",
    "get /api/events",
    "get /api/openapi.json",
    "get /",
    "get /style.css",
    "get /app.js",
    "get /favicon.svg",
  ])
    assert.ok(documented.has(route), `${route} is documented`);
  assert.equal(documented.size, 17, [...documented].join(", "));

  // The component schemas are valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1), and every
  // reference resolves.
  const validate = documentValidator(document);
  for (const name of Object.keys(document.components.schemas)) assert.ok(validate(name), name);
});
