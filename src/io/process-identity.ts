/**
 * Who a process is, as a lease records it (SPEC §15): this host's name, whether a pid runs, and a
 * pid's start time computed exactly as AgentMux computes it, so that each program can tell the
 * other's live holder from a reused pid.
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { endianness, hostname } from "node:os";
import { errnoCode } from "./fs.js";

/** `gethostname`, trimmed and lowercased. */
export function thisHostname(): string {
  return hostname().trim().toLowerCase();
}

/**
 * Whether `pid` exists. A zombie (killed, not yet reaped by its parent) still exists: its pid is
 * not free for reuse, so a lease naming it is not yet provably dead.
 */
export function pidRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0xffff_ffff) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === "EPERM";
  }
}

let clockTicks: number | undefined;
let bootTime: number | undefined;

/**
 * A process's start time in seconds since the epoch, or `undefined` when it cannot be told (no
 * such process, or a platform where it is not computed: a lease then records 0, "unknown", and
 * only the pid's existence is checked). Linux: `/proc/<pid>/stat` field 22 after the command
 * name's closing `)`, divided by `CLK_TCK`, plus `btime` from `/proc/stat`.
 */
export function pidStartSeconds(pid: number): number | undefined {
  if (process.platform !== "linux") return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return undefined;
  }
  // Fields after the `)`: 3 is state, so 22 (starttime) is the 20th of them.
  const after = stat
    .slice(stat.lastIndexOf(")") + 1)
    .trim()
    .split(/\s+/);
  const ticks = after[19];
  const boot = linuxBootTime();
  if (ticks === undefined || !/^[0-9]+$/.test(ticks) || boot === undefined) return undefined;
  return Math.floor(Number(ticks) / linuxClockTicks()) + boot;
}

function linuxBootTime(): number | undefined {
  if (bootTime === undefined) {
    try {
      const match = /^btime\s+([0-9]+)$/m.exec(readFileSync("/proc/stat", "latin1"));
      if (match?.[1]) bootTime = Number(match[1]);
    } catch {
      return undefined;
    }
  }
  return bootTime;
}

/**
 * `sysconf(_SC_CLK_TCK)` as libc answers it: the kernel's `AT_CLKTCK` entry of this process's
 * auxiliary vector (no child process to spawn). `getconf CLK_TCK` when that cannot be read, and
 * 100 (Linux's value everywhere) when neither can.
 */
function linuxClockTicks(): number {
  clockTicks ??= clockTicksFromAuxv() ?? clockTicksFromGetconf() ?? 100;
  return clockTicks;
}

const AT_CLKTCK = 17n;

function clockTicksFromAuxv(): number | undefined {
  try {
    const auxv = readFileSync("/proc/self/auxv");
    const wide = !["arm", "ia32", "mips", "mipsel", "ppc"].includes(process.arch);
    const word = wide ? 8 : 4;
    const little = endianness() === "LE";
    const read = (offset: number) =>
      wide
        ? little
          ? auxv.readBigUInt64LE(offset)
          : auxv.readBigUInt64BE(offset)
        : BigInt(little ? auxv.readUInt32LE(offset) : auxv.readUInt32BE(offset));
    for (let at = 0; at + 2 * word <= auxv.length; at += 2 * word) {
      const type = read(at);
      if (type === AT_CLKTCK) {
        const value = Number(read(at + word));
        return value > 0 ? value : undefined;
      }
      if (type === 0n) return undefined;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function clockTicksFromGetconf(): number | undefined {
  try {
    const value = Number(
      execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 5_000 }).trim(),
    );
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
