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
    async () => {
      const [retired, inUse] = [await service.listRetired(), await service.agentsInUse()];
      return {
        agents: retired.map((record) => agentJson(record, inUse.get(record.data.instance_id))),
      };
    },
  );
}
