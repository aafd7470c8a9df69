// Everything that differs between SQLite and Postgres lives here: how a URL becomes a
// connection, how booleans are written, and how numeric results come back as JS numbers.
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';
import type { Database, DbBool } from './schema.js';
import { openSqliteConnection } from './sqlite-connection.js';
import { StatementCache } from './statement-cache.js';
import type { StorageTarget } from './storage-url.js';

export { parseStorageUrl, type StorageTarget } from './storage-url.js';

export type DialectName = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  dialect: DialectName;
  db: Kysely<Database>;
  /** Postgres only: the raw pool, used for the migration advisory lock. */
  pool?: pg.Pool;
  /** Postgres only: the schema every table lives in (search_path of each connection). */
  schema?: string;
  /**
   * Closes the underlying connection or pool if Kysely has not: Kysely only tears down a
   * driver that has run a query, so a store closed before first use would leak its handle.
   */
  release(): Promise<void>;
}

export interface OpenOptions {
  schema?: string;
  /** Called when an idle pooled connection fails (e.g. the server restarted); defaults to ignoring it. */
  onError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function openDatabase(target: StorageTarget, opts: OpenOptions = {}): OpenedDatabase {
  if (target.dialect === 'sqlite') {
    if (opts.schema !== undefined) throw new Error('the schema option applies to Postgres only');
    return openSqlite(target.path);
  }
  return openPostgres(target.url, opts);
}

function openSqlite(path: string): OpenedDatabase {
  const raw = openSqliteConnection(path);
  const cache = new StatementCache(raw);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cache }) });
  return {
    dialect: 'sqlite',
    db,
    release: async () => {
      if (raw.open) cache.close();
    },
  };
}

/** The Postgres driver is loaded only when a postgres:// URL is used (it costs memory otherwise). */
function loadPg(): typeof pg {
  return createRequire(import.meta.url)('pg') as typeof pg;
}

/** Postgres int8 and numeric (what sum() returns) as JS numbers: micro-USD and epoch ms fit in 2^53. */
function numericTypes(driver: typeof pg): pg.CustomTypesConfig {
  return {
    getTypeParser: ((oid: number, format?: string) => {
      if (oid === 20 || oid === 1700) return (value: string) => Number(value);
      return driver.types.getTypeParser(oid, format as 'text');
    }) as pg.CustomTypesConfig['getTypeParser'],
  };
}

function openPostgres(url: string, opts: OpenOptions): OpenedDatabase {
  const driver = loadPg();
  const schema = opts.schema;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new Error(`schema "${schema}" must be a lowercase SQL identifier (letters, digits, _)`);
  }
  const pool = new driver.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    types: numericTypes(driver),
    // A startup parameter costs no extra round trip, unlike a SET after each connect.
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
  });
  pool.on('error', (err) => opts.onError?.(err));
  // pg-pool listens for errors only on idle clients. A checked-out client whose connection is
  // cut between statements (server restart, pg_terminate_backend mid-transaction) would emit
  // an unhandled 'error' and crash the process; its pending query already rejects, so the
  // caller (e.g. the usage writer) sees the failure and retries.
  pool.on('connect', (client) => {
    client.on('error', (err) => opts.onError?.(err));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    pool,
    schema,
    release: async () => {
      if (!pool.ended) await pool.end();
    },
  };
}

/** Write-side boolean: better-sqlite3 refuses to bind JS booleans. */
export function toDbBool(dialect: DialectName, value: boolean): DbBool {
  return dialect === 'sqlite' ? (value ? 1 : 0) : value;
}

export function fromDbBool(value: DbBool): boolean {
  return value === true || value === 1;
}
