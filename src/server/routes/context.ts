/**
 * What every route plugin is given, and what every route declares. The rules every route
 * inherits (the gate, the token, limits, the error shape) are not here: they are http.ts's,
 * registered once around all of these plugins.
 */

import { ErrorBodySchema } from "../../api.js";
import type { RegistryService } from "../../service.js";
import type { HttpLimits } from "../limits.js";

export interface RouteContext {
  service: RegistryService;
  limits: HttpLimits;
  /** Where failures nobody asked about are reported. */
  report: (message: string) => void;
}

/**
 * How a route may be configured (`config`). Access is decided on these, on the route the router
 * matched: `public` routes (the page's own files only) need no token; `tokenInQuery` routes also
 * take it as `?token=` (the event stream: EventSource cannot send headers).
 */
export interface RouteConfig {
  public?: boolean;
  tokenInQuery?: boolean;
}

/** The error answers every route may give, declared once (docs/ERRORS.md has the codes). */
export const ERROR_RESPONSES = {
  "4xx": ErrorBodySchema,
  "5xx": ErrorBodySchema,
} as const;

declare module "fastify" {
  /** What a route's schema says for the OpenAPI document (openapi.ts); fastify ignores it. */
  interface FastifySchema {
    operationId?: string;
    summary?: string;
    description?: string;
    tags?: readonly string[];
  }
}
