// The audit trail in the store: rows are appended, never changed, and listed newest first
// with the same keyset cursor as usage and the ledger.
import type { Kysely } from 'kysely';
import { clampLimit, decodeCursor, toPage } from './cursor.js';
import type { AuditLogTable, Database } from './schema.js';
import type { AuditFilter, AuditRow, Page } from './types.js';

function json(v: Record<string, unknown> | null): string | null {
  return v === null ? null : JSON.stringify(v);
}

function parsed(v: string | null): Record<string, unknown> | null {
  return v === null ? null : (JSON.parse(v) as Record<string, unknown>);
}

export function auditToDb(r: AuditRow): AuditLogTable {
  return { ...r, before: json(r.before), after: json(r.after) };
}

export function auditFromDb(r: AuditLogTable): AuditRow {
  return { ...r, created_at: Number(r.created_at), before: parsed(r.before), after: parsed(r.after) };
}

export async function insertAudit(db: Kysely<Database>, row: AuditRow): Promise<void> {
  await db.insertInto('audit_log').values(auditToDb(row)).execute();
}

export async function listAudit(db: Kysely<Database>, f: AuditFilter): Promise<Page<AuditRow>> {
  const limit = clampLimit(f.limit);
  let q = db.selectFrom('audit_log').selectAll();
  if (f.org_id !== undefined) q = q.where('org_id', '=', f.org_id);
  if (f.action !== undefined) q = q.where('action', '=', f.action);
  if (f.actor !== undefined) q = q.where('actor', '=', f.actor);
  if (f.target !== undefined) q = q.where('target', '=', f.target);
  if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('created_at', '<', f.until);
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    q = q.where((eb) => eb.or([eb('created_at', '<', c.created_at), eb.and([eb('created_at', '=', c.created_at), eb('id', '<', c.id)])]));
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  return toPage(rows.map(auditFromDb), limit, (r) => ({ created_at: r.created_at, id: r.id }));
}
