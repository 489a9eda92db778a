/**
 * A lossless JSON codec for registry files.
 *
 * `JSON.parse` cannot do what the format promises: it rounds integers above 2^53, turns `1.0`
 * into `1`, lets a repeated key silently win, reorders integer-like keys and recurses without
 * a depth limit. This parser keeps every number as its source token (lossless-json's
 * `LosslessNumber`), keeps objects as insertion-ordered `Map`s, reports repeated keys, and
 * stops at a fixed depth. The serializer writes the registry's canonical layout.
 */

import { LosslessNumber } from "lossless-json";

export { LosslessNumber };

export type JsonValue = null | boolean | string | LosslessNumber | JsonValue[] | JsonObject;
export type JsonObject = Map<string, JsonValue>;

export const MAX_DEPTH = 512;

export type ParseFailure = {
  ok: false;
  reason: "invalid-utf8" | "bom" | "invalid-json";
  message: string;
};

type ParseSuccess = {
  ok: true;
  value: JsonValue;
  /** Paths (keys from the root) of every key that appeared more than once in its object. */
  duplicateKeys: string[][];
};

export type ParseResult = ParseSuccess | ParseFailure;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes strict UTF-8 (no BOM) and parses it. Never throws. */
export function parseJsonBytes(bytes: Uint8Array): ParseResult {
  const text = decodeText(bytes);
  return typeof text === "string" ? parseJson(text) : text;
}

/** Strict UTF-8 without a byte order mark, or why not. Never throws. */
export function decodeText(bytes: Uint8Array): string | ParseFailure {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { ok: false, reason: "bom", message: "file starts with a UTF-8 byte order mark" };
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return { ok: false, reason: "invalid-utf8", message: "file is not valid UTF-8" };
  }
}

/** Parses JSON text. Never throws. */
export function parseJson(text: string): ParseResult {
  const parser = new Parser(text);
  try {
    return parser.parseDocument();
  } catch (error) {
    if (error instanceof JsonSyntaxError) {
      return { ok: false, reason: "invalid-json", message: error.message };
    }
    throw error;
  }
}

class JsonSyntaxError extends Error {}

enum Char {
  Tab = 0x09,
  Newline = 0x0a,
  Return = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  UpperE = 0x45,
  OpenBracket = 0x5b,
  Backslash = 0x5c,
  CloseBracket = 0x5d,
  LowerE = 0x65,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
}

