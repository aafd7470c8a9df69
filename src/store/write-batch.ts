// The write-behind flush: usage rows, their charges and roll-up increments in one transaction,
// keyed by request id so that a retried batch (after a crash or a timeout) never counts twice.
import { type Kysely, type Transaction, sql } from 'kysely';
import { insertLedger, insertUsage, LEDGER_COLUMN_COUNT, USAGE_COLUMN_COUNT } from './bulk-insert.js';
import type { DialectName } from './dialect.js';
import { ledgerToDb, usageToDb } from './row-mappers.js';
import { checkCharges, chargesToWrite, OPS_SUMS, ROLLUP_SUMS, rollupIncrements, uniqueUsage } from './batch-plan.js';
import type { Database, OpsRollupTable, RollupTable, RollupTableName } from './schema.js';
import type { LedgerRow, UsageRow, WrittenBatch } from './types.js';

export { bucketStart, DAY_MS, HOUR_MS } from './batch-plan.js';

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

async function upsertOpsRollup(trx: Transaction<Database>, rows: OpsRollupTable[]): Promise<void> {
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
  checkCharges(batch.charges);
  if (batch.usage.length === 0 && batch.charges.length === 0) return { inserted: [] };
  const { byId: usageById, sorted: usage } = uniqueUsage(batch.usage);

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
    const charges = chargesToWrite(batch.charges, usageById, insertedIds);
    for (const chunk of chunks(charges, LEDGER_COLUMN_COUNT)) {
      await insertLedger(trx, dialect, chunk.map(ledgerToDb))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }

    const written: WrittenBatch = { inserted: [...insertedIds] };
    if (inserted.length === 0) return written;
    const { hours, days, ops } = rollupIncrements(inserted);
    await upsertRollups(trx, 'usage_rollup_hour', hours);
    await upsertRollups(trx, 'usage_rollup_day', days);
    await upsertOpsRollup(trx, ops);
    return written;
  });
}
