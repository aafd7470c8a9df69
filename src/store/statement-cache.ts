// Reuses better-sqlite3 prepared statements across queries with the same SQL text; Kysely's
// SQLite driver would otherwise re-prepare every statement, which dominates small hot queries.
import type { Database as BetterSqliteDatabase, Statement } from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

const MAX_STATEMENTS = 128;

export class StatementCache implements SqliteDatabase {
  readonly #raw: BetterSqliteDatabase;
  readonly #statements = new Map<string, Statement>();

  constructor(raw: BetterSqliteDatabase) {
    this.#raw = raw;
  }

  prepare(sql: string): SqliteStatement {
    let stmt = this.#statements.get(sql);
    if (stmt) {
      // Re-insert so the Map's insertion order doubles as least-recently-used order.
      this.#statements.delete(sql);
    } else {
      stmt = this.#raw.prepare(sql);
      if (this.#statements.size >= MAX_STATEMENTS) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
    }
    this.#statements.set(sql, stmt);
    return stmt as unknown as SqliteStatement;
  }

  close(): void {
    this.#statements.clear();
    this.#raw.close();
  }
}
