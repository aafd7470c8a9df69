// /admin/*: the operator's routes (admin token): orgs (by id or name), their keys, credit
// grants, model health.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { authenticateAdmin } from '../../auth/authenticate.js';
import { microsToUsd, usdToMicros } from '../../billing/money.js';
import { GatewayError } from '../../core/errors.js';
import type { OrgRow } from '../../store/types.js';
import type { OrgPatch } from '../../tenants/service.js';
import { authHeaders, type RouteContext } from '../app.js';
import { createKeySchema, keyKindOf, toSettings } from '../key-body.js';
import { fallbackRules, limitField, modelList, parseBody, positiveUsdField, usdField } from '../parse.js';
import { keySnapshot, orgSnapshot, presentKey, presentLedger, presentOrg } from '../present.js';
import { withRetention } from '../../observability/request-log.js';
import { adminModelObject, createdKeyObject, createdOrgAnswer, creditAnswer, keyObject, orgObject, requestLogSettingBody } from '../management-schemas.js';
import { listOf } from '../schemas.js';
import { auditSource } from './audit.js';

const createOrgSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    credits_usd: usdField.optional(),
    allowed_models: modelList.nullable().optional(),
    spend_cap_usd: usdField.nullable().optional(),
  })
  .strict();
const patchOrgSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    allowed_models: modelList.nullable().optional(),
    spend_cap_usd: usdField.nullable().optional(),
    disabled: z.boolean().optional(),
    fallbacks: fallbackRules.optional(),
    rpm: limitField.nullable().optional(),
    tpm: limitField.nullable().optional(),
    max_concurrency: limitField.nullable().optional(),
    semantic_cache: z.boolean().optional(),
    request_logs: requestLogSettingBody.optional(),
  })
  .strict();
const creditSchema = z
  .object({
    amount_usd: positiveUsdField,
    note: z.string().max(500).optional(),
    idempotency_key: z.string().min(1).max(200).optional(),
  })
  .strict();

