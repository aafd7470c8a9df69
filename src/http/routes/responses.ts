// /v1/responses/{id}: reading, deleting and listing the input of stored responses (inference
// key; only the caller's own org's responses exist for it). POST /v1/responses is a surface route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateKey } from '../../auth/index.js';
import type { StoredResponses } from '../../surfaces/responses/index.js';
import { type RouteContext, authHeaders } from '../app.js';

type ById = { Params: { id: string }; Querystring: Record<string, unknown> };

function includes(query: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const v of [query.include, query['include[]']]) {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') out.push(x);
  }
  return out;
}

export function registerResponsesRoutes(app: FastifyInstance, { gw }: RouteContext, stored: StoredResponses): void {
  const orgOf = (req: FastifyRequest) => authenticateKey(gw.view, authHeaders(req), ['sk']).org.id;
  app.get<ById>('/v1/responses/:id', async (req) => stored.get(orgOf(req), req.params.id, includes(req.query)));
  app.delete<ById>('/v1/responses/:id', async (req) => stored.delete(orgOf(req), req.params.id));
  app.get<ById>('/v1/responses/:id/input_items', async (req) => stored.inputItems(orgOf(req), req.params.id, req.query));
}
