/**
 * The lines the page's Continue shows (web/shell.ts): the agent's id, its session id when it holds
 * one (as `continue --session` takes it), the user's own command after `--` (never the definition
 * id), and the `cd` form with the directory quoted for a POSIX shell.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { shellQuote } from "../../src/present.js";
import { continueLines } from "../../web/shell.js";

test("plain words stay as they are; anything else is single-quoted, quotes included", () => {
  assert.equal(shellQuote("/home/me/agents/alpha-wd"), "/home/me/agents/alpha-wd");
  assert.equal(shellQuote("/home/me/my agents/it's"), `'/home/me/my agents/it'\\''s'`);
  assert.equal(shellQuote(""), "''");
  // What a shell makes of the quoted word is the text itself.
  for (const text of ["a b", "it's", "$(rm -rf /)", "`x`", "a\nb", "~", "*", "-n", ""]) {
    const echoed = execFileSync("sh", ["-c", `printf %s ${shellQuote(text)}`], {
      encoding: "utf8",
    });
    assert.equal(echoed, text);
  }
});

test("the continue line names the agent by id, passes a held session and runs the user's command", () => {
  const agent = { instance_id: "7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001", session_id: null };
  assert.deepEqual(continueLines(agent, "/home/me/agents/alpha", "claude --resume "), {
    exec: "agentmux-registry continue 7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001 --exec -- claude --resume",
    cd: "cd /home/me/agents/alpha && agentmux-registry continue 7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001 --exec -- claude --resume",
  });
  const held = { ...agent, session_id: "sess 1" };
  assert.deepEqual(continueLines(held, "/tmp/my agents/a", "codex"), {
    exec: "agentmux-registry continue 7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001 --session 'sess 1' --exec -- codex",
    cd: "cd '/tmp/my agents/a' && agentmux-registry continue 7c8e4f12-9a3b-4cba-bd60-1a9e8f7c0001 --session 'sess 1' --exec -- codex",
  });
});
