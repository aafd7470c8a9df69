// Opens a better-sqlite3 connection with the settings every connection to Tollgate's database
// file uses. Apart from dialect.ts so the store worker can open one without loading Kysely.
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { SQLITE_MEMORY } from './storage-url.js';

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * SQLite's own message ("unable to open database file") names neither the file nor the fix;
 * the operator needs both. The code is kept, so callers still tell an outage from a bug.
 */
function openFailure(path: string, err: unknown): Error {
  const e = err as Error & { code?: string };
  let hint = '';
  if (isDirectory(path)) hint = '; that is a directory: storage.url names a file, such as sqlite://./data/tollgate.db';
  else if (e.code === 'SQLITE_CANTOPEN' || e.code?.startsWith('SQLITE_READONLY')) {
    hint = `; the file and its directory (${dirname(path)}) must be writable by this user, or set storage.url to another place`;
  }
  return Object.assign(new Error(`cannot open the SQLite database ${path}: ${e.message}${hint}`, { cause: err }), { code: e.code });
}

export function openSqliteConnection(path: string): Database {
  if (path !== SQLITE_MEMORY) mkdirSync(dirname(path), { recursive: true });
  let raw: Database;
  try {
    raw = new BetterSqlite3(path);
  } catch (err) {
    throw openFailure(path, err);
  }
  try {
    if (path !== SQLITE_MEMORY) raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    // Other processes (the CLI next to a running server) may hold the write lock for a moment.
    raw.pragma('busy_timeout = 5000');
    // Postgres enforces the api_keys -> orgs reference, so SQLite must too for identical behaviour.
    raw.pragma('foreign_keys = ON');
  } catch (err) {
    raw.close();
    throw openFailure(path, err);
  }
  return raw;
}
