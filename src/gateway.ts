// Everything one gateway instance is made of, built once from the config and passed down:
// no module-level state anywhere else.
import { createRequire } from 'node:module';
import { CreditAccounts, type CreditLedger } from './billing/accounts.js';
import { RedisCreditLedger } from './billing/redis-ledger.js';
import { ResilientLedger } from './billing/resilient-ledger.js';
import { UsageWriter, type UsageWriterOptions } from './billing/usage-writer.js';
import type { RowWrites } from './billing/spool/worker-sink.js';
import { AlertService } from './alerts/index.js';
import { RequestLogWriter } from './observability/request-log.js';
import { AuditTrail } from './audit/index.js';
import { createMemoryConcurrency, createRedisConcurrency, type ConcurrencyLimiter } from './limits/concurrency.js';
import { createResponseCache } from './cache/index.js';
import type { Config } from './config/schema.js';
import { Engine } from './core/engine.js';
import { MemoryIdempotency, StoreIdempotency } from './core/idempotency.js';
import { listAdmits } from './core/models.js';
import { RedisIdempotency } from './kv/idempotency.js';
import { Kv } from './kv/kv.js';
import { localFeed } from './kv/feed.js';
import { runUnderLease } from './kv/lease-job.js';
import { StoreChangeFollower } from './kv/store-feed.js';
import { createMemoryLimiter, createRedisLimiter, createResilientLimiter, type RateLimiter } from './limits/index.js';
import type { Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { type BreakerChange, BreakerSync } from './routing/breaker-sync.js';
import { ChannelTable } from './routing/channels.js';
import type { Telemetry } from './observability/otel.js';
import type { Store } from './store/types.js';
import { createResponsesSurface, type ResponsesStore, type ResponsesSurface } from './surfaces/responses/index.js';
import { TenantService } from './tenants/service.js';
import { type TenantChange, TenantSync } from './tenants/sync.js';
import { TenantView } from './tenants/view.js';

export interface Gateway {
  config: Config;
  log: Logger;
  store: Store;
  view: TenantView;
  accounts: CreditLedger;
  usage: UsageWriter;
  channels: ChannelTable;
  engine: Engine;
  /** the OpenAI Responses surface, with the stored responses it keeps */
  responses: ResponsesSurface;
  tenants: TenantService;
  alerts: AlertService;
  /** the audit trail of management actions */
  audit: AuditTrail;
  /** requests in flight per key and org (max_concurrency) */
  concurrency: ConcurrencyLimiter;
  /** request and response bodies of the orgs that keep them */
  requestLogs: RequestLogWriter;
  metrics: Metrics;
  /** OpenTelemetry export, only when configured (telemetry.otlp.endpoint or OTEL_EXPORTER_OTLP_ENDPOINT). */
  telemetry?: Telemetry;
  readiness(): Promise<Record<string, string>>;
  /** Stops background work and closes connections this gateway opened (not the store). */
  close(): Promise<void>;
  refreshGauges(): void;
}

const PACKAGE_VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** How often the store's change sequence is read: changes from other processes show within 2 s. */
const CHANGE_POLL_MS = 500;

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

function createLimiter(config: Config, kv: Kv | undefined, log: Logger): RateLimiter {
  if (!kv) return createMemoryLimiter();
  return createResilientLimiter(createRedisLimiter(kv.redis, config.redis.key_prefix), {
    mode: config.redis.on_unavailable === 'local' ? 'local' : 'fail_closed',
    local: createMemoryLimiter(),
    onError: (err) => log.warn({ err }, 'redis limiter unavailable'),
  });
}

/** Totals from the durable ledger: org balance, org spend, and each of its keys' spend. */
async function storeTotals(store: Store, view: TenantView): Promise<{ balances: Map<string, number>; keySpends: Map<string, number>; orgSpends: Map<string, number> }> {
  const [balances, keySpends] = await Promise.all([store.balances(), store.keySpends()]);
  const orgSpends = new Map<string, number>();
  for (const [keyId, spend] of keySpends) {
    const orgId = view.key(keyId)?.org_id ?? (await store.getKey(keyId))?.org_id;
    if (orgId) orgSpends.set(orgId, (orgSpends.get(orgId) ?? 0) + spend);
  }
  return { balances, keySpends, orgSpends };
}

interface SharedCredit {
  accounts: CreditLedger;
  /** Stops the heartbeat-driven repairs and the reconciler. */
  stop(): Promise<void>;
}

async function createLedger(config: Config, kv: Kv | undefined, store: Store, view: TenantView, log: Logger, unflushed: () => number): Promise<SharedCredit> {
  if (!kv) {
    const accounts = new CreditAccounts();
    const t = await storeTotals(store, view);
    accounts.load(t.balances, t.keySpends, t.orgSpends);
    return { accounts: accounts.ledger, stop: async () => {} };
  }
  const loadOrg = async (orgId: string) => {
    const t = await storeTotals(store, view);
    const keySpends = new Map<string, number>();
    for (const k of await store.listKeys(orgId)) keySpends.set(k.id, t.keySpends.get(k.id) ?? 0);
    return { balance: t.balances.get(orgId) ?? 0, orgSpend: t.orgSpends.get(orgId) ?? 0, keySpends };
  };
  const loadAll = async () => {
    const t = await storeTotals(store, view);
    const keyOrgs = new Map<string, string>();
    for (const orgId of t.balances.keys()) for (const k of view.keysOf(orgId)) keyOrgs.set(k.id, orgId);
    return { ...t, keyOrgs };
  };
  const ledger = new RedisCreditLedger(kv.redis, {
    prefix: config.redis.key_prefix,
    instance: kv.instance,
    loadOrg,
    loadAll,
    unflushed,
    onError: (err, what) => log.debug({ err }, `${what} failed`),
  });
  await ledger.start().catch((err) => log.warn({ err }, 'redis unreachable at start; budgets follow redis.on_unavailable until it is back'));
  // Re-derives Redis' credit totals from the durable ledger, on one instance at a time.
  const reconciler = runUnderLease(
    kv.lease('credit-reconciler', 5_000),
    1_000,
    async (tick) => {
      const reset = await ledger.reconcile(tick % 10 === 0);
      if (reset > 0) log.debug({ orgs: reset }, 'credit totals re-derived from the ledger');
    },
    (err) => log.debug({ err }, 'credit reconciler pass failed'),
  );
  return {
    accounts: new ResilientLedger(ledger, config.redis.on_unavailable === 'local' ? 'local' : 'fail_closed', loadOrg, log),
    stop: () => reconciler.stop(),
  };
}

/** Optional spool and store worker for usage rows (the server has them; the CLI does not). */
export type GatewayDurability = Pick<UsageWriterOptions, 'spool' | 'sink'> & {
  /** Where stored responses and request logs are written when not on this thread (the SQLite store worker). */
  rowWrites?: RowWrites;
  /** charges of streams a killed process never finished, replayed into the store at start */
  interrupted?: ReadonlyArray<{ org_id: string; key_id: string | null; amount_micros: number }>;
};

export async function buildGateway(config: Config, store: Store, log: Logger, durability: GatewayDurability = {}): Promise<Gateway> {
  const metrics = createMetrics();
  const view = new TenantView();
  // Read before the view is loaded, so a change made while it loads is still followed.
  const changesSeen = await store.lastChangeSeq();
  await view.load(store);
  // The only Redis connections this gateway opens: one for commands, one subscriber.
  const kv = config.redis.url ? new Kv({ url: config.redis.url, prefix: config.redis.key_prefix, onError: (err) => log.debug({ err }, 'redis connection error') }) : undefined;
  if (kv) await kv.ready(2000);
  const usage = new UsageWriter(store, log, {
    flushIntervalMs: config.billing.flush_interval_ms,
    batchSize: config.billing.flush_batch_size,
    maxQueue: config.billing.max_queue,
    onQueueLength: (n) => metrics.usageQueue.set(n),
    spool: durability.spool,
    sink: durability.sink,
  });
  // Loaded only when configured: with telemetry off, nothing of it is imported or called.
  const otlp = config.telemetry.otlp;
  const telemetry = otlp.endpoint
    ? new (await import('./observability/otel.js')).Telemetry(
        { endpoint: otlp.endpoint, headers: otlp.headers, serviceName: otlp.service_name, intervalMs: otlp.interval_ms, version: PACKAGE_VERSION },
        log,
      )
    : undefined;
  if (telemetry) {
    // Each finished request's usage record gives its trace the models, tokens, cost and status.
    const enqueue = usage.enqueue.bind(usage);
    usage.enqueue = (item, deferSpool) => {
      enqueue(item, deferSpool);
      telemetry.usage(item.usage);
    };
  }
  const credit = await createLedger(config, kv, store, view, log, () => usage.pending);
  const accounts = credit.accounts;
  // A local balance is read from the store, which has them already; a shared one never saw them.
  if (kv) {
    for (const c of durability.interrupted ?? []) {
      if (c.key_id) await accounts.charge(c.org_id, c.key_id, -c.amount_micros).catch((err) => log.warn({ err }, 'applying an interrupted stream charge to the shared balance failed; the reconciler corrects it'));
    }
  }
  const alertRedis = kv?.redis;
  const alertPrefix = `${config.redis.key_prefix}alert:`;
  const alerts = new AlertService({
    store,
    log,
    config: config.alerts,
    retryDelaysMs: config.alerts.retry_delays_ms,
    shared: alertRedis && {
      async swap(id, active) {
        const prev = (await alertRedis.call('SET', alertPrefix + id, active ? '1' : '0', 'EX', 30 * 86400, 'GET')) as string | null;
        return prev === null ? undefined : prev === '1';
      },
    },
  });
  await alerts.load(view.allOrgs().map((o) => o.id));
  let breakerSync: BreakerSync | undefined;
  const channels = new ChannelTable(config, (model, channel, state) => {
    breakerSync?.publish(channel.id, state);
    metrics.breakerState.set({ model, channel: channel.id }, STATE_VALUE[state]);
    log.warn({ model, channel: channel.id, state }, 'channel circuit state changed');
    // A half-open probe has not proven anything yet: recovery is announced when it closes.
    if (state === 'half-open') return;
    const healthy = channels.runtimeOf(model)?.channels.some((c) => c.breaker.state === 'closed') ?? false;
    const announce = !breakerSync?.applyingRemote;
    for (const org of view.allOrgs()) {
      if (org.allowed_models && !listAdmits(org.allowed_models, model)) continue;
      alerts.transition(org.id, model, 'model', !healthy, { model, channel: channel.id, state }, announce);
    }
  }, undefined, (provider, inFlight) => metrics.upstreamInFlight.set(provider, inFlight));
  const limiter = createLimiter(config, kv, log);
  const concurrency = kv
    ? createRedisConcurrency(kv.redis, config.redis.key_prefix, { onError: (err) => log.warn({ err }, 'renewing or releasing a concurrency lease failed') })
    : createMemoryConcurrency();
  let engineRef: Engine | undefined;
  // The alert check after each charge: its callbacks made once, not per charge.
  const spendSnapshot = (orgId: string, keyIds: string[]) => accounts.snapshot(orgId, keyIds);
  const alertCheckFailed = (err: unknown) => log.warn({ err }, 'alert check failed');
  const cache = createResponseCache(config.cache, {
    redis: kv?.redis,
    redisPrefix: `${config.redis.key_prefix}cache:`,
    embed: (_orgId, text) => engineRef!.embedForCache(text),
    onError: (err, where) => log.debug({ err, where }, 'cache degraded to miss'),
  });
  const engine = new Engine({
    telemetry,
    config,
    channels,
    view,
    accounts,
    usage,
    metrics,
    log,
    limiter,
    concurrency,
    cache,
    onCharged: (org, key) => {
      try {
        alerts.checkSpend(org.id, key, spendSnapshot)?.catch(alertCheckFailed);
      } catch (err) {
        alertCheckFailed(err);
      }
    },
  });
  engineRef = engine;
  if (!kv) engine.idempotency.use(new StoreIdempotency(store, (err) => log.warn({ err }, 'idempotency records could not be read or kept in the store')));
  if (kv) {
    engine.idempotency.use(
      new RedisIdempotency(kv.redis, {
        prefix: config.redis.key_prefix,
        instance: kv.instance,
        fallback: new MemoryIdempotency(),
        onError: (err) => log.warn({ err }, 'shared idempotency records unavailable; duplicates are caught on this instance only'),
      }),
    );
  }
  // With SQLite these writes run in the store worker (rowWrites), never on this thread; they are
  // flushed in close() before usage.close() ends the worker.
  const rowWrites = durability.rowWrites;
  const requestLogs = new RequestLogWriter(rowWrites ?? store, log);
  const responsesStore: ResponsesStore = rowWrites
    ? { putResponse: (row) => rowWrites.putResponse(row), getResponse: (o, id, now) => store.getResponse(o, id, now), deleteResponse: (o, id) => store.deleteResponse(o, id) }
    : store;
  const responses = createResponsesSurface({ store: responsesStore, retentionDays: config.responses.retention_days, log });
  const tenants = new TenantService(store, view, accounts);
  // Raw usage rows older than the retention are deleted; the roll-ups that serve aggregates stay.
  // The hourly runs go between usage commits, so they never wait on SQLite's write lock (see
  // exclusive()); the first, at start, runs before any commit and is started at once.
  const prune = (gated: boolean) => {
    const run = <T>(work: () => Promise<T>) => (gated ? usage.exclusive(work) : work());
    const cutoff = Date.now() - config.billing.usage_retention_days * 86_400_000;
    run(() => store.pruneUsage(cutoff)).then(
      (n) => n > 0 && log.info({ rows: n }, 'pruned raw usage past retention'),
      (err) => log.warn({ err }, 'usage pruning failed'),
    );
    run(() => store.pruneResponses(Date.now())).then(
      (n) => n > 0 && log.info({ rows: n }, 'pruned stored responses past retention'),
      (err) => log.warn({ err }, 'stored response pruning failed'),
    );
    run(() => store.pruneRequestLogs(Date.now())).then(
      (n) => n > 0 && log.info({ rows: n }, 'pruned request logs past retention'),
      (err) => log.warn({ err }, 'request log pruning failed'),
    );
  };
  prune(false);
  const pruneTimer = setInterval(() => prune(true), 3_600_000);
  pruneTimer.unref();
  const sync = new TenantSync(kv ? kv.feed<TenantChange>('tenants') : localFeed<TenantChange>(), store, view, log);
  sync.start();
  tenants.onChange = sync.publish;
  if (kv) {
    breakerSync = new BreakerSync(kv.feed<BreakerChange>('breakers'), channels);
    breakerSync.start();
  }
  // Changes made by another process (the CLI, another instance) reach this one through the
  // store's change sequence, with Redis down or not configured at all.
  const follower = new StoreChangeFollower(store, changesSeen, {
    intervalMs: CHANGE_POLL_MS,
    onChange: (row) => {
      if (row.kind === 'grant') {
        // With Redis, the process that granted applied it there; without, each instance's memory needs it.
        if (!kv && row.org_id && row.amount_micros !== null) void accounts.grant(row.org_id, row.amount_micros, row.ref);
        return;
      }
      void sync.reload({ kind: row.kind, id: row.ref });
    },
    onError: (err) => log.debug({ err }, 'following the store change sequence failed'),
  });
  follower.start();
  return {
    config,
    log,
    store,
    view,
    accounts,
    usage,
    channels,
    engine,
    responses,
    tenants,
    alerts,
    audit: new AuditTrail(store, log),
    concurrency,
    requestLogs,
    metrics,
    telemetry,
    async readiness() {
      const checks: Record<string, string> = {};
      try {
        await store.ping();
        checks.store = 'ok';
      } catch (err) {
        checks.store = `unreachable: ${(err as Error).message}`;
      }
      if (kv) {
        try {
          await kv.ping();
          checks.redis = 'ok';
        } catch (err) {
          checks.redis = `unreachable: ${(err as Error).message}`;
        }
      }
      return checks;
    },
    async close() {
      clearInterval(pruneTimer);
      // Responses answered just before shutdown are still being stored.
      await responses.stored.flush();
      await requestLogs.flush();
      sync.close();
      await follower.stop();
      breakerSync?.close();
      await limiter.close();
      await concurrency.close();
      await cache.close();
      await alerts.close();
      await credit.stop();
      await accounts.close();
      await channels.close();
      await usage.close();
      // The traces of the last requests, once they have all ended.
      await telemetry?.close();
      // Last: everything above borrowed these connections.
      await kv?.close();
    },
    refreshGauges() {
      metrics.usageQueue.set(usage.pending);
      for (const m of channels.models.values()) for (const c of m.channels) metrics.breakerState.set({ model: m.config.id, channel: c.id }, STATE_VALUE[c.breaker.state]);
    },
  };
}
