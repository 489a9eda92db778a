import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jsonEqual, LosslessNumber, parseJson, stringifyJson } from "../src/core/json.js";
import { fromPlain, toPlain } from "../src/core/plain.js";

const parse = (text: string) => {
  const result = parseJson(text);
  assert.ok(result.ok, text);
  return result;
};

describe("lossless JSON codec", () => {
  test("number tokens survive a round trip exactly", () => {
    const text =
      '{\n  "a": [\n    1.0,\n    1E5,\n    -0,\n    2.50,\n    18446744073709551615,\n    1e-7\n  ]\n}\n';
    assert.equal(stringifyJson(parse(text).value), text);
  });

  test("key order is kept, integer-like keys included", () => {
    const { value } = parse('{"b": 1, "10": 2, "a": 3, "2": 4}');
    assert.deepEqual([...(value as Map<string, unknown>).keys()], ["b", "10", "a", "2"]);
  });

  test("repeated keys are reported with their path, last value kept", () => {
    const result = parse('{"a": 1, "d": {"x": [ {"k": 1, "k": 2} ], "x2": 0}, "a": 5}');
    assert.deepEqual(result.duplicateKeys, [["d", "x", "0", "k"], ["a"]]);
    assert.equal(String((result.value as Map<string, unknown>).get("a")), "5");
  });

  test("escapes decode, and strings re-encode as valid JSON", () => {
    const { value } = parse('["\\u00e9\\n\\"\\\\\\/\\b\\f\\r\\t", "\\ud83d\\ude80", "\\udc00"]');
    assert.deepEqual(value, ['é\n"\\/\b\f\r\t', "🚀", "\udc00"]);
    const again = parse(stringifyJson(value));
    assert.ok(jsonEqual(again.value, value));
  });

  test("malformed input is invalid-json, never an exception", () => {
    for (const text of [
      "",
      "{",
      "[1,]",
      '{"a" 1}',
      "01",
      "1.",
      "-",
      "+1",
      "1e",
      "tru",
      "nul",
      '"\u0001"',
      '"\\x"',
      '"\\u12"',
      "[1 2]",
      "{}{}",
      "NaN",
      "'a'",
    ]) {
      const result = parseJson(text);
      assert.equal(result.ok, false, text);
      assert.equal(!result.ok && result.reason, "invalid-json", text);
    }
  });

  test("a __proto__ key is data, never a prototype", () => {
    const { value } = parse('{"__proto__": {"polluted": true}, "a": 1}');
    const plain = toPlain(value) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(plain), Object.prototype);
    assert.deepEqual(Object.keys(plain), ["__proto__", "a"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.ok(jsonEqual(fromPlain(plain), value));
  });

  test("toPlain gives numbers for canonical tokens and LosslessNumber otherwise", () => {
    const plain = toPlain(parse("[1, 1.5, 1.0, 1E5, 9007199254740993, -0]").value) as unknown[];
    assert.deepEqual(plain.slice(0, 2), [1, 1.5]);
    for (const item of plain.slice(2)) assert.ok(item instanceof LosslessNumber);
    assert.deepEqual(plain.slice(2).map(String), ["1.0", "1E5", "9007199254740993", "-0"]);
  });

  test("fromPlain keeps bigint and LosslessNumber exact and drops undefined members", () => {
    const tree = fromPlain({
      a: 12345678901234567890n,
      b: new LosslessNumber("1.0"),
      c: undefined,
    });
    assert.equal(stringifyJson(tree), '{\n  "a": 12345678901234567890,\n  "b": 1.0\n}\n');
  });
});