/** A backslash or a control character: the string needs the careful loop. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const NEEDS_SLOW_PATH = /[\\\u0000-\u001f]/;

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

class Parser {
  private pos = 0;
  private readonly path: string[] = [];
  private readonly duplicates: string[][] = [];

  constructor(private readonly text: string) {}

  parseDocument(): ParseSuccess {
    this.skipWhitespace();
    const value = this.parseValue(1);
    this.skipWhitespace();
    if (this.pos < this.text.length) this.fail("unexpected content after the JSON value");
    return { ok: true, value, duplicateKeys: this.duplicates };
  }

  private fail(what: string): never {
    throw new JsonSyntaxError(`invalid JSON at offset ${this.pos}: ${what}`);
  }

  private skipWhitespace(): void {
    const text = this.text;
    let pos = this.pos;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === Char.Space || c === Char.Newline || c === Char.Return || c === Char.Tab) pos++;
      else break;
    }
    this.pos = pos;
  }

  private parseValue(depth: number): JsonValue {
    const c = this.text.charCodeAt(this.pos);
    if (c === Char.OpenBrace) return this.parseObject(depth);
    if (c === Char.OpenBracket) return this.parseArray(depth);
    if (c === Char.Quote) return this.parseString();
    if (c === Char.Minus || (c >= Char.Zero && c <= Char.Nine)) return this.parseNumber();
    if (this.text.startsWith("true", this.pos)) {
      this.pos += 4;
      return true;
    }
    if (this.text.startsWith("false", this.pos)) {
      this.pos += 5;
      return false;
    }
    if (this.text.startsWith("null", this.pos)) {
      this.pos += 4;
      return null;
    }
    return this.fail(this.pos >= this.text.length ? "unexpected end of input" : "expected a value");
  }

  private enter(depth: number): void {
    if (depth > MAX_DEPTH) {
      throw new JsonSyntaxError(`nesting deeper than ${MAX_DEPTH} levels`);
    }
  }

  private parseObject(depth: number): JsonObject {
    this.enter(depth);
    this.pos++;
    const object: JsonObject = new Map();
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === Char.CloseBrace) {
      this.pos++;
      return object;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== Char.Quote) this.fail("expected a string key");
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== Char.Colon) this.fail("expected ':'");
      this.pos++;
      this.skipWhitespace();
      this.path.push(key);
      const value = this.parseValue(depth + 1);
      this.path.pop();
      if (object.has(key)) this.duplicates.push([...this.path, key]);
      object.set(key, value);
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === Char.CloseBrace) return object;
      if (c !== Char.Comma) {
        this.pos--;
        this.fail("expected ',' or '}'");
      }
      this.skipWhitespace();
    }
  }

  private parseArray(depth: number): JsonValue[] {
    this.enter(depth);
    this.pos++;
    const array: JsonValue[] = [];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === Char.CloseBracket) {
      this.pos++;
      return array;
    }
    for (;;) {
      this.path.push(String(array.length));
      array.push(this.parseValue(depth + 1));
      this.path.pop();
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === Char.CloseBracket) return array;
      if (c !== Char.Comma) {
        this.pos--;
        this.fail("expected ',' or ']'");
      }
      this.skipWhitespace();
    }
  }

  private parseString(): string {
    const text = this.text;
    const start = this.pos + 1;
    // Fast path: no escape and no control character before the closing quote (nearly always).
    const close = text.indexOf('"', start);
    if (close >= 0 && !NEEDS_SLOW_PATH.test(text.slice(start, close))) {
      this.pos = close + 1;
      return text.slice(start, close);
    }
    let pos = start;
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === Char.Quote) {
        this.pos = pos + 1;
        return text.slice(start, pos);
      }
      if (c === Char.Backslash) break;
      if (c < 0x20 || Number.isNaN(c)) {
        this.pos = pos;
        this.fail(Number.isNaN(c) ? "unterminated string" : "control character in string");
      }
      pos++;
    }
    let out = text.slice(start, pos);
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === Char.Quote) {
        this.pos = pos + 1;
        return out;
      }
      if (c === Char.Backslash) {
        const escaped = text.charAt(pos + 1);
        if (escaped === "u") {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) {
            this.pos = pos;
            this.fail("invalid \\u escape");
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
          pos += 6;
        } else {
          const replacement = ESCAPES[escaped];
          if (replacement === undefined) {
            this.pos = pos;
            this.fail("invalid escape");
          }
          out += replacement;
          pos += 2;
        }
        continue;
      }
      if (c < 0x20 || Number.isNaN(c)) {
        this.pos = pos;
        this.fail(Number.isNaN(c) ? "unterminated string" : "control character in string");
      }
      out += text[pos];
      pos++;
    }
  }

  private parseNumber(): LosslessNumber {
    const text = this.text;
    const start = this.pos;
    let pos = start;
    if (text.charCodeAt(pos) === Char.Minus) pos++;
    const first = text.charCodeAt(pos);
    if (first === Char.Zero) {
      pos++;
    } else if (first > Char.Zero && first <= Char.Nine) {
      pos = skipDigits(text, pos);
    } else {
      this.pos = pos;
      this.fail("invalid number");
    }
    if (text.charCodeAt(pos) === Char.Dot) {
      const after = skipDigits(text, pos + 1);
      if (after === pos + 1) {
        this.pos = after;
        this.fail("expected a digit after '.'");
      }
      pos = after;
    }
    const e = text.charCodeAt(pos);
    if (e === Char.LowerE || e === Char.UpperE) {
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === Char.Plus || sign === Char.Minus) pos++;
      const after = skipDigits(text, pos);
      if (after === pos) {
        this.pos = after;
        this.fail("expected a digit in the exponent");
      }
      pos = after;
    }
    this.pos = pos;
    return new LosslessNumber(text.slice(start, pos));
  }
}

function skipDigits(text: string, from: number): number {
  let pos = from;
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c >= Char.Zero && c <= Char.Nine) pos++;
    else return pos;
  }
}

/** True when `a` and `b` are the same JSON: same tokens, same keys in the same order. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (a instanceof LosslessNumber) return b instanceof LosslessNumber && a.value === b.value;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++)
      if (!jsonEqual(a[i] as JsonValue, b[i] as JsonValue)) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    const bEntries = b.entries();
    for (const [key, value] of a) {
      const next = bEntries.next().value;
      if (next === undefined || next[0] !== key || !jsonEqual(value, next[1])) return false;
    }
    return true;
  }
  return false;
}

/**
 * The registry's canonical text: 2-space indent, `"key": value`, one trailing newline, numbers
 * re-emitted from their tokens. Identical to serde_json's pretty printer for the same tree.
 */
export function stringifyJson(value: JsonValue): string {
  return `${stringifyAt(value, "")}\n`;
}

function stringifyAt(value: JsonValue, indent: string): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof LosslessNumber) return value.value;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((item) => inner + stringifyAt(item, inner));
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  if (value.size === 0) return "{}";
  const members: string[] = [];
  for (const [key, member] of value) {
    members.push(`${inner}${JSON.stringify(key)}: ${stringifyAt(member, inner)}`);
  }
  return `{\n${members.join(",\n")}\n${indent}}`;
}
