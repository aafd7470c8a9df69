// The write-behind flush: usage rows, their charges and roll-up increments in one transaction,
// keyed by request id so that a retried batch (after a crash or a timeout) never counts twice.
import { type Kysely, type Transaction, sql } from 'kysely';
import { insertLedger, insertUsage, LEDGER_COLUMN_COUNT, USAGE_COLUMN_COUNT } from './bulk-insert.js';
import type { DialectName } from './dialect.js';
import { ledgerToDb, usageToDb } from './row-mappers.js';
import { type Database, LATENCY_BOUNDS_MS, type OpsRollupTable, type RollupTable, type RollupTableName } from './schema.js';
import type { LedgerRow, UsageRow, WrittenBatch } from './types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Both dialects cap bound parameters per statement (SQLite 32766, Postgres 65535). */
const MAX_PARAMS = 30_000;

function chunks<T>(rows: T[], columns: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMS / columns));
  if (rows.length === 0) return [];
  if (rows.length <= size) return [rows];
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function bucketStart(time: number, size: number): number {
  return Math.floor(time / size) * size;
}

function addToRollup(map: Map<string, RollupTable>, u: UsageRow, bucket: number): void {
  const id = `${u.org_id}\u0000${bucket}\u0000${u.model}\u0000${u.key_id}`;
  let r = map.get(id);
  if (!r) {
    r = {
      org_id: u.org_id,
      bucket,
      model: u.model,
      key_id: u.key_id,
      requests: 0,
      errors: 0,
      cache_hits: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micros: 0,
    };
    map.set(id, r);
  }
  r.requests += 1;
  if (u.status >= 400) r.errors += 1;
  if (u.cached !== null) r.cache_hits += 1;
  r.prompt_tokens += u.prompt_tokens;
  r.completion_tokens += u.completion_tokens;
  r.cost_micros += u.cost_micros;
}

/** Sorted, so concurrent Postgres transactions lock roll-up rows in the same order (no deadlock). */
function sortedRollups(map: Map<string, RollupTable>): RollupTable[] {
  return [...map.values()].sort(
    (a, b) =>
      byString(a.org_id, b.org_id) || a.bucket - b.bucket || byString(a.model, b.model) || byString(a.key_id, b.key_id),
  );
}

const ROLLUP_SUMS = ['requests', 'errors', 'cache_hits', 'prompt_tokens', 'completion_tokens', 'cost_micros'] as const;

async function upsertRollups(trx: Transaction<Database>, table: RollupTableName, rows: RollupTable[]): Promise<void> {
  for (const chunk of chunks(rows, 10)) {
    await trx
      .insertInto(table)
      .values(chunk)
      .onConflict((oc) =>
        oc.columns(['org_id', 'bucket', 'model', 'key_id']).doUpdateSet(() => {
          const set: Record<string, unknown> = {};
          for (const col of ROLLUP_SUMS) set[col] = sql`${sql.ref(`${table}.${col}`)} + excluded.${sql.ref(col)}`;
          return set as Partial<Record<(typeof ROLLUP_SUMS)[number], number>>;
        }),
      )
      .execute();
  }
}

function addToOpsRollup(map: Map<string, OpsRollupTable>, u: UsageRow): void {
  const bucket = bucketStart(u.created_at, HOUR_MS);
  const provider = u.provider ?? '';
  const id = `${bucket}\u0000${u.model}\u0000${provider}`;
  let r = map.get(id);
  if (!r) {
    r = {
      bucket,
      model: u.model,
      provider,
      requests: 0,
      errors: 0,
      cache_hits: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micros: 0,
      latency_ms_sum: 0,
      latency_le_100: 0,
      latency_le_500: 0,
      latency_le_1000: 0,
      latency_le_5000: 0,
      latency_le_30000: 0,
    };
    map.set(id, r);
  }
  r.requests += 1;
  if (u.status >= 400) r.errors += 1;
  if (u.cached !== null) r.cache_hits += 1;
  r.prompt_tokens += u.prompt_tokens;
  r.completion_tokens += u.completion_tokens;
  r.cost_micros += u.cost_micros;
  r.latency_ms_sum += u.latency_ms;
  for (const b of LATENCY_BOUNDS_MS) if (u.latency_ms <= b) r[`latency_le_${b}`] += 1;
}

