/**
 * Answers in the error contract (`{ error: { code, message } }`, src/api.ts) that the server
 * gives itself, outside any service call: refusals of the gate, the token check, the caps.
 */

import type { FastifyReply } from "fastify";

/** An answer in the error contract: status, code (a row of docs/ERRORS.md) and message. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
}

export const refusal = (status: number, code: string, message: string): Refusal => ({
  status,
  code,
  message,
});

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

/** Answers with a refusal; `close` ends the connection after it (an unread body is not awaited). */
export function refuse(reply: FastifyReply, answer: Refusal, close = false): FastifyReply {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
  if (close) reply.header("connection", "close");
  return reply
    .code(answer.status)
    .type("application/json; charset=utf-8")
    .send({ error: { code: answer.code, message: answer.message } });
}
