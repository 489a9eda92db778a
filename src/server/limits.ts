/**
 * The service's timeouts and caps, in their own module: the routes read them too.
 */

/** Timeouts and caps (README, "Local service and web page", lists the defaults). */
export interface HttpLimits {
  /** The whole request, head and body, must arrive within this: 408 `REQUEST_TIMEOUT`. */
  requestTimeoutMs: number;
  /** The request head must arrive within this (no `Host` to check yet: closed unanswered). */
  headersTimeoutMs: number;
  /** A connection without traffic for this long is closed (event streams send heartbeats). */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections; one more gets 503 `SERVICE_BUSY`, twice as many are dropped unanswered. */
  maxConnections: number;
  /** Open event streams; one more gets 503 `SERVICE_BUSY`. */
  maxEventStreams: number;
  /** How often an event stream sends a comment line. */
  heartbeatMs: number;
  /** Unsent bytes an event stream may queue for a client that does not read; then it is closed. */
  maxStreamBacklogBytes: number;
}

export const DEFAULT_LIMITS: Readonly<HttpLimits> = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  maxEventStreams: 16,
  heartbeatMs: 15_000,
  maxStreamBacklogBytes: 1024 * 1024,
};
