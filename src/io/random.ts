/**
 * Random names and ids from the global Web Crypto object, which Node loads on first use: an
 * import of `node:crypto` costs every command's start-up a few milliseconds, a listing included.
 */

/** `bytes` random bytes as hex (temp and stale-file names, lock and service tokens). */
export const randomHex = (bytes: number): string =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");

/** A random (v4) UUID. */
export const randomId = (): string => crypto.randomUUID();
