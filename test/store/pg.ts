// Test helper: a fresh, uniquely named Postgres schema per suite, or undefined (with a printed
// reason) when no Postgres is reachable, so suites can skip their Postgres half instead of failing.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serviceMissing } from '../helpers/services.js';

export const DEFAULT_TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const CONNECT_TIMEOUT_MS = 2000;

export function testPostgresUrl(): string {
  return process.env.TOLLGATE_TEST_POSTGRES_URL || DEFAULT_TEST_POSTGRES_URL;
}

/** The URL without its password, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A server that drops the connection later must not crash the test process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface PostgresSchema {
  url: string;
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/**
 * Creates `tg_test_<random>` at TOLLGATE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
 * `purpose` completes the skip message: "Postgres not reachable at …: skipping <purpose>".
 */
export async function freshPostgresSchema(purpose = 'the Postgres tests'): Promise<PostgresSchema | undefined> {
  const url = testPostgresUrl();
  const schema = `tg_test_${randomBytes(6).toString('hex')}`;
  try {
    await withClient(url, (c) => c.query(`create schema "${schema}"`));
  } catch (err) {
    // Node reports a refused dual-stack connect as an AggregateError with an empty message.
    const e = err as { message?: string; code?: string };
    const reason = e.message || e.code || String(err);
    serviceMissing('Postgres', `not reachable at ${displayUrl(url)}: ${reason}`, purpose);
    return undefined;
  }
  return {
    url,
    schema,
    drop: () => withClient(url, (c) => c.query(`drop schema if exists "${schema}" cascade`)).then(() => undefined),
  };
}
