// The request path's own SQLite rows (stored Responses, request logs), written in the store
// worker with prepared statements on the worker's connection, so neither the statement nor a
// wait for the write lock runs on the request thread. The values come encoded by
// sqlite-columns.ts; the statements match the Kysely store's inserts for the same tables.
import type { Database, Statement, Transaction } from 'better-sqlite3';
import { insertSql, REQUEST_LOG, STORED_RESPONSE, type SqlValue } from './sqlite-columns.js';

interface Statements {
  response: Statement<[SqlValue[]]>;
  requestLog: Statement<[SqlValue[]]>;
}

function prepareStatements(db: Database): Statements {
  const prepare = (sql: string) => db.prepare<[SqlValue[]]>(sql);
  return {
    // A response is written once per id: a second write of the same id changes nothing.
    response: prepare(insertSql('stored_responses', STORED_RESPONSE.map(([c]) => c), 'on conflict ("id") do nothing')),
    requestLog: prepare(insertSql('request_logs', REQUEST_LOG.map(([c]) => c), 'on conflict ("request_id") do nothing')),
  };
}

function checkWidth(row: readonly SqlValue[], width: number, what: string): void {
  if (!Array.isArray(row) || row.length !== width) throw new Error(`a ${what} row must have ${width} values`);
}

/** Writes on a connection it does not own (the worker's); synchronous, for a worker thread. */
export class SqliteRowWriter {
  readonly #db: Database;
  #statements: Statements | undefined;
  readonly #logs: Transaction<(s: Statements, rows: readonly SqlValue[][]) => void>;

  constructor(db: Database) {
    this.#db = db;
    // All of a batch or none of it, as the Kysely store's one multi-row insert.
    this.#logs = db.transaction((s: Statements, rows: readonly SqlValue[][]) => {
      for (const r of rows) s.requestLog.run(r);
    });
  }

  /** Prepared at the first write, not at open (the main thread may still be migrating); a failed prepare is tried again next time. */
  #prepared(): Statements {
    this.#statements ??= prepareStatements(this.#db);
    return this.#statements;
  }

  putResponse(row: readonly SqlValue[]): void {
    checkWidth(row, STORED_RESPONSE.length, 'stored response');
    this.#prepared().response.run(row as SqlValue[]);
  }

  insertRequestLogs(rows: readonly SqlValue[][]): void {
    if (rows.length === 0) return;
    for (const r of rows) checkWidth(r, REQUEST_LOG.length, 'request log');
    // IMMEDIATE takes the write lock up front, waiting up to busy_timeout for another writer.
    this.#logs.immediate(this.#prepared(), rows);
  }
}
