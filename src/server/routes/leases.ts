/** `/api/leases`: the agents a live process holds now, or every lease file (SPEC §15). */

import type { FastifyInstance } from "fastify";
import { type LeaseList, LeaseListSchema, type LeasesQuery, LeasesQuerySchema } from "../../api.js";
import { ERROR_RESPONSES, type RouteContext } from "./context.js";

export async function leaseRoutes(app: FastifyInstance, { service }: RouteContext): Promise<void> {
  app.get<{ Querystring: LeasesQuery; Reply: LeaseList }>(
    "/leases",
    {
      schema: {
        operationId: "listLeases",
        summary:
          "The agents in use: who holds each (`all=true`: every lease file, with its status)",
        tags: ["agents"],
        querystring: LeasesQuerySchema,
        response: { 200: LeaseListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => ({
      leases: await service.listLeases({ all: request.query.all === "true" }),
    }),
  );
}
