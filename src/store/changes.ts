// The change sequence and the store's leases: how a process learns what another one changed
// (orgs, keys, credit) without Redis, and how instances sharing a store without Redis find
// out about each other.
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { ChangeKind, ChangeRow } from './types.js';

export async function appendChange(db: Kysely<Database>, kind: ChangeKind, ref: string, orgId: string | null = null, amount: number | null = null): Promise<void> {
  await db.insertInto('changes').values({ kind, ref, org_id: orgId, amount_micros: amount, created_at: Date.now() }).execute();
}

export async function changesAfter(db: Kysely<Database>, seq: number, limit: number): Promise<ChangeRow[]> {
  const rows = await db.selectFrom('changes').selectAll().where('seq', '>', seq).orderBy('seq').limit(limit).execute();
  return rows.map((r) => ({
    seq: Number(r.seq),
    kind: r.kind as ChangeKind,
    ref: r.ref,
    org_id: r.org_id,
    amount_micros: r.amount_micros === null ? null : Number(r.amount_micros),
    created_at: Number(r.created_at),
  }));
}

export async function lastChange(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('changes')
    .select((eb) => eb.fn.max<number>('seq').as('seq'))
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/** Takes or renews `name` for `holder` unless another holder's lease is still running. */
export async function takeLease(db: Kysely<Database>, name: string, holder: string, ttlMs: number): Promise<{ ok: boolean; holder: string; expiresAt: number }> {
  const now = Date.now();
  const expires = now + ttlMs;
  await db
    .insertInto('leases')
    .values({ name, holder, expires_at: expires })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, expires_at: expires })
        .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<', now)])),
    )
    .execute();
  const row = await db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
  return { ok: row.holder === holder, holder: row.holder, expiresAt: Number(row.expires_at) };
}

export async function releaseLease(db: Kysely<Database>, name: string, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
}
