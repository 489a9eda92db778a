/**
 * One parser per kind of option value, each naming its option in its message. A value option may
 * be given once (a second `--root` is a mistake, not an override); every failure is a usage error
 * (`INVALID_ARGUMENT`, exit 2) raised while commander parses, before anything is opened.
 */

import { resolve } from "node:path";
import { Option } from "commander";
import { usage } from "./errors.js";

/** What commander calls with each value of an option and the value parsed before (if any). */
export type ValueParser<T> = (value: string, previous: unknown) => T;

/** The value as given, once: the form of every value option. */
export function once<T = string>(
  flag: string,
  parse: (value: string) => T = (value) => value as T,
): ValueParser<T> {
  return (value, previous) => {
    if (previous !== undefined) usage(`${flag} was given more than once`);
    return parse(value);
  };
}

/** Non-empty text, once: an empty value would silently mean nothing (or the current directory). */
export function text(flag: string): ValueParser<string> {
  const single = once(flag);
  return (value, previous) => {
    if (value === "") usage(`${flag} must not be empty`);
    return single(value, previous);
  };
}

/** A directory: non-empty text, once, made absolute against the current directory. */
export function path(flag: string): ValueParser<string> {
  const single = text(flag);
  return (value, previous) => resolve(single(value, previous));
}

/** A non-negative decimal integer, plain digits only, at most `max`, once. */
export function wholeNumber(flag: string, bounds: { max?: number } = {}): ValueParser<number> {
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  return once(flag, (value) => {
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n))
      usage(`${flag} must be a non-negative whole number (got ${JSON.stringify(value)})`);
    if (n > max) usage(`${flag} must be at most ${max} (got ${value})`);
    return n;
  });
}

/**
 * An option whose value goes through `parser`, built from the option's own long name, so that a
 * message never names another option (`serve --port abc` once blamed `--limit`).
 */
export function valueOption<T>(
  flags: string,
  description: string,
  parser: (flag: string) => ValueParser<T>,
): Option {
  const option = new Option(flags, description);
  return option.argParser(parser(option.long ?? option.name()));
}
