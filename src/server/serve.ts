/**
 * Starts the local service on 127.0.0.1: token, change feed, HTTP. Only loopback is ever bound.
 */

import type { AddressInfo } from "node:net";
import { reportToStderr } from "../live-index.js";
import type { RegistryService } from "../service.js";
import { buildHttp } from "./http.js";
import type { HttpLimits } from "./limits.js";
import { DEFAULT_PORT } from "./port.js";

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
    /** Timeouts and caps; the defaults are `DEFAULT_LIMITS` (README). */
    limits?: Partial<HttpLimits>;
    /** Where failures of background work are reported (default: a line on stderr). */
    report?: (message: string) => void;
  } = {},
): Promise<RunningServer> {
  const token = service.loadOrCreateToken();
  const report = options.report ?? reportToStderr;
  let port = options.port ?? DEFAULT_PORT;
  const app = buildHttp({ service, token, port: () => port, limits: options.limits, report });
  await app.listen({ host: "127.0.0.1", port });
  port = (app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    async close() {
      await app.close();
    },
  };
}
