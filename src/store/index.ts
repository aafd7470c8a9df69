// Owns durable state: the Store contract, its Kysely implementation for SQLite and Postgres, and migrations.
// Must not hold request-path caches or business rules (pricing, limits): callers decide, the store records.
import { openDatabase, parseStorageUrl } from './dialect.js';
import { KyselyStore } from './kysely-store.js';
import type { Store } from './types.js';

export type * from './types.js';
export { InvalidCursorError, isStoreUnavailable, isUniqueViolation } from './errors.js';
export { parseStorageUrl } from './dialect.js';

export interface OpenStoreOptions {
  /** Postgres only: keep every table in this schema (created by migrate() when missing). */
  schema?: string;
  /** Postgres only: told about errors on idle pooled connections, which would otherwise be dropped. */
  onError?: (err: Error) => void;
}

/**
 * `sqlite://./data/tollgate.db` (relative to the working directory), `sqlite:///abs/path`,
 * `sqlite://:memory:`, or a `postgres://` / `postgresql://` URL. Call migrate() before use.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  return new KyselyStore(openDatabase(parseStorageUrl(url), opts));
}
