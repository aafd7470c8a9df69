// The write-behind flush for SQLite without a query builder: statements prepared once and reused
// for every row, one transaction per batch. It commits exactly what writeBatch (write-batch.ts)
// commits (batch-plan.ts decides the rows for both) and loads neither Kysely nor the rest of the
// store, so the store worker stays small and spends a batch's CPU in SQLite, not building SQL.
import type { Database, Statement, Transaction } from 'better-sqlite3';
import { checkCharges, chargesToWrite, OPS_SUMS, ROLLUP_SUMS, rollupIncrements, uniqueUsage } from './batch-plan.js';
import type { OpsRollupTable, RollupTable } from './schema.js';
import { type Columns, flag, insertSql, quote, type SqlValue, values } from './sqlite-columns.js';
import { openSqliteConnection } from './sqlite-connection.js';
import type { LedgerRow, UsageRow, WrittenBatch } from './types.js';
import type { Batch } from './write-batch.js';

const USAGE: Columns<UsageRow> = [
  ['request_id', (u) => u.request_id],
  ['org_id', (u) => u.org_id],
  ['key_id', (u) => u.key_id],
  ['model', (u) => u.model],
  ['requested_model', (u) => u.requested_model],
  ['provider', (u) => u.provider],
  ['surface', (u) => u.surface],
  ['prompt_tokens', (u) => u.prompt_tokens],
  ['completion_tokens', (u) => u.completion_tokens],
  ['cache_read_tokens', (u) => u.cache_read_tokens],
  ['cache_write_tokens', (u) => u.cache_write_tokens],
  ['reasoning_tokens', (u) => u.reasoning_tokens],
  ['cost_micros', (u) => u.cost_micros],
  ['cached', (u) => u.cached],
  ['status', (u) => u.status],
  ['error_code', (u) => u.error_code],
  ['latency_ms', (u) => u.latency_ms],
  ['stream', (u) => flag(u.stream)],
  ['estimated', (u) => flag(u.estimated)],
  ['fallback', (u) => u.fallback],
  ['attempts', (u) => u.attempts],
  ['created_at', (u) => u.created_at],
];

const LEDGER: Columns<LedgerRow> = [
  ['id', (c) => c.id],
  ['org_id', (c) => c.org_id],
  ['key_id', (c) => c.key_id],
  ['kind', (c) => c.kind],
  ['amount_micros', (c) => c.amount_micros],
  ['note', (c) => c.note],
  ['request_id', (c) => c.request_id],
  ['idempotency_key', (c) => c.idempotency_key],
  ['created_at', (c) => c.created_at],
];

const ROLLUP_KEY = ['org_id', 'bucket', 'model', 'key_id'] as const;
const OPS_KEY = ['bucket', 'model', 'provider'] as const;

/** Inserts a roll-up row or adds its sums to the row already there. */
function upsertSql(table: string, key: readonly string[], sums: readonly string[]): string {
  const set = sums.map((c) => `${quote(c)} = ${quote(table)}.${quote(c)} + excluded.${quote(c)}`).join(', ');
  return insertSql(table, [...key, ...sums], `on conflict (${key.map(quote).join(', ')}) do update set ${set}`);
}

interface Statements {
  usage: Statement<SqlValue[]>;
  ledger: Statement<SqlValue[]>;
  hour: Statement<SqlValue[]>;
  day: Statement<SqlValue[]>;
  ops: Statement<SqlValue[]>;
}

function prepareStatements(db: Database): Statements {
  // The values go as separate arguments (run(...values)), bound to the ? in order: better-sqlite3
  // reads those straight from the call, where the items of one array argument cost a V8 API
  // lookup each (about 8 % of the instructions per committed row, bench/worker-instructions.mjs).
  const prepare = (sql: string) => db.prepare<SqlValue[]>(sql);
  return {
    usage: prepare(insertSql('usage', USAGE.map(([c]) => c), 'on conflict ("request_id") do nothing')),
    // Any unique column (id, request_id, org + idempotency key) already holding the charge skips it.
    ledger: prepare(insertSql('ledger', LEDGER.map(([c]) => c), 'on conflict do nothing')),
    hour: prepare(upsertSql('usage_rollup_hour', ROLLUP_KEY, ROLLUP_SUMS)),
    day: prepare(upsertSql('usage_rollup_day', ROLLUP_KEY, ROLLUP_SUMS)),
    ops: prepare(upsertSql('usage_rollup_ops_hour', OPS_KEY, OPS_SUMS)),
  };
}

/** In the column order of upsertSql: the key, then the sums. */
function rollupValues(r: RollupTable): SqlValue[] {
  const out: SqlValue[] = [];
  for (const c of ROLLUP_KEY) out.push(r[c]);
  for (const c of ROLLUP_SUMS) out.push(r[c]);
  return out;
}

function opsValues(r: OpsRollupTable): SqlValue[] {
  const out: SqlValue[] = [];
  for (const c of OPS_KEY) out.push(r[c]);
  for (const c of OPS_SUMS) out.push(r[c]);
  return out;
}

function commit(s: Statements, batch: Batch): WrittenBatch {
  const { byId, sorted } = uniqueUsage(batch.usage);
  const inserted: UsageRow[] = [];
  for (const u of sorted) if (s.usage.run(...values(USAGE, u)).changes > 0) inserted.push(u);
  const insertedIds = new Set(inserted.map((u) => u.request_id));
  for (const c of chargesToWrite(batch.charges, byId, insertedIds)) s.ledger.run(...values(LEDGER, c));
  if (inserted.length === 0) return { inserted: [] };
  const { hours, days, ops } = rollupIncrements(inserted);
  for (const r of hours) s.hour.run(...rollupValues(r));
  for (const r of days) s.day.run(...rollupValues(r));
  for (const r of ops) s.ops.run(...opsValues(r));
  return { inserted: [...insertedIds] };
}

/** Commits write-behind batches to one SQLite file on its own connection; synchronous, for a worker thread. */
export class SqliteBatchWriter {
  readonly #db: Database;
  #statements: Statements | undefined;
  readonly #commit: Transaction<(s: Statements, batch: Batch) => WrittenBatch>;

  /** Opens the file with the store's pragmas; the schema must be migrated before the first write. */
  constructor(path: string) {
    this.#db = openSqliteConnection(path);
    this.#commit = this.#db.transaction(commit);
  }

  /** The connection, for other writes of the same thread (SqliteRowWriter); closed by close(). */
  get connection(): Database {
    return this.#db;
  }

  /** Commits the batch in one transaction, or throws having written nothing (the caller retries). */
  write(batch: Batch): WrittenBatch {
    checkCharges(batch.charges);
    if (batch.usage.length === 0 && batch.charges.length === 0) return { inserted: [] };
    // Prepared at the first batch, not at open: the main thread may still be migrating. A failed
    // prepare (no table yet) throws here and is tried again with the next batch.
    this.#statements ??= prepareStatements(this.#db);
    // IMMEDIATE takes the write lock up front, waiting up to busy_timeout for another writer.
    return this.#commit.immediate(this.#statements, batch);
  }

  close(): void {
    this.#statements = undefined;
    if (this.#db.open) this.#db.close();
  }
}
