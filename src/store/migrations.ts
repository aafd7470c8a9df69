// Schema history in code, applied in order by Kysely's Migrator. Never edit a shipped
// migration: add a new one, because databases in the field have already run the old ones.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import type { DialectName, OpenedDatabase } from './dialect.js';
import { LATENCY_BOUNDS_MS } from './schema.js';

type AnyDb = Kysely<unknown>;

function initialSchema(dialect: DialectName): Migration {
  const bool = dialect === 'postgres' ? 'boolean' : 'integer';
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('orgs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('disabled', bool, (c) => c.notNull())
        .addColumn('allowed_models', 'text')
        .addColumn('spend_cap_micros', 'bigint')
        .addColumn('fallbacks', 'text', (c) => c.notNull())
        .addColumn('rpm', 'bigint')
        .addColumn('tpm', 'bigint')
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('disabled', bool, (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('budget_micros', 'bigint')
        .addColumn('rpm', 'bigint')
        .addColumn('tpm', 'bigint')
        .addColumn('allowed_models', 'text')
        .addColumn('fallbacks', 'text', (c) => c.notNull())
        .addColumn('cache', 'text')
        .addColumn('rotated_from', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('api_keys_org_created').on('api_keys').columns(['org_id', 'created_at']).execute();

      // No foreign keys on the append-only tables: they sit on the write-behind hot path.
      await db.schema
        .createTable('ledger')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('amount_micros', 'bigint', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('request_id', 'text')
        .addColumn('idempotency_key', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      // NULLs are distinct in unique indexes on both dialects, so charges (no idempotency key)
      // and grants (no request id) do not collide with each other.
      await db.schema
        .createIndex('ledger_org_idempotency')
        .on('ledger')
        .columns(['org_id', 'idempotency_key'])
        .unique()
        .execute();
      await db.schema.createIndex('ledger_request').on('ledger').column('request_id').unique().execute();
      await db.schema.createIndex('ledger_org_created').on('ledger').columns(['org_id', 'created_at']).execute();

      await db.schema
        .createTable('usage')
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('requested_model', 'text', (c) => c.notNull())
        .addColumn('provider', 'text')
        .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
        .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cost_micros', 'bigint', (c) => c.notNull())
        .addColumn('cached', 'text')
        .addColumn('status', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('latency_ms', 'bigint', (c) => c.notNull())
        .addColumn('stream', bool, (c) => c.notNull())
        .addColumn('estimated', bool, (c) => c.notNull())
        .addColumn('fallback', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('usage_org_created').on('usage').columns(['org_id', 'created_at']).execute();
      await db.schema
        .createIndex('usage_org_key_created')
        .on('usage')
        .columns(['org_id', 'key_id', 'created_at'])
        .execute();
      await db.schema
        .createIndex('usage_org_model_created')
        .on('usage')
        .columns(['org_id', 'model', 'created_at'])
        .execute();
      // pruneUsage deletes by age across all orgs.
      await db.schema.createIndex('usage_created').on('usage').column('created_at').execute();

      for (const table of ['usage_rollup_hour', 'usage_rollup_day']) {
        await db.schema
          .createTable(table)
          .addColumn('org_id', 'text', (c) => c.notNull())
          .addColumn('bucket', 'bigint', (c) => c.notNull())
          .addColumn('model', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('requests', 'bigint', (c) => c.notNull())
          .addColumn('errors', 'bigint', (c) => c.notNull())
          .addColumn('cache_hits', 'bigint', (c) => c.notNull())
          .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
          .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
          .addColumn('cost_micros', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint(`${table}_pk`, ['org_id', 'bucket', 'model', 'key_id'])
          .execute();
      }

      await db.schema
        .createTable('alert_settings')
        .addColumn('org_id', 'text', (c) => c.primaryKey())
        .addColumn('settings', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/** Usage rows name the inbound surface and carry the token classes priced apart (cache reads and writes, reasoning). */
function usageTokenClasses(): Migration {
  return {
    async up(db: AnyDb): Promise<void> {
      await db.schema.alterTable('usage').addColumn('surface', 'text', (c) => c.notNull().defaultTo('chat')).execute();
      for (const col of ['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens']) {
        await db.schema.alterTable('usage').addColumn(col, 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      }
    },
  };
}

/** Responses the Responses API stored (`store: true`), per org, until they expire. */
function storedResponses(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('stored_responses')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('previous_response_id', 'text')
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('input_items', 'text', (c) => c.notNull())
        .addColumn('context', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      // Pruning deletes by expiry across all orgs.
      await db.schema.createIndex('stored_responses_expires').on('stored_responses').column('expires_at').execute();
    },
  };
}

/** A rotated key's replacement carries the spend before it, so rotating never resets a budget. */
function keySpendOffset(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('api_keys').addColumn('spend_offset_micros', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
    },
  };
}

/** Idempotency records of finished requests, for a gateway without Redis to replay after a restart. */
function idempotencyRecords(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('idempotency_records')
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('idem_key', 'text', (c) => c.notNull())
        .addColumn('body_hash', 'text', (c) => c.notNull())
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_records_pk', ['key_id', 'idem_key'])
        .execute();
      await db.schema.createIndex('idempotency_records_expires').on('idempotency_records').column('expires_at').execute();
    },
  };
}

/** A change sequence other processes poll, and leases held in the store (when there is no Redis). */
function changeFeed(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('changes')
        .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('ref', 'text', (c) => c.notNull())
        .addColumn('org_id', 'text')
        .addColumn('amount_micros', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/**
 * The operator's roll-up: every org's traffic per hour, model and provider, with summed latency
 * and a latency histogram, filled from the usage rows already written.
 */
function operatorRollup(): Migration {
  return {
    async up(db: AnyDb) {
      let t = db.schema
        .createTable('usage_rollup_ops_hour')
        .addColumn('bucket', 'bigint', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('requests', 'bigint', (c) => c.notNull())
        .addColumn('errors', 'bigint', (c) => c.notNull())
        .addColumn('cache_hits', 'bigint', (c) => c.notNull())
        .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
        .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
        .addColumn('cost_micros', 'bigint', (c) => c.notNull())
        .addColumn('latency_ms_sum', 'bigint', (c) => c.notNull());
      for (const b of LATENCY_BOUNDS_MS) t = t.addColumn(`latency_le_${b}`, 'bigint', (c) => c.notNull());
      await t.addPrimaryKeyConstraint('usage_rollup_ops_hour_pk', ['bucket', 'model', 'provider']).execute();
      const hist = LATENCY_BOUNDS_MS.map((b) => `sum(case when latency_ms <= ${b} then 1 else 0 end)`).join(', ');
      await sql
        .raw(
          `insert into usage_rollup_ops_hour (bucket, model, provider, requests, errors, cache_hits, prompt_tokens, completion_tokens, cost_micros, latency_ms_sum, ${LATENCY_BOUNDS_MS.map((b) => `latency_le_${b}`).join(', ')})
           select (created_at / 3600000) * 3600000, model, coalesce(provider, ''), count(*),
             sum(case when status >= 400 then 1 else 0 end), sum(case when cached is not null then 1 else 0 end),
             sum(prompt_tokens), sum(completion_tokens), sum(cost_micros), sum(latency_ms), ${hist}
           from usage group by (created_at / 3600000) * 3600000, model, coalesce(provider, '')`,
        )
        .execute(db);
    },
  };
}

/** The audit trail of management actions: append-only, read newest first by org or across orgs. */
function auditLog(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text')
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .addColumn('source_ip', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_org_created').on('audit_log').columns(['org_id', 'created_at']).execute();
      await db.schema.createIndex('audit_log_created').on('audit_log').column('created_at').execute();
    },
  };
}

/** A cap on requests in flight at once, per key and per org (null: the configured default). */
function maxConcurrency(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable('api_keys').addColumn('max_concurrency', 'bigint').execute();
      await db.schema.alterTable('orgs').addColumn('max_concurrency', 'bigint').execute();
    },
  };
}

/** Request and response bodies of the orgs that turned request logs on, until they expire. */
function requestLogs(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable('request_logs')
        .addColumn('request_id', 'text', (c) => c.primaryKey())
        .addColumn('org_id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('request', 'text', (c) => c.notNull())
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('truncated', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('request_logs_expires').on('request_logs').column('expires_at').execute();
    },
  };
}

/**
 * The ledger's (org, idempotency key) index holds only the rows that have a key (grants): every
 * charge has none, and a unique index treats NULLs as distinct anyway, so it kept one useless
 * entry per request, inserted on the store's hot path. Lookups by key (`idempotency_key = ?`)
 * imply the condition, so both dialects still use the index for them.
 */
function ledgerKeyedGrants(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.dropIndex('ledger_org_idempotency').execute();
      await db.schema
        .createIndex('ledger_org_idempotency')
        .on('ledger')
        .columns(['org_id', 'idempotency_key'])
        .unique()
        .where(sql.ref('idempotency_key'), 'is not', null)
        .execute();
    },
  };
}

function provider(dialect: DialectName): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initialSchema(dialect),
        '0002_usage_token_classes': usageTokenClasses(),
        '0003_stored_responses': storedResponses(),
        '0004_change_feed': changeFeed(dialect),
        '0005_idempotency_records': idempotencyRecords(),
        '0006_key_spend_offset': keySpendOffset(),
        '0007_audit_log': auditLog(),
        '0008_max_concurrency': maxConcurrency(),
        '0010_operator_rollup': operatorRollup(),
        '0011_request_logs': requestLogs(),
        '0012_ledger_keyed_grants': ledgerKeyedGrants(),
      };
    },
  };
}

const MIGRATION_TABLE = 'tollgate_migration';
const MIGRATION_LOCK_TABLE = 'tollgate_migration_lock';
/** Advisory-lock class id ("Toll"); the object id is a hash of the schema name. */
const PG_LOCK_CLASS = 0x546f6c6c;

async function runMigrator(db: AnyDb, dialect: DialectName, migrationTableSchema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: provider(dialect),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    ...(migrationTableSchema !== undefined ? { migrationTableSchema } : {}),
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${String(error)}`);
}

const SQLITE_LOCK_WAIT_MS = 30_000;

/**
 * BEGIN IMMEDIATE takes SQLite's write lock up front, so a second migrator waits and then sees
 * the finished schema (Kysely's SQLite migrator takes no lock of its own). The wait is an async
 * poll, not busy_timeout: better-sqlite3 blocks the thread while busy, which would deadlock
 * against a lock holder in the same process.
 */
async function beginImmediate(db: AnyDb): Promise<void> {
  const deadline = Date.now() + SQLITE_LOCK_WAIT_MS;
  const saved = await sql<{ timeout: number }>`pragma busy_timeout`.execute(db);
  const timeout = Number(saved.rows[0]?.timeout ?? 5000);
  await sql`pragma busy_timeout = 0`.execute(db);
  try {
    for (;;) {
      try {
        await sql`begin immediate`.execute(db);
        return;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!code.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 40));
      }
    }
  } finally {
    await sql.raw(`pragma busy_timeout = ${timeout}`).execute(db);
  }
}

/** Bring the schema up to date; concurrent callers on the same database wait for each other. */
export async function migrate(opened: OpenedDatabase): Promise<void> {
  const db = opened.db as unknown as AnyDb;
  if (opened.dialect === 'sqlite') {
    await beginImmediate(db);
    try {
      await runMigrator(db, 'sqlite');
      await sql`commit`.execute(db);
    } catch (err) {
      await sql`rollback`.execute(db).catch(() => undefined);
      throw err;
    }
    return;
  }

  const pool = opened.pool;
  if (!pool) throw new Error('postgres store opened without a pool');
  // The lock is held on its own pooled connection while the migrator works on others.
  const client = await pool.connect();
  try {
    const schemaName = opened.schema;
    const lockName = schemaName ?? '';
    await client.query('select pg_advisory_lock($1, hashtext($2))', [PG_LOCK_CLASS, lockName]);
    try {
      let target = schemaName;
      if (target !== undefined) {
        await client.query(`create schema if not exists "${target}"`);
      } else {
        // Kysely's "does the table exist" check looks across every schema, so pin it to ours.
        const res = await client.query<{ s: string }>('select current_schema() as s');
        target = res.rows[0]?.s ?? 'public';
      }
      await runMigrator(db, 'postgres', target);
    } finally {
      await client.query('select pg_advisory_unlock($1, hashtext($2))', [PG_LOCK_CLASS, lockName]);
    }
  } finally {
    client.release();
  }
}
