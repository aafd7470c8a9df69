// Column lists and value encodings for writing rows with prepared better-sqlite3 statements
// instead of Kysely. Each table's list gives a column with how a row yields its bound value, so
// the statement's columns and the values bound to it cannot fall out of step. The request thread
// encodes stored-response and request-log rows here and hands the store worker only flat
// values (strings and numbers, cheap to copy between threads); the worker binds them as they are.
import type { RequestLogRow, StoredResponseRow } from './types.js';

export type SqlValue = string | number | null;
/** A column and how a row gives its value. */
export type Columns<Row> = readonly (readonly [column: string, value: (row: Row) => SqlValue])[];

// SQLite has no boolean type: flags are 0/1, as toDbBool writes them for the Kysely store.
export const flag = (v: boolean) => (v ? 1 : 0);

export const quote = (name: string) => `"${name}"`;

export function insertSql(table: string, columns: readonly string[], onConflict: string): string {
  return `insert into ${quote(table)} (${columns.map(quote).join(', ')}) values (${columns.map(() => '?').join(', ')}) ${onConflict}`;
}

export function values<Row>(columns: Columns<Row>, row: Row): SqlValue[] {
  const out = new Array<SqlValue>(columns.length);
  for (let i = 0; i < columns.length; i++) out[i] = columns[i]![1](row);
  return out;
}

/** As putResponse (stored-responses.ts) writes them: the three documents as JSON text. */
export const STORED_RESPONSE: Columns<StoredResponseRow> = [
  ['id', (r) => r.id],
  ['org_id', (r) => r.org_id],
  ['key_id', (r) => r.key_id],
  ['model', (r) => r.model],
  ['previous_response_id', (r) => r.previous_response_id ?? null],
  ['response', (r) => JSON.stringify(r.response)],
  ['input_items', (r) => JSON.stringify(r.input_items)],
  ['context', (r) => JSON.stringify(r.context)],
  ['created_at', (r) => r.created_at],
  ['expires_at', (r) => r.expires_at],
];

/** As insertRequestLogs (kysely-store.ts) writes them. */
export const REQUEST_LOG: Columns<RequestLogRow> = [
  ['request_id', (r) => r.request_id],
  ['org_id', (r) => r.org_id],
  ['key_id', (r) => r.key_id],
  ['route', (r) => r.route],
  ['request', (r) => r.request],
  ['response', (r) => r.response],
  ['truncated', (r) => flag(r.truncated)],
  ['created_at', (r) => r.created_at],
  ['expires_at', (r) => r.expires_at],
];

/** A stored response's bound values, in STORED_RESPONSE's order. */
export const storedResponseValues = (row: StoredResponseRow): SqlValue[] => values(STORED_RESPONSE, row);

/** A request log's bound values, in REQUEST_LOG's order. */
export const requestLogValues = (row: RequestLogRow): SqlValue[] => values(REQUEST_LOG, row);
