// Read side of the ledger and usage tables: keyset-paginated listings and aggregates that are
// answered from the hour/day roll-ups, so a busy org's usage page never scans raw usage.
import type { Kysely } from 'kysely';
import { clampLimit, decodeCursor, toPage } from './cursor.js';
import { bucketStart, DAY_MS, HOUR_MS } from './write-batch.js';
import { ledgerFromDb, usageFromDb } from './row-mappers.js';
import { type Database, LATENCY_BOUNDS_MS } from './schema.js';
import type { LedgerRow, OpsStat, OpsStatsFilter, OrgSpend, Page, UsageAggregate, UsageAggregateFilter, UsageFilter, UsageRow } from './types.js';

export async function listLedger(
  db: Kysely<Database>,
  orgId: string,
  opts: { cursor?: string; limit: number },
): Promise<Page<LedgerRow>> {
  const limit = clampLimit(opts.limit);
  let q = db.selectFrom('ledger').selectAll().where('org_id', '=', orgId);
  if (opts.cursor !== undefined) {
    const c = decodeCursor(opts.cursor);
    q = q.where((eb) =>
      eb.or([eb('created_at', '<', c.created_at), eb.and([eb('created_at', '=', c.created_at), eb('id', '<', c.id)])]),
    );
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  return toPage(rows.map(ledgerFromDb), limit, (r) => ({ created_at: r.created_at, id: r.id }));
}

export async function listUsage(db: Kysely<Database>, f: UsageFilter): Promise<Page<UsageRow>> {
  const limit = clampLimit(f.limit);
  let q = db.selectFrom('usage').selectAll();
  if (f.org_id !== undefined) q = q.where('org_id', '=', f.org_id);
  if (f.key_id !== undefined) q = q.where('key_id', '=', f.key_id);
  if (f.model !== undefined) q = q.where('model', '=', f.model);
  if (f.surface !== undefined) q = q.where('surface', '=', f.surface);
  if (f.from !== undefined) q = q.where('created_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('created_at', '<', f.to);
  if (f.cursor !== undefined) {
    const c = decodeCursor(f.cursor);
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '<', c.created_at),
        eb.and([eb('created_at', '=', c.created_at), eb('request_id', '<', c.id)]),
      ]),
    );
  }
  const rows = await q.orderBy('created_at', 'desc').orderBy('request_id', 'desc').limit(limit + 1).execute();
  return toPage(rows.map(usageFromDb), limit, (r) => ({ created_at: r.created_at, id: r.request_id }));
}

const GROUPS = new Set(['hour', 'day', 'model', 'key']);
type GroupColumn = 'bucket' | 'model' | 'key_id';

