// SPEC §6 / ARCHITECTURE "write-behind queue … with a unique request id (no duplicates on
// retry)": usage and charge rows survive a database outage — retried until the store takes
// them, none lost, none duplicated, and balance == sum(ledger) afterwards.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FinishedRequest, UsageWriter } from '../../src/billing/usage-writer.js';
import { validateConfig } from '../../src/config/load.js';
import { type RunningGateway, startGateway } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { ADMIN_TOKEN, chat, MOCK_MODELS } from '../helpers/gateway.js';
import { allLedger, allUsage, call, NO_SHEDDING, sumMicros } from '../helpers/money.js';
import { freshPostgresSchema, type PostgresSchema } from '../store/pg.js';

type Mode = 'up' | 'down' | 'ack-lost';

/**
 * Failure injection around a real store: while "down" writeBatch fails without writing; in
 * "ack-lost" it writes and then fails, like a connection that drops before the commit is
 * acknowledged. Every other call, and every write while "up", goes to the real database.
 */
function flakyStore(real: Store) {
  const state = { mode: 'up' as Mode, calls: 0, failures: 0, written: 0 };
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const failed = () => {
    state.failures++;
    for (const w of waiters.splice(0)) {
      if (state.failures >= w.n) w.resolve();
      else waiters.push(w);
    }
  };
  /** Resolves once writeBatch has failed `n` times in all. */
  const failures = (n: number) => (state.failures >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  const store = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop !== 'writeBatch') {
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return async (batch: Parameters<Store['writeBatch']>[0]) => {
        state.calls++;
        if (state.mode === 'down') {
          failed();
          throw new Error('connect ECONNREFUSED 127.0.0.1:5432 (injected)');
        }
        await target.writeBatch(batch);
        if (state.mode === 'ack-lost') {
          failed();
          throw new Error('Connection terminated unexpectedly (injected, after commit)');
        }
        state.written += batch.usage.length;
      };
    },
  });
  return { store, state, failures };
}

const silent = () => createLogger({ level: 'silent' });

function finished(orgId: string, keyId: string, i: number, cost: number): FinishedRequest {
  const now = Date.now();
  const request_id = `req_outage_${i}_${randomUUID()}`;
  return {
    usage: {
      request_id,
      org_id: orgId,
      key_id: keyId,
      model: 'mock-chat',
      requested_model: 'mock-chat',
      surface: 'chat',
      cache_read_tokens: 0,
      cache_write_tokens: 0,
      reasoning_tokens: 0,
      provider: 'mock',
      prompt_tokens: 10 + i,
      completion_tokens: i,
      cost_micros: cost,
      cached: null,
      status: 200,
      error_code: null,
      latency_ms: 5,
      stream: i % 2 === 0,
      estimated: false,
      fallback: null,
      attempts: 1,
      created_at: now,
    },
    charge: cost > 0 ? { id: `chg_${randomUUID()}`, org_id: orgId, key_id: keyId, kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at: now } : undefined,
  };
}

async function seedOrg(store: Store, orgId: string, credit: number): Promise<void> {
  const now = Date.now();
  await store.insertOrg({ id: orgId, name: orgId, disabled: false, allowed_models: null, spend_cap_micros: null, fallbacks: {}, rpm: null, tpm: null, settings: {}, created_at: now, updated_at: now });
  await store.grantCredit({ id: `grt_${randomUUID()}`, org_id: orgId, key_id: null, kind: 'grant', amount_micros: credit, note: 'seed', request_id: null, idempotency_key: `seed:${orgId}`, created_at: now });
}

