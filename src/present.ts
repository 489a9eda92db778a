/**
 * How agents are shown to people, shared by the CLI, the service and the web page so they never
 * drift: the newest-first order of the Continue dropdown, relative times, and shell quoting of the
 * command lines they suggest. Pure: no `node:` imports,
 * no clock (callers pass `now`).
 */

interface Launched {
  instance_id: string;
  last_launched_at_ms: number;
}

/** The dropdown's order: newest launch first, then by id. */
export function compareNewestFirst(a: Launched, b: Launched): number {
  return (
    b.last_launched_at_ms - a.last_launched_at_ms ||
    (a.instance_id < b.instance_id ? -1 : a.instance_id > b.instance_id ? 1 : 0)
  );
}

/** Each unit of a relative time and how many of the one before make it. */
const STEPS: readonly (readonly [number, string])[] = [
  [60, "min"],
  [60, "h"],
  [24, "d"],
  [30.44, "mo"],
  [12, "y"],
];

/** "just now", "5 min ago", "3 h ago", "2 d ago", "4 mo ago", "2 y ago"; the future says "in …". */
export function relativeTime(ms: number, now: number): string {
  const delta = now - ms;
  const past = delta >= 0;
  const seconds = Math.abs(delta) / 1000;
  if (seconds < 45) return "just now";
  let value = seconds / 60;
  let unit = "min";
  // Move up a unit when the rounded value would reach it: "60 min" is "1 h".
  for (let i = 1; i < STEPS.length; i++) {
    const [size, name] = STEPS[i] as readonly [number, string];
    if (Math.round(value) < size) break;
    value /= size;
    unit = name;
  }
  const amount = `${Math.round(value)} ${unit}`;
  return past ? `${amount} ago` : `in ${amount}`;
}

interface Holder {
  hostname: string;
  pid: number;
  channel: string;
  version: string;
}

/**
 * Who holds an agent's lease, for people: `box · pid 4242 · agentmux 0.34.1` (parts a lease file
 * did not record are left out); `null` is a holder whose lease file cannot be read.
 */
export function holderText(holder: Holder | null): string {
  if (!holder) return "unknown holder (its lease file cannot be read)";
  const program = [holder.channel || "another program", holder.version].filter(Boolean).join(" ");
  return [holder.hostname, holder.pid === 0 ? "" : `pid ${holder.pid}`, program]
    .filter(Boolean)
    .join(" · ");
}

/** A shell word: as it is when it is plain, else in single quotes (POSIX `sh`). */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./+:=@%-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