export function registerAdminRoutes(app: FastifyInstance, { gw }: RouteContext): void {
  const admin = (req: FastifyRequest) => authenticateAdmin(gw.config.server.admin_token, authHeaders(req));
  /** An org by its `org_…` id or by its name (names are unique). */
  const findOrg = (ref: string): OrgRow => {
    const o = gw.view.org(ref) ?? gw.view.orgByName(ref);
    if (!o) throw new GatewayError('not_found', `No organisation with id or name "${ref}". List them, with their org_… ids, with GET /admin/orgs.`);
    return o;
  };
  const orgOut = async (ref: string) => {
    const o = findOrg(ref);
    const snap = await gw.accounts.snapshot(o.id);
    return presentOrg(o, snap.balance, snap.orgSpend);
  };

  app.post('/admin/orgs', { config: { doc: { summary: 'Create an org with its first management key (shown once)', auth: 'admin', body: createOrgSchema, responses: { 201: createdOrgAnswer } } } }, async (req, reply) => {
    admin(req);
    const body = parseBody(createOrgSchema, req.body);
    const { org, managementKey } = await gw.tenants.createOrg({
      name: body.name,
      creditsMicros: body.credits_usd === undefined ? undefined : usdToMicros(body.credits_usd),
      allowedModels: body.allowed_models ?? null,
      spendCapMicros: body.spend_cap_usd == null ? null : usdToMicros(body.spend_cap_usd),
    });
    const by = auditSource(req);
    const mk = gw.view.keysOf(org.id).find((k) => k.kind === 'mk');
    await gw.audit.record(by, { orgId: org.id, action: 'org.create', target: org.id, after: { ...orgSnapshot(org), management_key_prefix: mk?.prefix ?? null } });
    if (body.credits_usd !== undefined && body.credits_usd > 0) {
      await gw.audit.record(by, { orgId: org.id, action: 'credit.grant', target: org.id, after: { amount_usd: body.credits_usd, note: 'initial credit' } });
    }
    return reply.code(201).send({ org: await orgOut(org.id), management_key: managementKey });
  });

  app.get('/admin/orgs', { config: { doc: { summary: 'Every org', auth: 'admin', responses: { 200: listOf(orgObject) } } } }, async (req) => {
    admin(req);
    const orgs = gw.view.allOrgs().sort((a, b) => a.created_at - b.created_at);
    const data = await Promise.all(orgs.map((o) => orgOut(o.id)));
    return { object: 'list', data };
  });

  app.get<{ Params: { id: string } }>('/admin/orgs/:id', { config: { doc: { summary: 'One org, by id or name', auth: 'admin', responses: { 200: orgObject } } } }, async (req) => {
    admin(req);
    return orgOut(req.params.id);
  });

  /** The org's keys (prefixes only), for the operator. */
  app.get<{ Params: { id: string } }>('/admin/orgs/:id/keys', { config: { doc: { summary: 'An org\'s keys (prefixes only)', auth: 'admin', responses: { 200: listOf(keyObject) } } } }, async (req) => {
    admin(req);
    const org = findOrg(req.params.id);
    const keys = gw.view.keysOf(org.id).sort((a, b) => b.created_at - a.created_at);
    const spends = (await gw.accounts.snapshot(org.id, keys.map((k) => k.id))).keySpends;
    return { object: 'list', data: keys.map((k) => presentKey(k, spends.get(k.id) ?? 0)) };
  });

  /** A new key for any org: a management key unless the body says "type": "inference". Shown once. */
  app.post<{ Params: { id: string } }>('/admin/orgs/:id/keys', { config: { doc: { summary: 'Create a key for an org (management unless type is inference); shown once', auth: 'admin', body: createKeySchema, responses: { 201: createdKeyObject } } } }, async (req, reply) => {
    admin(req);
    const body = parseBody(createKeySchema, req.body);
    const org = findOrg(req.params.id);
    const { row, key } = await gw.tenants.createKey(org.id, keyKindOf(body, 'management'), toSettings(body));
    await gw.audit.record(auditSource(req), { orgId: org.id, action: row.kind === 'mk' ? 'management_key.mint' : 'key.create', target: row.id, after: keySnapshot(row) });
    return reply.code(201).send({ ...presentKey(row, 0), key });
  });

  app.patch<{ Params: { id: string } }>('/admin/orgs/:id', { config: { doc: { summary: 'Change an org', auth: 'admin', body: patchOrgSchema, responses: { 200: orgObject } } } }, async (req) => {
    admin(req);
    const body = parseBody(patchOrgSchema, req.body);
    const current = findOrg(req.params.id);
    const patch: OrgPatch = {};
    if (body.name !== undefined) patch.name = body.name;
    if (body.allowed_models !== undefined) patch.allowed_models = body.allowed_models;
    if (body.spend_cap_usd !== undefined) patch.spend_cap_micros = body.spend_cap_usd === null ? null : usdToMicros(body.spend_cap_usd);
    if (body.disabled !== undefined) patch.disabled = body.disabled;
    if (body.fallbacks !== undefined) patch.fallbacks = body.fallbacks;
    if (body.rpm !== undefined) patch.rpm = body.rpm;
    if (body.tpm !== undefined) patch.tpm = body.tpm;
    if (body.max_concurrency !== undefined) patch.max_concurrency = body.max_concurrency;
    if (body.semantic_cache !== undefined) patch.settings = { ...current.settings, semantic_cache: body.semantic_cache };
    if (body.request_logs !== undefined) patch.settings = { ...(patch.settings ?? current.settings), request_logs: withRetention(body.request_logs) };
    const updated = await gw.tenants.patchOrg(current.id, patch);
    const action = updated.disabled !== current.disabled ? (updated.disabled ? 'org.disable' : 'org.enable') : 'org.update';
    await gw.audit.record(auditSource(req), { orgId: current.id, action, target: current.id, before: orgSnapshot(current), after: orgSnapshot(updated) });
    return orgOut(current.id);
  });

  app.post<{ Params: { id: string } }>('/admin/orgs/:id/credits', { config: { doc: { summary: 'Grant credit (idempotent with idempotency_key)', auth: 'admin', body: creditSchema, responses: { 201: creditAnswer, 200: creditAnswer.meta({ description: 'The grant with this idempotency_key had already been applied' }) } } } }, async (req, reply) => {
    admin(req);
    const body = parseBody(creditSchema, req.body);
    const org = findOrg(req.params.id);
    const amount = usdToMicros(body.amount_usd);
    const note = body.note ?? null;
    const r = await gw.tenants.grantCredit(org.id, amount, note, body.idempotency_key ?? null);
    // A repeat is only a retry when it asks for the same grant; another amount or note under a
    // used key is a different top-up that would otherwise be dropped without a word.
    if (!r.applied && (r.entry.amount_micros !== amount || r.entry.note !== note)) {
      throw new GatewayError(
        'idempotency_conflict',
        `This idempotency_key was already used for another grant (${microsToUsd(r.entry.amount_micros)} USD, ledger entry ${r.entry.id}), which was applied once. Retry with the same amount_usd and note, or use a new idempotency_key for a new top-up.`,
        { param: 'idempotency_key' },
      );
    }
    if (r.applied) {
      await gw.audit.record(auditSource(req), {
        orgId: org.id,
        action: 'credit.grant',
        target: org.id,
        after: { amount_usd: body.amount_usd, note, ledger_entry_id: r.entry.id, idempotency_key: body.idempotency_key ?? null },
      });
    }
    return reply.code(r.applied ? 201 : 200).send({ balance_usd: microsToUsd((await gw.accounts.snapshot(org.id)).balance), ledger_entry: presentLedger(r.entry), applied: r.applied });
  });

  app.get('/admin/models', { config: { doc: { summary: 'Every model with its channels\' health', auth: 'admin', responses: { 200: listOf(adminModelObject) } } } }, async (req) => {
    admin(req);
    const data = [];
    for (const m of gw.channels.models.values()) {
      data.push({
        id: m.config.id,
        type: m.config.kind,
        maintenance: m.config.maintenance,
        available: !m.config.maintenance && gw.channels.hasHealthyChannel(m.config.id),
        context_length: m.config.context_window,
        max_output_tokens: m.config.max_output_tokens,
        pricing: m.config.pricing,
        channels: m.channels.map((c) => {
          const s = c.breaker.stats();
          return {
            id: c.id,
            provider: c.provider.id,
            provider_type: c.provider.type,
            upstream_model: c.upstreamModel,
            priority: c.priority,
            weight: c.weight,
            state: c.breaker.state,
            error_rate: Math.round(s.errorRate * 1000) / 1000,
            requests: s.requests,
            latency_ms: s.latencyMs,
          };
        }),
      });
    }
    return { object: 'list', data };
  });
}
