// Errors the store raises on bad input, and a portable test for unique-key conflicts so callers
// can turn a duplicate name or hash into a 409 without knowing which database is underneath.

/** A pagination cursor that this store did not issue (or that was altered). */
export class InvalidCursorError extends RangeError {
  readonly param = 'cursor';
  constructor() {
    super('The cursor is not valid: pass back the next_cursor of a previous page unchanged.');
    this.name = 'InvalidCursorError';
  }
}

/** True when a write failed because a unique index or primary key already holds the value. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  // 23505 is Postgres' unique_violation; better-sqlite3 reports the extended SQLite code.
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
