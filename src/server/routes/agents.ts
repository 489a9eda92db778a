/**
 * `/api/agents`: the Continue dropdown, create, look up, continue, forget, restore, rename and
 * delete — one service call each. Bodies, parameters and answers are declared by their schemas
 * (src/api.ts); fastify validates requests and serialises answers with them.
 */

import type { FastifyInstance } from "fastify";
import {
  type AgentIdParams,
  AgentIdParamsSchema,
  type AgentList,
  AgentListSchema,
  type AgentLookup,
  AgentLookupSchema,
  agentJson,
  type ContinueBody,
  ContinueBodySchema,
  type ContinuedAgent,
  ContinuedAgentSchema,
  type CreateAgentBody,
  CreateAgentBodySchema,
  type CreatedAgent,
  CreatedAgentSchema,
  type ListAgentsQuery,
  ListAgentsQuerySchema,
  type Moved,
  MovedSchema,
  type Removed,
  RemovedSchema,
  type RenameBody,
  RenameBodySchema,
  type Renamed,
  RenamedSchema,
} from "../../api.js";
import { shellQuote } from "../../present.js";
import { ERROR_RESPONSES, type RouteContext } from "./context.js";

const tags = ["agents"];

export async function agentRoutes(app: FastifyInstance, { service }: RouteContext): Promise<void> {
  app.get<{ Querystring: ListAgentsQuery; Reply: AgentList }>(
    "/agents",
    {
      schema: {
        operationId: "listAgents",
        summary: "The Continue dropdown: active agents, newest launch first",
        tags,
        querystring: ListAgentsQuerySchema,
        response: { 200: AgentListSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { definitionId, limit } = request.query;
      // The hottest route: the live index keeps this body serialised (one string per version of
      // the index), so it is sent as it is; the schema above still declares it (and the contract
      // test checks the two agree).
      const body = await service.listNamedAgentsBody({
        definitionId,
        limit: limit === undefined ? undefined : Number(limit),
      });
      return reply.type("application/json; charset=utf-8").send(body as unknown as AgentList);
    },
  );

  app.post<{ Body: CreateAgentBody; Reply: CreatedAgent }>(
    "/agents",
    {
      schema: {
        operationId: "createAgent",
        summary: "Create an agent and its working directory",
        tags,
        body: CreateAgentBodySchema,
        response: { 201: CreatedAgentSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { name, definitionId, identityId, memoryId } = request.body;
      const created = await service.createAgent({ name, definitionId, identityId, memoryId });
      return reply
        .code(201)
        .send({ agent: agentJson(created.record), working_dir_path: created.workingDir });
    },
  );

  app.get<{ Params: AgentIdParams; Reply: AgentLookup }>(
    "/agents/:id",
    {
      schema: {
        operationId: "getAgent",
        summary: "One agent, active or in the Trash",
        tags,
        params: AgentIdParamsSchema,
        response: { 200: AgentLookupSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { record, retired, workingDirPath, inUse } = await service.getAgent(request.params.id);
      return { agent: agentJson(record, inUse), working_dir_path: workingDirPath, retired };
    },
  );

  app.post<{ Params: AgentIdParams; Body: ContinueBody; Reply: ContinuedAgent }>(
    "/agents/:id/continue",
    {
      schema: {
        operationId: "continueAgent",
        summary: "Record a launch; answers the working directory and a resume command",
        tags,
        params: AgentIdParamsSchema,
        body: ContinueBodySchema,
        response: { 200: ContinuedAgentSchema, ...ERROR_RESPONSES },
      },
      // The body is optional: none at all is `{}`.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const sessionId = request.body.sessionId ?? undefined;
      const result = await service.continueAgent(request.params.id, { sessionId });
      const { instance_id, session_id } = result.record.data;
      // The provider's command is the launcher's to append: the definition id is not a program.
      const session = session_id ? ` --session ${shellQuote(session_id)}` : "";
      return {
        agent: agentJson(result.record),
        working_dir_path: result.workingDir,
        resume_command: `cd ${shellQuote(result.workingDir)} && agentmux-registry continue ${instance_id}${session} --exec --`,
      };
    },
  );

  app.post<{ Params: AgentIdParams; Reply: Moved }>(
    "/agents/:id/forget",
    {
      schema: {
        operationId: "forgetAgent",
        summary: "Forget (retire) the agent: its records move to the Trash",
        tags,
        params: AgentIdParamsSchema,
        response: { 200: MovedSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const moved = await service.forgetAgent(request.params.id);
      return { id: request.params.id, moved };
    },
  );

  app.post<{ Params: AgentIdParams; Reply: Moved }>(
    "/agents/:id/restore",
    {
      schema: {
        operationId: "restoreAgent",
        summary: "Restore the agent from the Trash",
        tags,
        params: AgentIdParamsSchema,
        response: { 200: MovedSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const moved = await service.restoreAgent(request.params.id);
      return { id: request.params.id, moved };
    },
  );

  app.post<{ Params: AgentIdParams; Body: RenameBody; Reply: Renamed }>(
    "/agents/:id/rename",
    {
      schema: {
        operationId: "renameAgent",
        summary: "Rename every active record of the agent",
        tags,
        params: AgentIdParamsSchema,
        body: RenameBodySchema,
        response: { 200: RenamedSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { name } = request.body;
      const changed = await service.renameAgent(request.params.id, name);
      return { id: request.params.id, name, changed };
    },
  );

  app.delete<{ Params: AgentIdParams; Reply: Removed }>(
    "/agents/:id",
    {
      schema: {
        operationId: "deleteAgent",
        summary: "Delete the agent's records from both trees (never its working directory)",
        tags,
        params: AgentIdParamsSchema,
        response: { 200: RemovedSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const removed = await service.deleteAgent(request.params.id);
      return { id: request.params.id, removed };
    },
  );
}
