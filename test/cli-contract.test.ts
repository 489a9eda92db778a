/**
 * The CLI's `--json` speaks the wire contract too (src/api.ts): what the built CLI prints for
 * each command validates against the same schema the HTTP route of that operation answers with
 * (docs/openapi.json), so a launcher can switch between the two without a second parser.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { sandbox, seedId } from "./browser/support.js";
import { makeRecord } from "./helpers.js";
import { documentValidator, readOpenApi } from "./openapi-support.js";

const schemaNamed = documentValidator(readOpenApi());

test("--json output of each command is the HTTP route's answer schema", async (t) => {
  const box = await sandbox(t);
  await box.seed([
    makeRecord(seedId(1), { instance_name: "one", working_dir: "one-wd" }),
    makeRecord(seedId(2), { instance_name: "two", working_dir: "two-wd" }),
  ]);
  const json = async (args: string[], schema: string) => {
    const result = await box.cli(["--json", ...args]);
    assert.ok(result.code === 0 || args[0] === "doctor", `${args.join(" ")}: ${result.stderr}`);
    const value = JSON.parse(result.stdout) as Record<string, unknown>;
    const validate = schemaNamed(schema);
    assert.ok(validate, schema);
    assert.ok(
      validate(value),
      `${args.join(" ")} is not a ${schema}: ${JSON.stringify(validate.errors)}\n${result.stdout}`,
    );
    return value;
  };
  await json(["list"], "AgentList");
  await json(["list", "--all"], "AgentList");
  await json(["show", "one"], "AgentLookup");
  const created = await json(
    ["create", "--name", "three", "--definition", "aider"],
    "CreatedAgent",
  );
  const id = (created.agent as { instance_id: string }).instance_id;
  await json(["rename", id, "three again"], "Renamed");
  await json(["forget", id], "Moved");
  await json(["trash"], "AgentList");
  await json(["show", id], "AgentLookup");
  await json(["restore", id], "Moved");
  await json(["delete", id, "--yes"], "Removed");
  await json(["doctor"], "DoctorReport");
  await json(["leases"], "LeaseList");
  await json(["leases", "--all"], "LeaseList");
  // `continue --json` is the HTTP answer without `resume_command` (the CLI's `--exec` is that).
  const continued = await box.cli(["--json", "continue", "one"]);
  assert.equal(continued.code, 0, continued.stderr);
  const { agent, working_dir_path } = JSON.parse(continued.stdout) as Record<string, unknown>;
  assert.ok(schemaNamed("Agent")?.(agent));
  assert.equal(typeof working_dir_path, "string");
  // And a failure is the ErrorBody.
  const missing = await box.cli(["--json", "show", "nobody"]);
  assert.equal(missing.code, 3);
  assert.ok(schemaNamed("ErrorBody")?.(JSON.parse(missing.stdout)), missing.stdout);
});
