/**
 * Starts the local service on 127.0.0.1: token, change feed, HTTP. Only loopback is ever bound.
 */

import type { AddressInfo } from "node:net";
import type { RegistryService } from "../service.js";
import { ChangeFeed, type FeedOptions, reportToStderr } from "./feed.js";
import { buildHttp, type HttpLimits } from "./http.js";
import { DEFAULT_PORT } from "./port.js";
import { loadOrCreateToken } from "./token.js";

export interface RunningServer {
  /** The page's address, token included. */
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export async function startServer(
  service: RegistryService,
  options: {
    port?: number;
    feed?: FeedOptions;
    /** Timeouts and caps; the defaults are `DEFAULT_LIMITS` (README). */
    limits?: Partial<HttpLimits>;
    /** Where failures of background work are reported (default: a line on stderr). */
    report?: (message: string) => void;
  } = {},
): Promise<RunningServer> {
  const token = await loadOrCreateToken(service.registry);
  const report = options.report ?? reportToStderr;
  const feed = new ChangeFeed(service.registry, { report, ...options.feed });
  let port = options.port ?? DEFAULT_PORT;
  const app = buildHttp({ service, feed, token, port: () => port, limits: options.limits, report });
  try {
    await app.listen({ host: "127.0.0.1", port });
  } catch (error) {
    feed.close();
    throw error;
  }
  port = (app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    async close() {
      feed.close();
      await app.close();
    },
  };
}
