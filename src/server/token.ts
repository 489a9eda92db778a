/**
 * The per-install access token: created on first run (256 random bits), kept in the registry
 * root as `.service-token` with mode 0600 — readable only by the user who owns the registry.
 */

import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Registry } from "../registry.js";

export const TOKEN_FILE = ".service-token";
const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

export async function loadOrCreateToken(registry: Registry): Promise<string> {
  const existing = (await registry.readMarker(TOKEN_FILE))?.trim();
  if (existing && TOKEN_PATTERN.test(existing)) return existing;
  const token = randomBytes(32).toString("hex");
  await registry.writeMarker(TOKEN_FILE, `${token}\n`);
  return token;
}

export function tokensMatch(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
