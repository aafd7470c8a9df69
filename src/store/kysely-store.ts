// The Store contract on top of Kysely: one set of queries for SQLite and Postgres, with the
// dialect-specific pieces (connection, booleans, locks) kept in dialect.ts and migrations.ts.
import { type Kysely, sql } from 'kysely';
import type { DialectName, OpenedDatabase } from './dialect.js';
import { migrate } from './migrations.js';
import {
  alertSettingsFromDb,
  keyFromDb,
  keyPatchToDb,
  keyToDb,
  ledgerFromDb,
  ledgerToDb,
  orgFromDb,
  orgPatchToDb,
  orgToDb,
} from './row-mappers.js';
import type { Database } from './schema.js';
import { deleteResponse, getResponse, pruneResponses, putResponse } from './stored-responses.js';
import type {
  AlertSettingsRow,
  AuditFilter,
  AuditRow,
  ChangeRow,
  KeyRow,
  LedgerRow,
  RequestLogRow,
  OpsStat,
  OpsStatsFilter,
  OrgSpend,
  OrgRow,
  Page,
  Store,
  IdempotencyRecordRow,
  WrittenBatch,
  StoredResponseRow,
  UsageAggregate,
  UsageAggregateFilter,
  UsageFilter,
  UsageRow,
} from './types.js';
import { appendChange, changesAfter, lastChange, releaseLease, takeLease } from './changes.js';
import { aggregateUsage, listLedger, listUsage, operatorStats, pruneUsage, topOrgs } from './usage-queries.js';
import { writeBatch } from './write-batch.js';
import { usageFromDb } from './row-mappers.js';
import { insertAudit, listAudit } from './audit.js';

type OrgPatch = Partial<Omit<OrgRow, 'id' | 'created_at'>>;
type KeyPatch = Partial<Omit<KeyRow, 'id' | 'org_id' | 'hash' | 'created_at'>>;

/** Drops fields a patch must never change even if a caller passes them at runtime. */
function without<T extends object>(patch: T, fields: string[]): T {
  const copy = { ...patch } as Record<string, unknown>;
  for (const f of fields) delete copy[f];
  return copy as T;
}

