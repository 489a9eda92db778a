/**
 * Checking the token a request gives. The token file itself is `io/token-file.ts`, reached through
 * `RegistryService.loadOrCreateToken`.
 */

import { timingSafeEqual } from "node:crypto";

export function tokensMatch(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
