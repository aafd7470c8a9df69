// Opens a better-sqlite3 connection with the settings every connection to Tollgate's database
// file uses. Apart from dialect.ts so the store worker can open one without loading Kysely.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { SQLITE_MEMORY } from './storage-url.js';

export function openSqliteConnection(path: string): Database {
  if (path !== SQLITE_MEMORY) mkdirSync(dirname(path), { recursive: true });
  const raw = new BetterSqlite3(path);
  try {
    if (path !== SQLITE_MEMORY) raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    // Other processes (the CLI next to a running server) may hold the write lock for a moment.
    raw.pragma('busy_timeout = 5000');
    // Postgres enforces the api_keys -> orgs reference, so SQLite must too for identical behaviour.
    raw.pragma('foreign_keys = ON');
  } catch (err) {
    raw.close();
    throw err;
  }
  return raw;
}
