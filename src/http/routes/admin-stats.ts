// The operator's view of traffic across every org (admin token): usage rows with the filters an
// org's usage page has plus the org, time series per model and provider, and orgs by spend.
import { routeFilter } from './api.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticateAdmin } from '../../auth/authenticate.js';
import { microsToUsd } from '../../billing/money.js';
import { GatewayError } from '../../core/errors.js';
import { LATENCY_BOUNDS_MS } from '../../store/schema.js';
import type { OpsStat } from '../../store/types.js';
import { authHeaders, type RouteContext } from '../app.js';
import { parseLimit, parseQuery, parseTime, queryText } from '../parse.js';
import { presentUsage } from '../present.js';
import { usageObject } from '../management-schemas.js';
import { pageOf } from '../schemas.js';

const DAY = 86_400_000;
/** Hour buckets over a longer range would be thousands of points per series. */
const MAX_HOURLY_RANGE = 31 * DAY;
const MAX_RANGE = 400 * DAY;
const BY = new Set(['model', 'provider']);

type Query = { from?: string; to?: string };

const windowQuery = z.object({
  from: queryText('Start: ISO 8601 or epoch milliseconds (default: 24 hours before `to`).'),
  to: queryText('End: ISO 8601 or epoch milliseconds (default: now).'),
});
const adminUsageQuery = z.object({
  org_id: queryText('Only this org (id or name).'),
  key_id: queryText('Only this key\'s requests.'),
  model: queryText('Only this model\'s requests.'),
  route: queryText('Only the requests of this route (the records\' surface): chat, messages, responses, completions, embeddings, images, transcriptions or translations.'),
  from: queryText('Earliest time: ISO 8601 or epoch milliseconds.'),
  to: queryText('Latest time (exclusive): ISO 8601 or epoch milliseconds.'),
  cursor: queryText('The next_cursor of the previous page.'),
  limit: queryText('Rows per page, 1 to 1000 (default 100).'),
});
const statsQuery = windowQuery.extend({
  bucket: queryText('hour (default; at most 31 days) or day (at most 400 days).'),
  by: queryText('Split series by model and/or provider (comma-separated).'),
});
const topOrgsQuery = windowQuery.extend({ limit: queryText('How many orgs, 1 to 1000 (default 10).') });

const adminUsageObject = usageObject.extend({ org_id: z.string(), org_name: z.string().nullable() });
const statFields = {
  requests: z.number().int(),
  errors: z.number().int(),
  error_rate: z.number(),
  cache_hits: z.number().int(),
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  revenue_usd: z.number().meta({ description: 'Charges, US dollars' }),
  avg_latency_ms: z.number(),
  p50_latency_le_ms: z.number().nullable().meta({ description: 'Histogram bound holding half the requests; null above the last bound' }),
  p95_latency_le_ms: z.number().nullable(),
};
const statObject = z.object({ bucket: z.string(), model: z.string().optional(), provider: z.string().nullable().optional(), ...statFields });
type StatObject = z.infer<typeof statObject>;
const statsAnswer = z.object({
  object: z.literal('list'),
  bucket: z.enum(['hour', 'day']),
  by: z.array(z.enum(['model', 'provider'])),
  from: z.string(),
  to: z.string(),
  latency_bounds_ms: z.array(z.number()),
  totals: z.object({ model: z.string().optional(), provider: z.string().nullable().optional(), ...statFields }),
  data: z.array(statObject),
});
const topOrgsAnswer = z.object({
  object: z.literal('list'),
  from: z.string(),
  to: z.string(),
  data: z.array(z.object({ org_id: z.string(), name: z.string().nullable(), requests: z.number().int(), errors: z.number().int(), revenue_usd: z.number() })),
});

/** The requested window, defaulting to the last 24 hours; refused when empty or too long. */
function windowOf(q: Query, bucket: 'hour' | 'day'): { from: number; to: number } {
  const to = parseTime(q.to, 'to') ?? Date.now();
  const from = parseTime(q.from, 'from') ?? to - DAY;
  if (from >= to) throw new GatewayError('invalid_value', '"from" must be earlier than "to".', { param: 'from' });
  const max = bucket === 'hour' ? MAX_HOURLY_RANGE : MAX_RANGE;
  if (to - from > max) {
    throw new GatewayError(
      'invalid_value',
      bucket === 'hour'
        ? 'An hourly series covers at most 31 days; ask for bucket=day for a longer range.'
        : 'A series covers at most 400 days.',
      { param: 'from' },
    );
  }
  return { from, to };
}

/** The smallest histogram bound holding the share `q` of requests; null when it lies above the last bound. */
function quantileBound(s: OpsStat, q: number): number | null {
  if (s.requests === 0) return null;
  const need = Math.ceil(s.requests * q);
  for (let i = 0; i < LATENCY_BOUNDS_MS.length; i++) if (s.latency_le[i] >= need) return LATENCY_BOUNDS_MS[i];
  return null;
}

