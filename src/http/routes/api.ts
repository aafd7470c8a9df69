// /api/*: an org admin's account routes (management key), plus /api/balance for inference keys.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { settingsSchema as alertSettingsSchema } from '../../alerts/index.js';
import { authenticateKeyOrExplain, type Principal } from '../../auth/authenticate.js';
import { microsToUsd } from '../../billing/money.js';
import { GatewayError } from '../../core/errors.js';
import { describeModel, isModelAllowed } from '../../core/models.js';
import type { UsageGroup } from '../../store/types.js';
import { concurrencyLimits } from '../../core/limit-stage.js';
import { authHeaders, type RouteContext } from '../app.js';
import { createKeySchema, keyKindOf, patchKeySchema, refuseInferenceOnly, toSettings } from '../key-body.js';
import { boundText, parseBody, parseLimit, parseQuery, parseTime, queryText } from '../parse.js';
import { keySnapshot, orgSnapshot, presentKey, presentLedger, presentUsage } from '../present.js';
import {
  accountModelObject,
  alertSettingsAnswer,
  alertTestAnswer,
  balanceAnswer,
  createdKeyObject,
  keyObject,
  ledgerPage,
  requestLogSettingBody,
  requestLogSettingObject,
  rotatedKeyObject,
  usageDetailObject,
  usageGroupsAnswer,
  usageObject,
  webhookSecretAnswer,
} from '../management-schemas.js';
import { listOf, pageOf } from '../schemas.js';
import { auditSource } from './audit.js';
import { requestLogSetting, withRetention } from '../../observability/request-log.js';

const rotateSchema = z.object({ overlap_s: z.number().int().min(0).max(30 * 24 * 3600).optional() }).strict();

const GROUPS = new Set(['hour', 'day', 'model', 'key']);
/** The inference routes a usage row can name (its `surface`). */
export const USAGE_ROUTES = ['chat', 'messages', 'responses', 'completions', 'embeddings', 'images', 'transcriptions', 'translations'];

/** A `route` query value: undefined when unset, else one of USAGE_ROUTES (400 otherwise). */
export function routeFilter(value: string | undefined): string | undefined {
  const route = value || undefined;
  if (route !== undefined && !USAGE_ROUTES.includes(route)) {
    throw new GatewayError('invalid_value', `"route" must be one of ${USAGE_ROUTES.join(', ')}; got "${route}".`, { param: 'route' });
  }
  return route;
}

const pageQuery = z.object({
  cursor: queryText('The next_cursor of the previous page.'),
  limit: queryText('Rows per page, 1 to 1000 (default 100).'),
});
const usageQuery = pageQuery.extend({
  from: queryText('Earliest time: ISO 8601 or epoch milliseconds. With group_by, the whole hour or UTC day holding it counts.'),
  to: queryText('Latest time (exclusive): ISO 8601 or epoch milliseconds. With group_by, a bucket that starts before it counts whole.'),
  key_id: queryText('Only this key\'s requests.'),
  model: queryText('Only this model\'s requests.'),
  route: queryText('Only the requests of this route: chat, messages, responses, completions, embeddings, images, transcriptions or translations (records only, not with group_by).'),
  group_by: queryText('Totals instead of records: hour or day, model, key (comma-separated).'),
});

