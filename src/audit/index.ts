// The audit trail: every management action (orgs, credit, keys, alert settings, and the admin
// token's use) is appended to the store before the action's answer is sent, with who did it
// (the operator or a management key's prefix), what, on what, the state before and after,
// when, and from which address. Records never hold a key, token or secret.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { AuditRow, Store } from '../store/types.js';

/** Who acted and from where. */
export interface AuditSource {
  /** "operator" for the admin token, else the management key's display prefix */
  actor: string;
  ip: string | null;
}

export interface AuditEntry {
  orgId: string | null;
  action: string;
  target: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

export const OPERATOR = 'operator';

/** Every action the trail records, for the docs and the filters. */
export const AUDIT_ACTIONS = [
  'org.create',
  'org.update',
  'org.disable',
  'org.enable',
  'credit.grant',
  'key.create',
  'key.update',
  'key.rotate',
  'key.revoke',
  'management_key.mint',
  'alerts.update',
  'alerts.secret_rotate',
  'admin_token.use',
] as const;

/** Field names whose values are never written to the trail, at any depth. */
const SECRET_FIELDS = new Set(['key', 'hash', 'token', 'admin_token', 'webhook_secret', 'management_key', 'secret']);

export function scrub(v: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (v === null || v === undefined) return null;
  return scrubValue(v) as Record<string, unknown>;
}

function scrubValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(scrubValue);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!SECRET_FIELDS.has(k)) out[k] = scrubValue(x);
  return out;
}

/** Reads of the admin routes are recorded at most this often per address and route. */
const ADMIN_USE_EVERY_MS = 60_000;
const ADMIN_USE_REMEMBERED = 10_000;

export class AuditTrail {
  private readonly adminUses = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Appends one record; resolves once it is in the store (one retry, then the error is the caller's). */
  async record(by: AuditSource, e: AuditEntry): Promise<void> {
    const row: AuditRow = {
      id: `aud_${randomBytes(12).toString('base64url')}`,
      org_id: e.orgId,
      actor: by.actor,
      action: e.action,
      target: e.target,
      before: scrub(e.before),
      after: scrub(e.after),
      source_ip: by.ip,
      created_at: this.now(),
    };
    try {
      await this.store.insertAudit(row);
    } catch (err) {
      this.log.warn({ err, action: e.action }, 'audit write failed; retrying once');
      await this.store.insertAudit(row);
    }
  }

  /**
   * A read with the admin token (changes are recorded as their own actions): one record per
   * address and route a minute, so a polling console does not flood the trail.
   */
  async adminUse(ip: string | null, route: string): Promise<void> {
    const k = `${ip ?? ''} ${route}`;
    const now = this.now();
    const last = this.adminUses.get(k);
    if (last !== undefined && now - last < ADMIN_USE_EVERY_MS) return;
    if (this.adminUses.size >= ADMIN_USE_REMEMBERED) this.adminUses.clear();
    this.adminUses.set(k, now);
    await this.record({ actor: OPERATOR, ip }, { orgId: null, action: 'admin_token.use', target: route });
  }
}