/** Resolves the first time the writer reports an empty queue after `armed()` was called. */
function queueWatcher() {
  let waiter: (() => void) | undefined;
  return {
    onQueueLength(n: number) {
      if (n === 0 && waiter) {
        const w = waiter;
        waiter = undefined;
        w();
      }
    },
    emptied(timeoutMs = 10_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the queue did not empty in time')), timeoutMs);
        waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}

describe('SPEC §6 money: usage and charge rows survive a database outage', () => {
  let dir: string;
  let real: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-outage-'));
    real = await openStore(`sqlite://${join(dir, 'tollgate.db')}`);
    await real.migrate();
  });
  afterAll(async () => {
    await real?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('retries failed writes on its own until the store is back, losing and duplicating nothing', async () => {
    const orgId = `org_${randomUUID()}`;
    await seedOrg(real, orgId, 1_000_000);
    const { store, state, failures } = flakyStore(real);
    const watch = queueWatcher();
    const writer = new UsageWriter(store, silent(), { flushIntervalMs: 5, batchSize: 7, maxQueue: 10_000, onQueueLength: (n) => watch.onQueueLength(n) });
    const items: FinishedRequest[] = [];
    let costs = 0;
    state.mode = 'down';
    for (let i = 0; i < 60; i++) {
      const item = finished(orgId, 'key_a', i, 3 * i);
      costs += 3 * i;
      items.push(item);
      writer.enqueue(item);
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    // Let the writer hit the outage on its own timer.
    await failures(1);
    expect(writer.pending).toBe(60);
    expect((await allUsage(real, orgId)).length).toBe(0);
    // A commit whose acknowledgement is lost: the retry must not write the batch twice.
    state.mode = 'ack-lost';
    await failures(state.failures + 1);
    const emptied = watch.emptied();
    state.mode = 'up';
    await emptied;
    expect(writer.pending).toBe(0);
    const usage = await allUsage(real, orgId);
    expect(usage).toHaveLength(60);
    expect(new Set(usage.map((u) => u.request_id))).toEqual(new Set(items.map((i) => i.usage.request_id)));
    const ledger = await allLedger(real, orgId);
    const charges = ledger.filter((l) => l.kind === 'charge');
    expect(charges).toHaveLength(59);
    expect(new Set(charges.map((c) => c.request_id)).size).toBe(59);
    expect(sumMicros(ledger)).toBe(1_000_000 - costs);
    expect((await real.balances()).get(orgId)).toBe(1_000_000 - costs);
    // Roll-ups counted each request once as well.
    const agg = await real.aggregateUsage({ org_id: orgId, group_by: ['day'] });
    expect(agg.reduce((s, a) => s + a.requests, 0)).toBe(60);
    expect(agg.reduce((s, a) => s + a.cost_micros, 0)).toBe(costs);
  });

  it('keeps rows it could not write by the drain deadline, and writes them all once the store is back', async () => {
    const orgId = `org_${randomUUID()}`;
    await seedOrg(real, orgId, 500_000);
    const { store, state } = flakyStore(real);
    const writer = new UsageWriter(store, silent(), { flushIntervalMs: 5, batchSize: 4, maxQueue: 10_000 });
    state.mode = 'down';
    for (let i = 0; i < 10; i++) writer.enqueue(finished(orgId, 'key_b', i, 100));
    const left = await writer.drain(300);
    expect(left).toBe(10);
    expect(state.failures).toBeGreaterThan(0);
    expect(await allUsage(real, orgId)).toHaveLength(0);
    // Enqueued during shutdown: flushed at once, still retried.
    writer.enqueue(finished(orgId, 'key_b', 10, 100));
    state.mode = 'up';
    expect(await writer.flushAll(10_000)).toBe(0);
    const usage = await allUsage(real, orgId);
    expect(usage).toHaveLength(11);
    expect(new Set(usage.map((u) => u.request_id)).size).toBe(11);
    expect((await real.balances()).get(orgId)).toBe(500_000 - 11 * 100);
  });
});

describe('SPEC §6 money: a Postgres outage while requests flow (terminated connections)', () => {
  let schema: PostgresSchema | undefined;
  let running: RunningGateway | undefined;
  let admin: pg.Client | undefined;
  const logs: string[] = [];
  const appName = `tg_outage_${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    schema = await freshPostgresSchema('the Postgres outage test');
    if (!schema) return;
    const config = validateConfig(
      {
        server: { host: '127.0.0.1', port: 0, admin_token: ADMIN_TOKEN, shutdown_grace_s: 2, ...NO_SHEDDING },
        // application_name lets the test terminate this gateway's connections and no one else's.
        storage: { url: `${schema.url}?application_name=${appName}` },
        providers: [{ id: 'mock', type: 'mock' }],
        models: MOCK_MODELS,
        limits: { key_rpm: null },
        billing: { flush_interval_ms: 10, flush_batch_size: 5 },
      },
      {},
    );
    const destination = new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    });
    running = await startGateway({ config, logger: createLogger({ level: 'info', destination }), storeSchema: schema.schema });
    admin = new pg.Client({ connectionString: schema.url });
    admin.on('error', () => undefined);
    await admin.connect();
  });

  afterAll(async () => {
    await running?.shutdown();
    await admin?.end().catch(() => undefined);
    await schema?.drop();
  });

  async function terminateGatewayConnections(): Promise<number> {
    const r = await admin!.query('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()', [appName]);
    return r.rows.filter((x: { ok: boolean }) => x.ok).length;
  }

  it('retries the rows whose writes were cut, writing each request exactly once', async (ctx) => {
    if (!schema || !running || !admin) {
      ctx.skip();
      return;
    }
    const gw = running.gateway;
    const url = running.url;
    const org = await call<{ org: { id: string }; management_key: string }>(url, ADMIN_TOKEN, '/admin/orgs', { body: { name: 'outage-org', credits_usd: 5 } });
    const orgId = org.body.org.id;
    const key = (await call<{ key: string }>(url, org.body.management_key, '/api/keys', { body: {} })).body.key;
    const ids: string[] = [];
    const wave = async (n: number, tag: string) => {
      const res = await Promise.all(Array.from({ length: n }, (_, i) => chat(url, key, { model: 'mock-chat', messages: [{ role: 'user', content: `${tag} ${i}` }] }, { 'x-mock-words': String(5 + i) })));
      for (const r of res) {
        expect(r.status).toBe(200);
        ids.push(r.headers.get('x-request-id')!);
        await r.arrayBuffer();
      }
    };

    await wave(10, 'before');
    expect(await gw.usage.flushAll(10_000)).toBe(0);

    // Hold a lock on the usage table so the next flush is mid-query when its connection is killed.
    const locker = new pg.Client({ connectionString: schema.url });
    locker.on('error', () => undefined);
    await locker.connect();
    let killed = 0;
    try {
      await locker.query('begin');
      await locker.query(`lock table "${schema.schema}"."usage" in access exclusive mode`);
      await wave(10, 'during');
      // Wait until the gateway's flush is blocked on the lock, then cut its connections.
      for (let i = 0; i < 200; i++) {
        const r = await admin.query("select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'", [appName]);
        if (r.rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      killed += await terminateGatewayConnections();
    } finally {
      await locker.query('rollback').catch(() => undefined);
      await locker.end().catch(() => undefined);
    }
    expect(killed).toBeGreaterThan(0);

    // More traffic while connections keep being cut.
    for (let round = 0; round < 3; round++) {
      const flowing = wave(8, `after-${round}`);
      killed += await terminateGatewayConnections();
      await flowing;
    }

    expect(await gw.usage.flushAll(20_000)).toBe(0);
    expect(logs.join('')).toMatch(/usage flush failed; will retry/);
    const usage = await allUsage(gw.store, orgId);
    expect(usage).toHaveLength(ids.length);
    expect(new Set(usage.map((u) => u.request_id))).toEqual(new Set(ids));
    const ledger = await allLedger(gw.store, orgId);
    const charges = ledger.filter((l) => l.kind === 'charge');
    expect(charges).toHaveLength(ids.length);
    expect(new Set(charges.map((c) => c.request_id)).size).toBe(ids.length);
    const stored = (await gw.store.balances()).get(orgId);
    expect(stored).toBe(sumMicros(ledger));
    expect((await gw.accounts.snapshot(orgId)).balance).toBe(stored);
    expect(usage.reduce((s, u) => s + u.cost_micros, 0)).toBe(5_000_000 - stored!);
  });
});
