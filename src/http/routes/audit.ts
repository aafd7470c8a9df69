// The audit trail over HTTP: GET /api/audit (the org's own records, management key) and
// GET /admin/audit (every org's, admin token), filterable by action, actor, target and time,
// newest first with a cursor, and the source (actor, address) the management routes record.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateAdmin, authenticateKeyOrExplain } from '../../auth/authenticate.js';
import { AUDIT_ACTIONS, type AuditSource, OPERATOR } from '../../audit/index.js';
import { GatewayError } from '../../core/errors.js';
import type { AuditFilter, AuditRow } from '../../store/types.js';
import { z } from 'zod';
import { authHeaders, type RouteContext } from '../app.js';
import { parseLimit, parseQuery, parseTime, queryText } from '../parse.js';
import { pageOf } from '../schemas.js';

type Query = Record<string, string | undefined>;

const auditQuery = z.object({
  action: queryText(`Only this action: ${AUDIT_ACTIONS.join(', ')}.`),
  actor: queryText('Only this actor: operator, or a management key prefix.'),
  target: queryText('Only records about this id (org, key) or admin route.'),
  since: queryText('Earliest time (included): ISO 8601 or epoch milliseconds.'),
  until: queryText('Latest time (excluded): ISO 8601 or epoch milliseconds.'),
  cursor: queryText('The next_cursor of the previous page.'),
  limit: queryText('Rows per page, 1 to 1000 (default 100).'),
});
const adminAuditQuery = auditQuery.extend({ org_id: queryText('Only this organisation\'s records: its org_… id or its name.') });

const snapshot = z.record(z.string(), z.unknown()).nullable();
const auditObject = z.object({
  id: z.string(),
  object: z.literal('audit_event'),
  org_id: z.string().nullable(),
  actor: z.string().meta({ description: 'operator, or the management key prefix' }),
  action: z.enum(AUDIT_ACTIONS),
  target: z.string().nullable(),
  before: snapshot,
  after: snapshot,
  source_ip: z.string().nullable(),
  created_at: z.string(),
});
const auditPage = pageOf(auditObject);

const ACTIONS = new Set<string>(AUDIT_ACTIONS);

/** The source of a management request: who (operator or the key's prefix) and from where. */
export function auditSource(req: FastifyRequest, actor: string = OPERATOR): AuditSource {
  return { actor, ip: req.ip ?? null };
}

function presentAudit(r: AuditRow): Record<string, unknown> {
  return {
    id: r.id,
    object: 'audit_event',
    org_id: r.org_id,
    actor: r.actor,
    action: r.action,
    target: r.target,
    before: r.before,
    after: r.after,
    source_ip: r.source_ip,
    created_at: new Date(r.created_at).toISOString(),
  };
}

function textFilter(q: Query, name: string): string | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  if (v.length > 200) throw new GatewayError('invalid_value', `"${name}" is at most 200 characters.`, { param: name });
  return v;
}

function parseFilter(raw: unknown): AuditFilter {
  const q = parseQuery(auditQuery, raw) as Query;
  const action = textFilter(q, 'action');
  if (action !== undefined && !ACTIONS.has(action)) {
    throw new GatewayError('invalid_value', `"action" must be one of ${AUDIT_ACTIONS.join(', ')}; got "${action.slice(0, 60)}".`, { param: 'action' });
  }
  const since = parseTime(q.since, 'since');
  const until = parseTime(q.until, 'until');
  return { action, actor: textFilter(q, 'actor'), target: textFilter(q, 'target'), since, until, cursor: q.cursor || undefined, limit: parseLimit(q.limit) };
}

export function registerAuditRoutes(app: FastifyInstance, { gw }: RouteContext): void {
  app.get<{ Querystring: Query }>('/api/audit', { config: { doc: { summary: 'The organisation\'s audit trail of management actions, newest first', auth: 'management', query: auditQuery, responses: { 200: auditPage } } } }, async (req) => {
    const { org } = authenticateKeyOrExplain(gw.view, gw.config.server.admin_token, authHeaders(req), ['mk']);
    const page = await gw.store.listAudit({ ...parseFilter(req.query), org_id: org.id });
    return { object: 'list', data: page.rows.map(presentAudit), next_cursor: page.next_cursor ?? null };
  });

  app.get<{ Querystring: Query }>('/admin/audit', { config: { doc: { summary: 'Every organisation\'s audit trail, newest first', auth: 'admin', query: adminAuditQuery, responses: { 200: auditPage } } } }, async (req) => {
    authenticateAdmin(gw.config.server.admin_token, authHeaders(req));
    const { org_id: _o, ...rest } = parseQuery(adminAuditQuery, req.query);
    const filter = parseFilter(rest);
    // Like every other /admin route, an org by its id or its name; an unknown one is 404, not an
    // empty trail that reads as "nothing happened".
    const orgRef = textFilter(req.query, 'org_id');
    let orgId: string | undefined;
    if (orgRef !== undefined) {
      const o = gw.view.org(orgRef) ?? gw.view.orgByName(orgRef);
      if (!o) throw new GatewayError('not_found', `No organisation with id or name "${orgRef}". List them with GET /admin/orgs.`);
      orgId = o.id;
    }
    const page = await gw.store.listAudit(orgId === undefined ? filter : { ...filter, org_id: orgId });
    return { object: 'list', data: page.rows.map(presentAudit), next_cursor: page.next_cursor ?? null };
  });
}