function presentStat(s: OpsStat): StatObject {
  return {
    bucket: new Date(s.bucket).toISOString(),
    ...(s.model !== undefined ? { model: s.model } : {}),
    ...(s.provider !== undefined ? { provider: s.provider === '' ? null : s.provider } : {}),
    requests: s.requests,
    errors: s.errors,
    error_rate: s.requests === 0 ? 0 : Math.round((s.errors / s.requests) * 10_000) / 10_000,
    cache_hits: s.cache_hits,
    prompt_tokens: s.prompt_tokens,
    completion_tokens: s.completion_tokens,
    revenue_usd: microsToUsd(s.cost_micros),
    avg_latency_ms: s.requests === 0 ? 0 : Math.round(s.latency_ms_sum / s.requests),
    p50_latency_le_ms: quantileBound(s, 0.5),
    p95_latency_le_ms: quantileBound(s, 0.95),
  };
}

function total(rows: OpsStat[]): OpsStat {
  const t: OpsStat = {
    bucket: 0,
    requests: 0,
    errors: 0,
    cache_hits: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    cost_micros: 0,
    latency_ms_sum: 0,
    latency_le: LATENCY_BOUNDS_MS.map(() => 0),
  };
  for (const r of rows) {
    t.requests += r.requests;
    t.errors += r.errors;
    t.cache_hits += r.cache_hits;
    t.prompt_tokens += r.prompt_tokens;
    t.completion_tokens += r.completion_tokens;
    t.cost_micros += r.cost_micros;
    t.latency_ms_sum += r.latency_ms_sum;
    r.latency_le.forEach((n, i) => {
      t.latency_le[i] += n;
    });
  }
  return t;
}

export function registerAdminStatsRoutes(app: FastifyInstance, { gw }: RouteContext): void {
  const admin = (req: FastifyRequest) => authenticateAdmin(gw.config.server.admin_token, authHeaders(req));

  /** Usage rows of every org, or of one (`org_id`), with the filters of GET /api/usage. */
  app.get('/admin/usage', { config: { doc: { summary: 'Usage records of every org, or of one, newest first', auth: 'admin', query: adminUsageQuery, responses: { 200: pageOf(adminUsageObject) } } } }, async (req) => {
    admin(req);
    const q = parseQuery(adminUsageQuery, req.query);
    const orgRef = q.org_id || undefined;
    let orgId: string | undefined;
    if (orgRef !== undefined) {
      const o = gw.view.org(orgRef) ?? gw.view.orgByName(orgRef);
      if (!o) throw new GatewayError('not_found', `No organisation with id or name "${orgRef}". List them with GET /admin/orgs.`);
      orgId = o.id;
    }
    const page = await gw.store.listUsage({
      org_id: orgId,
      key_id: q.key_id || undefined,
      model: q.model || undefined,
      surface: routeFilter(q.route),
      from: parseTime(q.from, 'from'),
      to: parseTime(q.to, 'to'),
      cursor: q.cursor || undefined,
      limit: parseLimit(q.limit),
    });
    return {
      object: 'list',
      data: page.rows.map((u) => ({ org_id: u.org_id, org_name: gw.view.org(u.org_id)?.name ?? null, ...presentUsage(u) })),
      next_cursor: page.next_cursor ?? null,
    };
  });

  /** Traffic, revenue, errors and latency over time across every org, split by model and/or provider. */
  app.get('/admin/stats', { config: { doc: { summary: 'Traffic, revenue, errors and latency over time, by model and/or provider', auth: 'admin', query: statsQuery, responses: { 200: statsAnswer } } } }, async (req) => {
    admin(req);
    const q = parseQuery(statsQuery, req.query);
    const bucket = q.bucket ?? 'hour';
    if (bucket !== 'hour' && bucket !== 'day') throw new GatewayError('invalid_value', '"bucket" must be hour or day.', { param: 'bucket' });
    const by = (q.by ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const bad = by.find((b) => !BY.has(b));
    if (bad !== undefined) throw new GatewayError('invalid_value', `"by" accepts model and provider (comma-separated); got "${bad.slice(0, 50)}".`, { param: 'by' });
    const { from, to } = windowOf(q, bucket);
    const rows = await gw.store.operatorStats({ from, to, bucket, by: by as ('model' | 'provider')[] });
    return {
      object: 'list',
      bucket,
      by,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      latency_bounds_ms: [...LATENCY_BOUNDS_MS],
      totals: (({ bucket: _b, ...rest }) => rest)(presentStat(total(rows))),
      data: rows.map(presentStat),
    };
  });

  /** Orgs ranked by charges over the window (default: the last 24 hours). */
  app.get('/admin/stats/orgs', { config: { doc: { summary: 'Orgs ranked by charges over a window', auth: 'admin', query: topOrgsQuery, responses: { 200: topOrgsAnswer } } } }, async (req) => {
    admin(req);
    const q = parseQuery(topOrgsQuery, req.query);
    const { from, to } = windowOf(q, 'day');
    const rows = await gw.store.topOrgs({ from, to, limit: parseLimit(q.limit, 10) });
    return {
      object: 'list',
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      data: rows.map((r) => ({
        org_id: r.org_id,
        name: gw.view.org(r.org_id)?.name ?? null,
        requests: r.requests,
        errors: r.errors,
        revenue_usd: microsToUsd(r.cost_micros),
      })),
    };
  });
}
