/**
 * Milliseconds on a monotonic clock, for durations. `process.hrtime` loads nothing, where
 * `performance` costs every command's start-up its perf_hooks modules.
 */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;
