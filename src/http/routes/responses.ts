// /v1/responses/{id}: reading, deleting and listing the input of stored responses (inference
// key; only the caller's own org's responses exist for it). POST /v1/responses is a surface route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticateKey } from '../../auth/index.js';
import type { StoredResponses } from '../../surfaces/responses/index.js';
import { type RouteContext, authHeaders } from '../app.js';
import { inputItemsPage, responseDeleted, responseObject } from '../schemas.js';

/** Documents the query fields the stored-response readers accept. */
const includeQuery = z.object({ include: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'Extra fields to include (repeatable; include[] also accepted).' }) });
const inputItemsQuery = z.object({
  after: z.string().optional().meta({ description: 'The id of the item to list after.' }),
  limit: z.string().optional().meta({ description: '1 to 100 (default 20).' }),
  order: z.enum(['asc', 'desc']).optional().meta({ description: 'desc (default) or asc.' }),
});

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
  app.get<ById>('/v1/responses/:id', { config: { doc: { summary: 'A stored response', auth: 'inference', query: includeQuery, responses: { 200: responseObject } } } }, async (req) => stored.get(orgOf(req), req.params.id, includes(req.query)));
  app.delete<ById>('/v1/responses/:id', { config: { doc: { summary: 'Delete a stored response', auth: 'inference', responses: { 200: responseDeleted } } } }, async (req) => stored.delete(orgOf(req), req.params.id));
  app.get<ById>('/v1/responses/:id/input_items', { config: { doc: { summary: 'The input items of a stored response', auth: 'inference', query: inputItemsQuery, responses: { 200: inputItemsPage } } } }, async (req) => stored.inputItems(orgOf(req), req.params.id, req.query));
}