const binary = (a: string | undefined, b: string | undefined) => {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * Buckets are selected when they overlap [from, to): a roll-up cannot split a bucket, so the
 * bucket holding `from` is included whole.
 */
export async function aggregateUsage(db: Kysely<Database>, f: UsageAggregateFilter): Promise<UsageAggregate[]> {
  for (const g of f.group_by) {
    if (!GROUPS.has(g)) throw new RangeError(`group_by "${String(g)}" is not one of hour, day, model, key`);
  }
  const byHour = f.group_by.includes('hour');
  const byDay = f.group_by.includes('day');
  if (byHour && byDay) throw new RangeError('group_by may contain hour or day, not both');
  const table = byHour ? 'usage_rollup_hour' : 'usage_rollup_day';
  const size = byHour ? HOUR_MS : DAY_MS;

  const groups: GroupColumn[] = [];
  if (byHour || byDay) groups.push('bucket');
  if (f.group_by.includes('model')) groups.push('model');
  if (f.group_by.includes('key')) groups.push('key_id');

  let q = db.selectFrom(table).where('org_id', '=', f.org_id);
  if (f.key_id !== undefined) q = q.where('key_id', '=', f.key_id);
  if (f.model !== undefined) q = q.where('model', '=', f.model);
  if (f.from !== undefined) q = q.where('bucket', '>=', bucketStart(f.from, size));
  if (f.to !== undefined) q = q.where('bucket', '<', f.to);

  // Grouping by org_id as well keeps an empty range an empty result instead of one row of NULLs.
  const rows = await q
    .select(groups)
    .select((eb) => [
      eb.fn.sum<number>('requests').as('requests'),
      eb.fn.sum<number>('errors').as('errors'),
      eb.fn.sum<number>('cache_hits').as('cache_hits'),
      eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
      eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
      eb.fn.sum<number>('cost_micros').as('cost_micros'),
    ])
    .groupBy(['org_id', ...groups])
    .execute();

  const out = rows.map((r) => {
    const agg: UsageAggregate = {
      requests: Number(r.requests),
      errors: Number(r.errors),
      cache_hits: Number(r.cache_hits),
      prompt_tokens: Number(r.prompt_tokens),
      completion_tokens: Number(r.completion_tokens),
      cost_micros: Number(r.cost_micros),
    };
    const g = r as { bucket?: number; model?: string; key_id?: string };
    if (groups.includes('bucket')) agg.bucket = Number(g.bucket);
    if (groups.includes('model')) agg.model = g.model;
    if (groups.includes('key_id')) agg.key_id = g.key_id;
    return agg;
  });
  // Sorted here rather than in SQL so that both dialects agree regardless of collation.
  return out.sort(
    (a, b) => (a.bucket ?? 0) - (b.bucket ?? 0) || binary(a.model, b.model) || binary(a.key_id, b.key_id),
  );
}

const OPS_SUM_COLUMNS = [
  'requests',
  'errors',
  'cache_hits',
  'prompt_tokens',
  'completion_tokens',
  'cost_micros',
  'latency_ms_sum',
  ...LATENCY_BOUNDS_MS.map((b) => `latency_le_${b}` as const),
] as const;

/** Every org's traffic from the operator roll-up; day buckets are summed from the hours (UTC days). */
export async function operatorStats(db: Kysely<Database>, f: OpsStatsFilter): Promise<OpsStat[]> {
  const byModel = f.by.includes('model');
  const byProvider = f.by.includes('provider');
  const groups: ('bucket' | 'model' | 'provider')[] = ['bucket'];
  if (byModel) groups.push('model');
  if (byProvider) groups.push('provider');
  const rows = await db
    .selectFrom('usage_rollup_ops_hour')
    .where('bucket', '>=', bucketStart(f.from, HOUR_MS))
    .where('bucket', '<', f.to)
    .select(groups)
    .select((eb) => OPS_SUM_COLUMNS.map((c) => eb.fn.sum<number>(c).as(c)))
    .groupBy(groups)
    .execute();
  const size = f.bucket === 'day' ? DAY_MS : HOUR_MS;
  const out = new Map<string, OpsStat>();
  for (const r of rows as Record<string, unknown>[]) {
    const bucket = bucketStart(Number(r.bucket), size);
    const model = byModel ? String(r.model) : undefined;
    const provider = byProvider ? String(r.provider) : undefined;
    const id = `${bucket}\u0000${model ?? ''}\u0000${provider ?? ''}`;
    let s = out.get(id);
    if (!s) {
      s = {
        bucket,
        ...(model !== undefined ? { model } : {}),
        ...(provider !== undefined ? { provider } : {}),
        requests: 0,
        errors: 0,
        cache_hits: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_micros: 0,
        latency_ms_sum: 0,
        latency_le: LATENCY_BOUNDS_MS.map(() => 0),
      };
      out.set(id, s);
    }
    s.requests += Number(r.requests);
    s.errors += Number(r.errors);
    s.cache_hits += Number(r.cache_hits);
    s.prompt_tokens += Number(r.prompt_tokens);
    s.completion_tokens += Number(r.completion_tokens);
    s.cost_micros += Number(r.cost_micros);
    s.latency_ms_sum += Number(r.latency_ms_sum);
    LATENCY_BOUNDS_MS.forEach((b, i) => {
      (s as OpsStat).latency_le[i] += Number(r[`latency_le_${b}`]);
    });
  }
  return [...out.values()].sort(
    (a, b) => a.bucket - b.bucket || binary(a.model, b.model) || binary(a.provider, b.provider),
  );
}

/** Orgs by charges over [from, to) from the hourly roll-up, highest first. */
export async function topOrgs(db: Kysely<Database>, f: { from: number; to: number; limit: number }): Promise<OrgSpend[]> {
  const rows = await db
    .selectFrom('usage_rollup_hour')
    .where('bucket', '>=', bucketStart(f.from, HOUR_MS))
    .where('bucket', '<', f.to)
    .select('org_id')
    .select((eb) => [
      eb.fn.sum<number>('requests').as('requests'),
      eb.fn.sum<number>('errors').as('errors'),
      eb.fn.sum<number>('cost_micros').as('cost_micros'),
    ])
    .groupBy('org_id')
    .execute();
  return rows
    .map((r) => ({ org_id: r.org_id, requests: Number(r.requests), errors: Number(r.errors), cost_micros: Number(r.cost_micros) }))
    .sort((a, b) => b.cost_micros - a.cost_micros || b.requests - a.requests || binary(a.org_id, b.org_id))
    .slice(0, clampLimit(f.limit));
}

export async function pruneUsage(db: Kysely<Database>, before: number): Promise<number> {
  const res = await db.deleteFrom('usage').where('created_at', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}
