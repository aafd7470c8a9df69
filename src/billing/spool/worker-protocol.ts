// Messages between the request thread and its store worker: usage batches from the usage
// writer and, with SQLite, the request path's own rows (stored Responses, request logs) as the
// flat values of sqlite-columns.ts.
import type { SqlValue } from '../../store/sqlite-columns.js';

export interface WorkerTarget {
  url: string;
  schema?: string;
}

/**
 * What the worker starts with. For SQLite the request thread resolves the file from the URL, so
 * the worker writes with better-sqlite3 alone and never loads the store's URL parser or Kysely.
 */
export interface WorkerData extends WorkerTarget {
  sqlitePath?: string;
}

export type WorkerRequest =
  | { kind: 'write'; id: number; payload: Uint8Array }
  | { kind: 'response'; id: number; values: SqlValue[] }
  | { kind: 'request-logs'; id: number; rows: SqlValue[][] }
  | { kind: 'close' };

export type WorkerReply = { id: number; ok: true } | { id: number; ok: false; error: string };
