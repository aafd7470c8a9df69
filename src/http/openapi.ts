// The OpenAPI 3.1 document served at GET /openapi.json, built from the routes themselves:
// each route declares, in its Fastify `config.doc`, the zod schemas its handler parses the
// body and query with and the schemas of its answers; the document is generated from those
// declarations when first asked for (which loads the management routes' modules, see
// routes/management.ts). A route without a declaration is absent from the document, which the
// drift test in test/openapi catches.
import { type ZodType, z } from 'zod';
import { ERROR_REGISTRY } from '../core/error-registry.js';

/** Who may call a route: the credential it expects. */
export type RouteAuth = 'admin' | 'management' | 'inference' | 'inference_or_management' | 'none';

export interface RouteDoc {
  summary: string;
  description?: string;
  auth: RouteAuth;
  /** The JSON body, as the handler parses it. */
  body?: ZodType;
  /** The query string, field by field, as the handler reads it. */
  query?: z.ZodObject;
  /** JSON answers by status (the successful ones; errors use the envelope of `errors`). */
  responses: Record<number, ZodType>;
  /** The route may answer 200 with a server-sent event stream instead (when the body asks `"stream": true`). */
  stream?: string;
  /** Error envelope: OpenAI's (the default) or Anthropic's (the Messages surface). */
  errors?: 'openai' | 'anthropic';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}

export interface DocumentedRoute {
  method: string;
  url: string;
  doc?: RouteDoc;
}

/** OpenAI's error envelope, which /v1 (except Messages), /api and /admin answer errors in. */
export const errorEnvelope = z
  .object({
    error: z
      .object({
        message: z.string(),
        type: z.string(),
        code: z.enum(Object.keys(ERROR_REGISTRY) as [string, ...string[]]),
        param: z.string().nullable(),
      })
      .strict(),
  })
  .strict()
  .meta({ description: 'The error envelope. `code` is one of the codes listed in docs/errors.md.' });

/** Anthropic's error envelope, with Tollgate's code kept inside `error` (the Messages surface). */
export const anthropicErrorEnvelope = z
  .object({
    type: z.literal('error'),
    error: z
      .object({
        type: z.string(),
        message: z.string(),
        code: z.enum(Object.keys(ERROR_REGISTRY) as [string, ...string[]]),
        param: z.string().optional(),
      })
      .strict(),
  })
  .strict()
  .meta({ description: "Anthropic's error shape; `error.code` is Tollgate's code." });

const SECURITY: Record<RouteAuth, Array<Record<string, string[]>>> = {
  admin: [{ adminToken: [] }],
  management: [{ managementKey: [] }, { managementKeyHeader: [] }],
  inference: [{ inferenceKey: [] }, { inferenceKeyHeader: [] }],
  inference_or_management: [{ inferenceKey: [] }, { inferenceKeyHeader: [] }, { managementKey: [] }, { managementKeyHeader: [] }],
  none: [],
};

type JsonSchema = Record<string, unknown>;

function toSchema(schema: ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** `/api/keys/:id` → `/api/keys/{id}`, and the names of its path parameters. */
function openApiPath(url: string): { path: string; params: string[] } {
  const params: string[] = [];
  const path = url.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path, params };
}

function tagOf(url: string): string {
  if (url.startsWith('/admin/')) return 'Operator (/admin)';
  if (url.startsWith('/api/')) return 'Account (/api)';
  return 'Inference (/v1)';
}

const DOCUMENTED_PREFIXES = ['/v1/', '/api/', '/admin/'];

/** Whether a route belongs in the document: /v1, /api and /admin. */
export function isDocumentedPath(url: string): boolean {
  return DOCUMENTED_PREFIXES.some((p) => url.startsWith(p));
}

export function buildOpenApiDocument(routes: readonly DocumentedRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorSchemas = { openai: toSchema(errorEnvelope, 'output'), anthropic: toSchema(anthropicErrorEnvelope, 'output') };
  for (const r of routes) {
    if (!r.doc || !isDocumentedPath(r.url)) continue;
    const d = r.doc;
    const { path, params } = openApiPath(r.url);
    const parameters: unknown[] = params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    if (d.query) {
      for (const [name, field] of Object.entries(d.query.shape as Record<string, ZodType>)) {
        const schema = toSchema(field, 'input');
        const { description, ...rest } = schema;
        parameters.push({ name, in: 'query', required: !field.safeParse(undefined).success, ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(d.responses)) {
      const content: Record<string, unknown> = { 'application/json': { schema: toSchema(schema, 'output') } };
      if (d.stream && status === '200') content['text/event-stream'] = { schema: { type: 'string', description: d.stream } };
      responses[status] = { description: schema.description ?? (status === '201' ? 'Created' : 'OK'), content };
    }
    responses.default = {
      description: 'An error, in the surface\'s envelope (see docs/errors.md).',
      content: { 'application/json': { schema: errorSchemas[d.errors ?? 'openai'] } },
    };
    const operation: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/\{([^}]+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: d.summary,
      ...(d.description ? { description: d.description } : {}),
      tags: [tagOf(r.url)],
      security: SECURITY[d.auth],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(d.body ? { requestBody: { required: true, content: { 'application/json': { schema: toSchema(d.body, 'input') } } } } : {}),
      responses,
    };
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate',
      version,
      description: 'A self-hosted, multi-tenant LLM gateway: the OpenAI-compatible and Anthropic-compatible inference API (/v1), an org admin\'s account API (/api) and the operator\'s API (/admin). Generated from the routes\' own schemas.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [
      { name: 'Inference (/v1)', description: 'Inference keys (sk-…).' },
      { name: 'Account (/api)', description: 'An org admin\'s management keys (mk-…).' },
      { name: 'Operator (/admin)', description: 'The operator\'s admin token.' },
    ],
    paths,
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'The operator\'s admin token (server.admin_token).' },
        managementKey: { type: 'http', scheme: 'bearer', description: 'An org\'s management key (mk-…).' },
        managementKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A management key in x-api-key.' },
        inferenceKey: { type: 'http', scheme: 'bearer', description: 'An inference key (sk-…).' },
        inferenceKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An inference key in x-api-key (Anthropic SDKs).' },
      },
    },
  };
}
