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

/** Network and server-state errors meaning "the database cannot be reached right now", not "this input is wrong". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR']);
// pg raises these without a code when a pooled connection dies or a connect times out.
const UNAVAILABLE_MESSAGES = /connection terminated|timeout exceeded when trying to connect|connection timeout|not queryable|the database connection is not open|terminating connection/i;

/**
 * True when a store call failed because the database is unreachable or refusing work for a
 * while (connection refused or cut, Postgres shutting down or out of connections, SQLite locked
 * or out of disk): the caller may retry later. Postgres SQLSTATE classes 08 (connection
 * exception) and 57P (operator intervention) and 53300 (too many connections) count too.
 */
export function isStoreUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string') {
    if (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('SQLITE_IOERR') || e.code.startsWith('SQLITE_BUSY')) return true;
    if (/^(08...|57P0[1-3]|53300)$/.test(e.code)) return true;
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
  if (Array.isArray(e.errors) && e.errors.some((x) => isStoreUnavailable(x, depth + 1))) return true;
  return e.cause !== undefined && isStoreUnavailable(e.cause, depth + 1);
}

/**
 * True when the database refused a value the client sent, not because it is unreachable:
 * Postgres data exceptions (SQLSTATE class 22: text with a NUL byte, numbers or times out of
 * range, bad encodings) and SQLite's "too big" and datatype mismatches.
 */
export function isRefusedValue(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return /^22[0-9A-Z]{3}$/.test(code) || code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH' || code === 'ERR_OUT_OF_RANGE';
}
