/**
 * Conversion between the lossless JSON tree and plain JavaScript values, for callers.
 *
 * A number whose token JavaScript reproduces exactly (`String(Number(token)) === token`) becomes
 * a `number`; any other (`1.0`, `1E5`, 2^64−1) stays a `LosslessNumber` whose `toString()` is
 * its token, so handing a value out and taking it back loses nothing.
 */

import { type JsonObject, type JsonValue, LosslessNumber, MAX_DEPTH } from "./json.js";

/**
 * A JSON value as this package hands it out (the values of unknown fields): a number whose token
 * JavaScript reproduces exactly is a `number`; any other (`1.0`, `1E5`, 2^64−1) is a
 * `LosslessNumber` whose `toString()` is the token, so writing it back loses nothing.
 */
export type PlainValue =
  | null
  | boolean
  | number
  | string
  | LosslessNumber
  | PlainValue[]
  | { [key: string]: PlainValue };

export function toPlain(value: JsonValue): PlainValue {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof LosslessNumber) return numberToPlain(value);
  if (Array.isArray(value)) return value.map(toPlain);
  return objectToPlain(value);
}

export function objectToPlain(object: JsonObject): { [key: string]: PlainValue } {
  const out: { [key: string]: PlainValue } = {};
  for (const [key, member] of object) setOwn(out, key, toPlain(member));
  return out;
}

function numberToPlain(token: LosslessNumber): number | LosslessNumber {
  const asNumber = Number(token.value);
  return String(asNumber) === token.value ? asNumber : new LosslessNumber(token.value);
}

/** Assigns without ever touching a prototype (a JSON key may be `__proto__`). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

export class NotJsonError extends Error {
  constructor(
    public path: string,
    readonly problem = "is not representable in JSON",
  ) {
    super(`${path || "value"} ${problem}`);
  }

  /** Adds the parent's key as the error unwinds, so the happy path builds no path strings. */
  under(key: string): NotJsonError {
    this.path =
      this.path === ""
        ? key
        : this.path.startsWith("[")
          ? `${key}${this.path}`
          : `${key}.${this.path}`;
    this.message = `${this.path} ${this.problem}`;
    return this;
  }
}

/** A value nested deeper than any reader accepts: writing it would make the record unreadable. */
export class TooDeepError extends NotJsonError {
  constructor() {
    super("", `nests deeper than ${MAX_DEPTH} levels`);
  }
}

/**
 * Converts a caller's value into the tree. `undefined` members are dropped, as `JSON.stringify`
 * does; a bigint becomes its exact integer token; anything else that is not JSON (NaN, functions,
 * class instances other than `LosslessNumber`), or nesting deeper than `MAX_DEPTH`, throws
 * `NotJsonError` naming the path.
 */
export function fromPlain(value: unknown, path = ""): JsonValue {
  try {
    return convert(value, 1);
  } catch (error) {
    if (error instanceof NotJsonError && path !== "") throw error.under(path);
    throw error;
  }
}

function convert(value: unknown, depth: number): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new NotJsonError("");
    return new LosslessNumber(String(Object.is(value, -0) ? 0 : value));
  }
  if (typeof value === "bigint") return new LosslessNumber(value.toString());
  if (value instanceof LosslessNumber) return new LosslessNumber(value.value);
  if (depth > MAX_DEPTH) throw new TooDeepError();
  if (Array.isArray(value)) {
    return value.map((item, i) => {
      try {
        return convert(item, depth + 1);
      } catch (error) {
        throw error instanceof NotJsonError ? error.under(`[${i}]`) : error;
      }
    });
  }
  if (isPlainObject(value)) {
    const out: JsonObject = new Map();
    for (const key of Object.keys(value)) {
      const member = value[key];
      if (member === undefined) continue;
      try {
        out.set(key, convert(member, depth + 1));
      } catch (error) {
        throw error instanceof NotJsonError ? error.under(key) : error;
      }
    }
    return out;
  }
  throw new NotJsonError("");
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Deep equality of plain values, comparing `LosslessNumber`s by token. */
export function plainEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof LosslessNumber || b instanceof LosslessNumber) {
    return a instanceof LosslessNumber && b instanceof LosslessNumber && a.value === b.value;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, i) => plainEqual(item, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const aKeys = Object.keys(a).filter((k) => a[k] !== undefined);
    const bKeys = Object.keys(b).filter((k) => b[k] !== undefined);
    if (aKeys.length !== bKeys.length) return false;
    return aKeys.every((k) => Object.hasOwn(b, k) && plainEqual(a[k], b[k]));
  }
  return false;
}
