/**
 * A small version of `bench/load.ts` against the BUILT service: 20 concurrent keep-alive clients
 * × 25 `GET /api/agents` on a 300-record registry while another process writes to it. Asserts
 * only that every response was a 200 with a valid listing and that the writer got its writes
 * done — never anything about speed (the figures go to the test's diagnostics).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { hammer, percentile, seedFiles, Writer } from "../../bench/load.js";
import { sandbox } from "./support.js";

const RECORDS = 300;
const CLIENTS = 20;
const CALLS = 25;

test(`${CLIENTS} clients × ${CALLS} listings of ${RECORDS} records while another process writes`, async (t) => {
  const box = await sandbox(t);
  seedFiles(box.root, RECORDS);
  const service = await box.serve();
  const writer = new Writer(
    box.spawnTracked(process.execPath, Writer.args(box.root, box.agentsBase, RECORDS)),
  );
  await writer.ready();

  const result = await hammer(service, { clients: CLIENTS, calls: CALLS, records: RECORDS });
  const written = await writer.stop();

  t.diagnostic(
    `${result.requests} requests in ${Math.round(result.wallMs)} ms: p50 ` +
      `${percentile(result.latencies, 50).toFixed(1)} ms, p99 ` +
      `${percentile(result.latencies, 99).toFixed(1)} ms; writer: ${JSON.stringify(written.ops)}`,
  );
  assert.equal(result.requests, CLIENTS * CALLS);
  assert.equal(result.errors, 0, `errors: ${result.errorSamples.join("; ")}`);
  assert.equal(written.errors, 0, `writer's first error: ${written.firstError}`);
  assert.ok(written.writes > 0, `the writer made progress: ${JSON.stringify(written)}`);
  assert.ok(
    (written.ops.update ?? 0) > 0 && (written.ops.create ?? 0) > 0,
    `updates and creates both ran: ${JSON.stringify(written.ops)}`,
  );
  assert.equal(service.child.exitCode, null, `the service is still up: ${service.stderr()}`);
});
