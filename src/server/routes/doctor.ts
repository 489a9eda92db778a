/** `/api/doctor`: everything wrong on disk, each with its fix (never repairs anything). */

import type { FastifyInstance } from "fastify";
import { type DoctorReportJson, DoctorReportSchema } from "../../api.js";
import { ERROR_RESPONSES, type RouteContext } from "./context.js";

export async function doctorRoutes(app: FastifyInstance, { service }: RouteContext): Promise<void> {
  app.get<{ Reply: DoctorReportJson }>(
    "/doctor",
    {
      schema: {
        operationId: "doctor",
        summary: "Everything wrong on disk, each with a one-line fix",
        tags: ["diagnostics"],
        response: { 200: DoctorReportSchema, ...ERROR_RESPONSES },
      },
    },
    async () => service.doctor(),
  );
}