export class KyselyStore implements Store {
  readonly dialect: DialectName;
  readonly #opened: OpenedDatabase;
  readonly #db: Kysely<Database>;
  #isClosed = false;
  #migrating: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(opened: OpenedDatabase) {
    this.#opened = opened;
    this.#db = opened.db;
    this.dialect = opened.dialect;
  }

  migrate(): Promise<void> {
    // One migration at a time per instance: SQLite's migration holds a transaction on the only connection.
    const run = (this.#migrating ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => {
        this.#live();
        return migrate(this.#opened);
      });
    this.#migrating = run;
    return run;
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.#live());
  }

  close(): Promise<void> {
    this.#isClosed = true;
    this.#closed ??= this.#db.destroy().finally(() => this.#opened.release());
    return this.#closed;
  }

  /** Kysely would silently reopen a driver that was closed before its first query. */
  #live(): Kysely<Database> {
    if (this.#isClosed) throw new Error('the store is closed');
    return this.#db;
  }

  async insertOrg(org: OrgRow): Promise<void> {
    await this.#live().insertInto('orgs').values(orgToDb(this.dialect, org)).execute();
    await appendChange(this.#live(), 'org', org.id, org.id);
  }

  async updateOrg(id: string, patch: OrgPatch): Promise<OrgRow | undefined> {
    const cols = orgPatchToDb(this.dialect, {
      ...without(patch, ['id', 'created_at']),
      updated_at: patch.updated_at ?? Date.now(),
    });
    const row = await this.#live().updateTable('orgs').set(cols).where('id', '=', id).returningAll().executeTakeFirst();
    if (row) await appendChange(this.#live(), 'org', id, id);
    return row ? orgFromDb(row) : undefined;
  }

  async getOrg(id: string): Promise<OrgRow | undefined> {
    const row = await this.#live().selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? orgFromDb(row) : undefined;
  }

  async getOrgByName(name: string): Promise<OrgRow | undefined> {
    const row = await this.#live().selectFrom('orgs').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? orgFromDb(row) : undefined;
  }

  async listOrgs(): Promise<OrgRow[]> {
    const rows = await this.#live().selectFrom('orgs').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(orgFromDb);
  }

  async insertKey(key: KeyRow): Promise<void> {
    await this.#live().insertInto('api_keys').values(keyToDb(this.dialect, key)).execute();
    await appendChange(this.#live(), 'key', key.id, key.org_id);
  }

  async updateKey(id: string, patch: KeyPatch): Promise<KeyRow | undefined> {
    const cols = keyPatchToDb(this.dialect, {
      ...without(patch, ['id', 'org_id', 'hash', 'created_at']),
      updated_at: patch.updated_at ?? Date.now(),
    });
    const row = await this.#live()
      .updateTable('api_keys')
      .set(cols)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row) await appendChange(this.#live(), 'key', id, row.org_id);
    return row ? keyFromDb(row) : undefined;
  }

  async getKey(id: string): Promise<KeyRow | undefined> {
    const row = await this.#live().selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? keyFromDb(row) : undefined;
  }

  async getKeyByHash(hash: string): Promise<KeyRow | undefined> {
    const row = await this.#live().selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row ? keyFromDb(row) : undefined;
  }

  async listKeys(orgId?: string): Promise<KeyRow[]> {
    let q = this.#live().selectFrom('api_keys').selectAll();
    if (orgId !== undefined) q = q.where('org_id', '=', orgId);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(keyFromDb);
  }

  async grantCredit(entry: LedgerRow): Promise<{ entry: LedgerRow; applied: boolean }> {
    // The unique indexes decide, not a read-then-write: concurrent duplicates wait on the first
    // insert and then do nothing, so exactly one applies.
    const row = await this.#live()
      .insertInto('ledger')
      .values(ledgerToDb(entry))
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row) {
      await appendChange(this.#live(), 'grant', row.id, row.org_id, Number(row.amount_micros));
      return { entry: ledgerFromDb(row), applied: true };
    }

    let q = this.#live().selectFrom('ledger').selectAll();
    q =
      entry.idempotency_key !== null && entry.idempotency_key !== undefined
        ? q.where('org_id', '=', entry.org_id).where('idempotency_key', '=', entry.idempotency_key)
        : q.where('id', '=', entry.id);
    const first = await q.executeTakeFirst();
    if (!first) throw new Error(`ledger entry ${entry.id} conflicts with an existing entry of another request`);
    return { entry: ledgerFromDb(first), applied: false };
  }

  async writeBatch(batch: { usage: UsageRow[]; charges: LedgerRow[] }): Promise<WrittenBatch | undefined> {
    return writeBatch(this.#live(), this.dialect, batch);
  }

  async balances(): Promise<Map<string, number>> {
    const rows = await this.#live()
      .selectFrom('ledger')
      .select((eb) => ['org_id', eb.fn.sum<number>('amount_micros').as('total')])
      .groupBy('org_id')
      .execute();
    return new Map(rows.map((r) => [r.org_id, Number(r.total)]));
  }

  async keySpends(): Promise<Map<string, number>> {
    const rows = await this.#live()
      .selectFrom('ledger')
      .select((eb) => ['key_id', eb.fn.sum<number>('amount_micros').as('total')])
      .where('kind', '=', 'charge')
      .where('key_id', 'is not', null)
      .groupBy('key_id')
      .execute();
    // Charges are stored negative; spend is reported positive. `0 -` avoids a -0.
    return new Map(rows.map((r) => [r.key_id as string, 0 - Number(r.total)]));
  }

  async listLedger(orgId: string, opts: { cursor?: string; limit: number }): Promise<Page<LedgerRow>> {
    return listLedger(this.#live(), orgId, opts);
  }

  async listUsage(filter: UsageFilter): Promise<Page<UsageRow>> {
    return listUsage(this.#live(), filter);
  }

  async insertAudit(row: AuditRow): Promise<void> {
    await insertAudit(this.#live(), row);
  }

  async listAudit(filter: AuditFilter): Promise<Page<AuditRow>> {
    return listAudit(this.#live(), filter);
  }

  async aggregateUsage(filter: UsageAggregateFilter): Promise<UsageAggregate[]> {
    return aggregateUsage(this.#live(), filter);
  }

  async getUsage(orgId: string, requestId: string): Promise<UsageRow | undefined> {
    const row = await this.#live().selectFrom('usage').selectAll().where('org_id', '=', orgId).where('request_id', '=', requestId).executeTakeFirst();
    return row ? usageFromDb(row) : undefined;
  }

  async insertRequestLogs(rows: RequestLogRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#live()
      .insertInto('request_logs')
      .values(rows.map((r) => ({ ...r, truncated: r.truncated ? 1 : 0 })))
      .onConflict((oc) => oc.column('request_id').doNothing())
      .execute();
  }

  async getRequestLog(orgId: string, requestId: string, now: number): Promise<RequestLogRow | undefined> {
    const row = await this.#live()
      .selectFrom('request_logs')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('request_id', '=', requestId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row ? { ...row, truncated: Number(row.truncated) === 1, created_at: Number(row.created_at), expires_at: Number(row.expires_at) } : undefined;
  }

  async pruneRequestLogs(now: number): Promise<number> {
    const res = await this.#live().deleteFrom('request_logs').where('expires_at', '<=', now).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  async operatorStats(filter: OpsStatsFilter): Promise<OpsStat[]> {
    return operatorStats(this.#live(), filter);
  }

  async topOrgs(filter: { from: number; to: number; limit: number }): Promise<OrgSpend[]> {
    return topOrgs(this.#live(), filter);
  }

  async pruneUsage(before: number): Promise<number> {
    return pruneUsage(this.#live(), before);
  }

  changesAfter(seq: number, limit: number): Promise<ChangeRow[]> {
    return changesAfter(this.#live(), seq, limit);
  }

  lastChangeSeq(): Promise<number> {
    return lastChange(this.#live());
  }

  takeLease(name: string, holder: string, ttlMs: number): Promise<{ ok: boolean; holder: string; expiresAt: number }> {
    return takeLease(this.#live(), name, holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return releaseLease(this.#live(), name, holder);
  }

  async getAlertSettings(orgId: string): Promise<AlertSettingsRow | undefined> {
    const row = await this.#live().selectFrom('alert_settings').selectAll().where('org_id', '=', orgId).executeTakeFirst();
    return row ? alertSettingsFromDb(row) : undefined;
  }

  async putAlertSettings(row: AlertSettingsRow): Promise<void> {
    const settings = JSON.stringify(row.settings ?? {});
    await this.#live()
      .insertInto('alert_settings')
      .values({ org_id: row.org_id, settings, updated_at: row.updated_at })
      .onConflict((oc) => oc.column('org_id').doUpdateSet({ settings, updated_at: row.updated_at }))
      .execute();
  }

  putResponse(row: StoredResponseRow): Promise<void> {
    return putResponse(this.#live(), row);
  }

  getResponse(orgId: string, id: string, now: number): Promise<StoredResponseRow | undefined> {
    return getResponse(this.#live(), orgId, id, now);
  }

  deleteResponse(orgId: string, id: string): Promise<boolean> {
    return deleteResponse(this.#live(), orgId, id);
  }

  pruneResponses(before: number): Promise<number> {
    return pruneResponses(this.#live(), before);
  }

  async putIdempotencyRecord(row: IdempotencyRecordRow): Promise<void> {
    const db = this.#live();
    // An expired record under the same key gives way to the new one.
    await db.deleteFrom('idempotency_records').where('key_id', '=', row.key_id).where('idem_key', '=', row.idem_key).where('expires_at', '<=', Date.now()).execute();
    await db
      .insertInto('idempotency_records')
      .values(row)
      .onConflict((oc) => oc.columns(['key_id', 'idem_key']).doNothing())
      .execute();
  }

  async getIdempotencyRecord(keyId: string, idemKey: string, now: number): Promise<IdempotencyRecordRow | undefined> {
    const row = await this.#live()
      .selectFrom('idempotency_records')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('idem_key', '=', idemKey)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row ? { ...row, expires_at: Number(row.expires_at) } : undefined;
  }
}