const OPS_SUMS = [
  ...ROLLUP_SUMS,
  'latency_ms_sum',
  ...LATENCY_BOUNDS_MS.map((b) => `latency_le_${b}` as const),
] as const;

async function upsertOpsRollup(trx: Transaction<Database>, map: Map<string, OpsRollupTable>): Promise<void> {
  const rows = [...map.values()].sort((a, b) => a.bucket - b.bucket || byString(a.model, b.model) || byString(a.provider, b.provider));
  for (const chunk of chunks(rows, 15)) {
    await trx
      .insertInto('usage_rollup_ops_hour')
      .values(chunk)
      .onConflict((oc) =>
        oc.columns(['bucket', 'model', 'provider']).doUpdateSet(() => {
          const set: Record<string, unknown> = {};
          for (const col of OPS_SUMS) set[col] = sql`${sql.ref(`usage_rollup_ops_hour.${col}`)} + excluded.${sql.ref(col)}`;
          return set as Partial<Record<(typeof OPS_SUMS)[number], number>>;
        }),
      )
      .execute();
  }
}

export interface Batch {
  usage: UsageRow[];
  charges: LedgerRow[];
}

export async function writeBatch(db: Kysely<Database>, dialect: DialectName, batch: Batch): Promise<WrittenBatch | undefined> {
  for (const c of batch.charges) {
    // Without a request id a retried batch could not tell that this charge is already written.
    if (c.request_id === null || c.request_id === undefined || c.request_id === '') {
      throw new TypeError(`charge ${c.id} has no request_id; every charge must name its request`);
    }
  }
  if (batch.usage.length === 0 && batch.charges.length === 0) return { inserted: [] };

  const usageById = new Map<string, UsageRow>();
  for (const u of batch.usage) if (!usageById.has(u.request_id)) usageById.set(u.request_id, u);
  const usage = [...usageById.values()].sort((a, b) => byString(a.request_id, b.request_id));

  return db.transaction().execute(async (trx) => {
    const inserted: UsageRow[] = [];
    for (const chunk of chunks(usage, USAGE_COLUMN_COUNT)) {
      const rows = await insertUsage(
        trx,
        dialect,
        chunk.map((u) => usageToDb(dialect, u)),
      )
        .onConflict((oc) => oc.column('request_id').doNothing())
        .returning('request_id')
        .execute();
      for (const r of rows) {
        const u = usageById.get(r.request_id);
        if (u) inserted.push(u);
      }
    }

    const insertedIds = new Set(inserted.map((u) => u.request_id));
    // A charge whose usage row already existed belongs to an earlier attempt of this batch.
    const charges = batch.charges
      .filter((c) => insertedIds.has(c.request_id as string) || !usageById.has(c.request_id as string))
      .sort((a, b) => byString(a.request_id as string, b.request_id as string));
    for (const chunk of chunks(charges, LEDGER_COLUMN_COUNT)) {
      await insertLedger(trx, dialect, chunk.map(ledgerToDb))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }

    const written: WrittenBatch = { inserted: [...insertedIds] };
    if (inserted.length === 0) return written;
    const hours = new Map<string, RollupTable>();
    const days = new Map<string, RollupTable>();
    const ops = new Map<string, OpsRollupTable>();
    for (const u of inserted) {
      addToRollup(hours, u, bucketStart(u.created_at, HOUR_MS));
      addToRollup(days, u, bucketStart(u.created_at, DAY_MS));
      addToOpsRollup(ops, u);
    }
    await upsertRollups(trx, 'usage_rollup_hour', sortedRollups(hours));
    await upsertRollups(trx, 'usage_rollup_day', sortedRollups(days));
    await upsertOpsRollup(trx, ops);
    return written;
  });
}