export function registerApiRoutes(app: FastifyInstance, { gw }: RouteContext): void {
  const mk = (req: FastifyRequest): Principal => authenticateKeyOrExplain(gw.view, gw.config.server.admin_token, authHeaders(req), ['mk']);
  const keySpend = async (orgId: string, keyId: string) => (await gw.accounts.snapshot(orgId, [keyId])).keySpends.get(keyId) ?? 0;

  app.get('/api/balance', { config: { doc: { summary: 'The org balance, and the calling inference key\'s spend and limits', auth: 'inference_or_management', responses: { 200: balanceAnswer } } } }, async (req) => {
    const p = authenticateKeyOrExplain(gw.view, gw.config.server.admin_token, authHeaders(req), ['sk', 'mk']);
    const snap = await gw.accounts.snapshot(p.org.id, p.key.kind === 'sk' ? [p.key.id] : []);
    // Requests in flight now against max_concurrency (shared by every instance when Redis is configured).
    const limits = concurrencyLimits(gw.config.limits, p.key, p.org);
    const counters = p.key.kind === 'sk' ? [`org:${p.org.id}`, `key:${p.key.id}`] : [`org:${p.org.id}`];
    const flying = await gw.concurrency.inFlight(counters).catch(() => undefined);
    const out: z.infer<typeof balanceAnswer> = {
      balance_usd: microsToUsd(snap.balance),
      currency: 'USD',
      reserved_usd: microsToUsd(snap.reserved),
      concurrency: { in_flight: flying?.[0] ?? null, limit: limits.org },
    };
    if (p.org.spend_cap_micros !== null) out.spend_cap_usd = microsToUsd(p.org.spend_cap_micros);
    if (p.key.kind === 'sk') {
      const spend = (snap.keySpends.get(p.key.id) ?? 0) + (p.key.spend_offset_micros ?? 0);
      const budget = p.key.budget_micros;
      out.key = {
        id: p.key.id,
        spend_usd: microsToUsd(spend),
        budget_usd: budget === null ? null : microsToUsd(budget),
        remaining_usd: budget === null ? null : microsToUsd(Math.max(0, budget - spend)),
        rpm: p.key.rpm ?? gw.config.limits.key_rpm,
        tpm: p.key.tpm ?? gw.config.limits.key_tpm,
        concurrency: { in_flight: flying?.[1] ?? null, limit: limits.key },
      };
    }
    return out;
  });

  app.get('/api/keys', { config: { doc: { summary: 'The org\'s keys (prefixes only)', auth: 'management', responses: { 200: listOf(keyObject) } } } }, async (req) => {
    const { org } = mk(req);
    const keys = gw.view.keysOf(org.id).sort((a, b) => b.created_at - a.created_at);
    const spends = (await gw.accounts.snapshot(org.id, keys.map((k) => k.id))).keySpends;
    const data = keys.map((k) => presentKey(k, spends.get(k.id) ?? 0));
    return { object: 'list', data };
  });

  app.post('/api/keys', { config: { doc: { summary: 'Create a key (inference unless type is management); the key is shown once', auth: 'management', body: createKeySchema, responses: { 201: createdKeyObject } } } }, async (req, reply) => {
    const p = mk(req);
    const body = parseBody(createKeySchema, req.body);
    const { row, key } = await gw.tenants.createKey(p.org.id, keyKindOf(body, 'inference'), toSettings(body));
    await gw.audit.record(auditSource(req, p.key.prefix), { orgId: p.org.id, action: row.kind === 'mk' ? 'management_key.mint' : 'key.create', target: row.id, after: keySnapshot(row) });
    return reply.code(201).send({ ...presentKey(row, 0), key });
  });

  app.get<{ Params: { id: string } }>('/api/keys/:id', { config: { doc: { summary: 'One key', auth: 'management', responses: { 200: keyObject } } } }, async (req) => {
    const { org } = mk(req);
    const k = gw.tenants.ownedKey(org.id, req.params.id);
    return presentKey(k, await keySpend(org.id, k.id));
  });

  app.patch<{ Params: { id: string } }>('/api/keys/:id', { config: { doc: { summary: 'Change a key\'s name, limits, models or state', auth: 'management', body: patchKeySchema, responses: { 200: keyObject } } } }, async (req) => {
    const p = mk(req);
    const body = parseBody(patchKeySchema, req.body);
    if (req.params.id === p.key.id && body.disabled === true) {
      throw new GatewayError('invalid_value', 'A management key cannot disable itself; use another management key.', { param: 'disabled' });
    }
    const before = gw.tenants.ownedKey(p.org.id, req.params.id);
    if (before.kind === 'mk') refuseInferenceOnly(body);
    const k = await gw.tenants.patchKey(p.org.id, req.params.id, toSettings(body));
    await gw.audit.record(auditSource(req, p.key.prefix), { orgId: p.org.id, action: 'key.update', target: k.id, before: keySnapshot(before), after: keySnapshot(k) });
    return presentKey(k, await keySpend(p.org.id, k.id));
  });

  app.delete<{ Params: { id: string } }>('/api/keys/:id', { config: { doc: { summary: 'Revoke a key', auth: 'management', responses: { 200: keyObject } } } }, async (req) => {
    const p = mk(req);
    const before = gw.tenants.ownedKey(p.org.id, req.params.id);
    const k = await gw.tenants.revokeKey(p.org.id, req.params.id);
    if (before.revoked_at === null) {
      await gw.audit.record(auditSource(req, p.key.prefix), { orgId: p.org.id, action: 'key.revoke', target: k.id, before: keySnapshot(before), after: keySnapshot(k) });
    }
    return presentKey(k, await keySpend(p.org.id, k.id));
  });

  app.post<{ Params: { id: string } }>('/api/keys/:id/rotate', { config: { doc: { summary: 'Replace a key; the old one keeps working for overlap_s seconds', auth: 'management', body: rotateSchema, responses: { 201: rotatedKeyObject } } } }, async (req, reply) => {
    const p = mk(req);
    const org = p.org;
    const body = parseBody(rotateSchema, req.body);
    const spent = await keySpend(org.id, req.params.id);
    const before = gw.tenants.ownedKey(org.id, req.params.id);
    const r = await gw.tenants.rotateKey(org.id, req.params.id, body.overlap_s ?? 24 * 3600, Date.now(), spent);
    await gw.audit.record(auditSource(req, p.key.prefix), {
      orgId: org.id,
      action: 'key.rotate',
      target: before.id,
      before: keySnapshot(before),
      after: { previous: keySnapshot(r.previous), replacement: keySnapshot(r.row) },
    });
    return reply.code(201).send({ ...presentKey(r.row, 0), key: r.key, previous: presentKey(r.previous, await keySpend(org.id, r.previous.id)) });
  });

  app.get('/api/usage', { config: { doc: { summary: 'Usage records, newest first, or totals grouped with group_by', auth: 'management', query: usageQuery, responses: { 200: z.union([pageOf(usageObject), usageGroupsAnswer]) } } } }, async (req) => {
    const { org } = mk(req);
    const q = parseQuery(usageQuery, req.query);
    const from = parseTime(q.from, 'from');
    const to = parseTime(q.to, 'to');
    const keyId = q.key_id || undefined;
    const model = q.model || undefined;
    const route = routeFilter(q.route);
    if (q.group_by) {
      if (route !== undefined) throw new GatewayError('invalid_value', '"route" filters records; it cannot be combined with "group_by" (the totals are kept per model, key and time).', { param: 'route' });
      const groups = q.group_by.split(',').map((g) => g.trim());
      const bad = groups.find((g) => !GROUPS.has(g));
      if (bad) throw new GatewayError('invalid_value', `"group_by" accepts hour, day, model and key (comma-separated); got "${bad}".`, { param: 'group_by' });
      if (groups.includes('hour') && groups.includes('day')) throw new GatewayError('invalid_value', '"group_by" takes hour or day, not both.', { param: 'group_by' });
      const rows = await gw.store.aggregateUsage({ org_id: org.id, key_id: keyId, model, from, to, group_by: groups as UsageGroup[] });
      return {
        object: 'list',
        group_by: groups,
        data: rows.map((r) => ({
          ...(r.bucket !== undefined ? { bucket: new Date(r.bucket).toISOString() } : {}),
          ...(r.model !== undefined ? { model: r.model } : {}),
          ...(r.key_id !== undefined ? { key_id: r.key_id } : {}),
          requests: r.requests,
          errors: r.errors,
          cache_hits: r.cache_hits,
          prompt_tokens: r.prompt_tokens,
          completion_tokens: r.completion_tokens,
          cost_usd: microsToUsd(r.cost_micros),
        })),
        next_cursor: null,
      };
    }
    const page = await gw.store.listUsage({ org_id: org.id, key_id: keyId, model, surface: route, from, to, cursor: q.cursor || undefined, limit: parseLimit(q.limit) });
    return { object: 'list', data: page.rows.map(presentUsage), next_cursor: page.next_cursor ?? null };
  });

  app.get<{ Params: { request_id: string } }>('/api/usage/:request_id', { config: { doc: { summary: 'One usage record, with its request and response bodies when the org keeps request logs', auth: 'management', responses: { 200: usageDetailObject } } } }, async (req) => {
    const { org } = mk(req);
    const id = req.params.request_id;
    const row = id.length <= 200 ? await gw.store.getUsage(org.id, id) : undefined;
    if (!row) throw new GatewayError('not_found', `No usage record "${boundText(id, 80)}" in this organisation. Records appear within a second of the answer; list them with GET /api/usage.`);
    const kept = await gw.store.getRequestLog(org.id, id, Date.now());
    return {
      ...presentUsage(row),
      request_log: kept ? { route: kept.route, request: kept.request, response: kept.response, truncated: kept.truncated, expires_at: new Date(kept.expires_at).toISOString() } : null,
    };
  });

  app.get('/api/request-logs', { config: { doc: { summary: 'Whether request and response bodies are kept, and for how long', auth: 'management', responses: { 200: requestLogSettingObject } } } }, async (req) => {
    const { org } = mk(req);
    return requestLogSetting(org);
  });
  app.put('/api/request-logs', { config: { doc: { summary: 'Turn request logs on or off (bodies kept for retention_days, 1 to 90)', auth: 'management', body: requestLogSettingBody, responses: { 200: requestLogSettingObject } } } }, async (req) => {
    const p = mk(req);
    const body = parseBody(requestLogSettingBody, req.body);
    const current = p.org;
    const updated = await gw.tenants.patchOrg(current.id, { settings: { ...current.settings, request_logs: withRetention(body) } });
    await gw.audit.record(auditSource(req, p.key.prefix), { orgId: current.id, action: 'org.update', target: current.id, before: orgSnapshot(current), after: orgSnapshot(updated) });
    return requestLogSetting(updated);
  });

  app.get('/api/ledger', { config: { doc: { summary: 'Credit grants and charges, newest first', auth: 'management', query: pageQuery, responses: { 200: ledgerPage } } } }, async (req) => {
    const { org } = mk(req);
    const q = parseQuery(pageQuery, req.query);
    const page = await gw.store.listLedger(org.id, { cursor: q.cursor || undefined, limit: parseLimit(q.limit) });
    return { object: 'list', data: page.rows.map(presentLedger), next_cursor: page.next_cursor ?? null, balance_usd: microsToUsd((await gw.accounts.snapshot(org.id)).balance) };
  });

  /** The org's models with live availability, for the console (management key). */
  app.get('/api/models', { config: { doc: { summary: 'The org\'s models with live availability', auth: 'management', responses: { 200: listOf(accountModelObject) } } } }, async (req) => {
    const { org, key } = mk(req);
    const data = [];
    for (const m of gw.channels.models.values()) {
      if (!isModelAllowed(m.config.id, org, { ...key, allowed_models: null })) continue;
      data.push({ ...describeModel(m), maintenance: m.config.maintenance, available: !m.config.maintenance && gw.channels.hasHealthyChannel(m.config.id) });
    }
    return { object: 'list', data };
  });

  app.get('/api/alerts', { config: { doc: { summary: 'Alert settings', auth: 'management', responses: { 200: alertSettingsAnswer } } } }, async (req) => {
    const { org } = mk(req);
    return gw.alerts.getSettings(org.id);
  });
  app.put('/api/alerts', { config: { doc: { summary: 'Change alert settings; the first webhook makes a signing secret, shown once', auth: 'management', body: alertSettingsSchema, responses: { 200: alertSettingsAnswer } } } }, async (req) => {
    const p = mk(req);
    const before = await gw.alerts.getSettings(p.org.id);
    const after = await gw.alerts.putSettings(p.org.id, req.body);
    await gw.audit.record(auditSource(req, p.key.prefix), { orgId: p.org.id, action: 'alerts.update', target: p.org.id, before: { ...before }, after: { ...after } });
    return after;
  });
  app.post('/api/alerts/test', { config: { doc: { summary: 'Send a test alert', auth: 'management', responses: { 200: alertTestAnswer } } } }, async (req) => {
    const { org } = mk(req);
    return gw.alerts.sendTest(org.id);
  });
  app.post('/api/alerts/secret/rotate', { config: { doc: { summary: 'Replace the webhook signing secret, shown once', auth: 'management', responses: { 201: webhookSecretAnswer } } } }, async (req, reply) => {
    const p = mk(req);
    const out = await gw.alerts.rotateSecret(p.org.id);
    await gw.audit.record(auditSource(req, p.key.prefix), { orgId: p.org.id, action: 'alerts.secret_rotate', target: p.org.id, after: { webhook_secret_set: true } });
    return reply.code(201).send(out);
  });
}
