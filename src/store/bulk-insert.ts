// Multi-row inserts for the write-behind flush. Postgres gets one array parameter per column
// (INSERT … SELECT FROM unnest): the SQL text is then the same for every batch size, so the
// server plans it cheaply and the client binds 18 parameters instead of 18 per row.
import { type Expression, type InsertQueryBuilder, type InsertResult, type Kysely, sql } from 'kysely';
import type { DialectName } from './dialect.js';
import type { Database, LedgerTable, UsageTable } from './schema.js';

type ColumnTypes<Row> = { [K in keyof Row]-?: 'text' | 'int4' | 'int8' | 'bool' };

const USAGE_TYPES: ColumnTypes<UsageTable> = {
  request_id: 'text',
  org_id: 'text',
  key_id: 'text',
  model: 'text',
  requested_model: 'text',
  provider: 'text',
  surface: 'text',
  prompt_tokens: 'int8',
  completion_tokens: 'int8',
  cache_read_tokens: 'int8',
  cache_write_tokens: 'int8',
  reasoning_tokens: 'int8',
  cost_micros: 'int8',
  cached: 'text',
  status: 'int4',
  error_code: 'text',
  latency_ms: 'int8',
  stream: 'bool',
  estimated: 'bool',
  fallback: 'text',
  attempts: 'int4',
  created_at: 'int8',
};

const LEDGER_TYPES: ColumnTypes<LedgerTable> = {
  id: 'text',
  org_id: 'text',
  key_id: 'text',
  kind: 'text',
  amount_micros: 'int8',
  note: 'text',
  request_id: 'text',
  idempotency_key: 'text',
  created_at: 'int8',
};

export const USAGE_COLUMN_COUNT = Object.keys(USAGE_TYPES).length;
export const LEDGER_COLUMN_COUNT = Object.keys(LEDGER_TYPES).length;

function unnest<Row extends object>(types: ColumnTypes<Row>, rows: Row[]): Expression<Row> {
  const columns = Object.keys(types) as (keyof Row & string)[];
  const arrays = columns.map((c) => sql`${rows.map((r) => r[c])}::${sql.raw(types[c])}[]`);
  return sql<Row>`select * from unnest(${sql.join(arrays)})`;
}

type Builder<T extends keyof Database> = InsertQueryBuilder<Database, T, InsertResult>;

function insertRows<T extends 'usage' | 'ledger'>(
  db: Kysely<Database>,
  dialect: DialectName,
  table: T,
  types: ColumnTypes<Database[T]>,
  rows: Database[T][],
): Builder<T> {
  // Kysely cannot relate a generic table's insert type to its row type, hence the casts.
  const q = db.insertInto(table);
  if (dialect === 'sqlite') return q.values(rows as never) as Builder<T>;
  const columns = Object.keys(types) as never;
  return q.columns(columns).expression(unnest(types, rows) as never) as Builder<T>;
}

export function insertUsage(db: Kysely<Database>, dialect: DialectName, rows: UsageTable[]) {
  return insertRows(db, dialect, 'usage', USAGE_TYPES, rows);
}

export function insertLedger(db: Kysely<Database>, dialect: DialectName, rows: LedgerTable[]) {
  return insertRows(db, dialect, 'ledger', LEDGER_TYPES, rows);
}
