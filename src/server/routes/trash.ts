/** `/api/trash`: the forgotten (retired) agents, newest launch first. */

import type { FastifyInstance } from "fastify";
import { type AgentList, AgentListSchema, agentJson } from "../../api.js";
import { ERROR_RESPONSES, type RouteContext } from "./context.js";

export async function trashRoutes(app: FastifyInstance, { service }: RouteContext): Promise<void> {
  app.get<{ Reply: AgentList }>(
    "/trash",
    {
      schema: {
        operationId: "listTrash",
        summary: "The Trash: forgotten agents, newest launch first",
        tags: ["agents"],
        response: { 200: AgentListSchema, ...ERROR_RESPONSES },
      },
    },
    async () => ({ agents: (await service.listRetired()).map(agentJson) }),
  );
}
