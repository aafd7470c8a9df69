// What a write-behind batch commits, independent of how: which usage rows and charges go in, in
// which order, and the roll-up increments of the newly inserted usage. Both batch writers (Kysely
// in write-batch.ts, better-sqlite3 in sqlite-batch-writer.ts) use it, so they cannot drift apart.
// Loads no query layer: the store worker imports it without Kysely.
import { LATENCY_BOUNDS_MS, type OpsRollupTable, type RollupTable } from './schema.js';
import type { LedgerRow, UsageRow } from './types.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function bucketStart(time: number, size: number): number {
  return Math.floor(time / size) * size;
}

export const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Without a request id a retried batch could not tell that a charge is already written. */
export function checkCharges(charges: readonly LedgerRow[]): void {
  for (const c of charges) {
    if (c.request_id === null || c.request_id === undefined || c.request_id === '') {
      throw new TypeError(`charge ${c.id} has no request_id; every charge must name its request`);
    }
  }
}

export interface UniqueUsage {
  /** the first row of each request id */
  byId: Map<string, UsageRow>;
  /** the same rows sorted by request id: a deterministic insert order (and lock order on Postgres) */
  sorted: UsageRow[];
}

export function uniqueUsage(usage: readonly UsageRow[]): UniqueUsage {
  const byId = new Map<string, UsageRow>();
  for (const u of usage) if (!byId.has(u.request_id)) byId.set(u.request_id, u);
  return { byId, sorted: [...byId.values()].sort((a, b) => byString(a.request_id, b.request_id)) };
}

/**
 * Charges to insert, sorted by request id: a charge whose usage row already existed belongs to an
 * earlier attempt of this batch; one with no usage row in the batch is inserted unless the ledger
 * already holds it.
 */
export function chargesToWrite(charges: readonly LedgerRow[], usageById: ReadonlyMap<string, UsageRow>, insertedIds: ReadonlySet<string>): LedgerRow[] {
  return charges
    .filter((c) => insertedIds.has(c.request_id as string) || !usageById.has(c.request_id as string))
    .sort((a, b) => byString(a.request_id as string, b.request_id as string));
}

export const ROLLUP_SUMS = ['requests', 'errors', 'cache_hits', 'prompt_tokens', 'completion_tokens', 'cost_micros'] as const;

/** The latency histogram's columns, one per bound of LATENCY_BOUNDS_MS, in the same order. */
const LATENCY_COLUMNS = LATENCY_BOUNDS_MS.map((b) => `latency_le_${b}` as const);

export const OPS_SUMS = [...ROLLUP_SUMS, 'latency_ms_sum', ...LATENCY_COLUMNS] as const;

function addToRollup(map: Map<string, RollupTable>, u: UsageRow, bucket: number): void {
  const id = `${u.org_id}\u0000${bucket}\u0000${u.model}\u0000${u.key_id}`;
  let r = map.get(id);
  if (!r) {
    r = {
      org_id: u.org_id,
      bucket,
      model: u.model,
      key_id: u.key_id,
      requests: 0,
      errors: 0,
      cache_hits: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micros: 0,
    };
    map.set(id, r);
  }
  r.requests += 1;
  if (u.status >= 400) r.errors += 1;
  if (u.cached !== null) r.cache_hits += 1;
  r.prompt_tokens += u.prompt_tokens;
  r.completion_tokens += u.completion_tokens;
  r.cost_micros += u.cost_micros;
}

function addToOpsRollup(map: Map<string, OpsRollupTable>, u: UsageRow): void {
  const bucket = bucketStart(u.created_at, HOUR_MS);
  const provider = u.provider ?? '';
  const id = `${bucket}\u0000${u.model}\u0000${provider}`;
  let r = map.get(id);
  if (!r) {
    r = {
      bucket,
      model: u.model,
      provider,
      requests: 0,
      errors: 0,
      cache_hits: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micros: 0,
      latency_ms_sum: 0,
      latency_le_100: 0,
      latency_le_500: 0,
      latency_le_1000: 0,
      latency_le_5000: 0,
      latency_le_30000: 0,
    };
    map.set(id, r);
  }
  r.requests += 1;
  if (u.status >= 400) r.errors += 1;
  if (u.cached !== null) r.cache_hits += 1;
  r.prompt_tokens += u.prompt_tokens;
  r.completion_tokens += u.completion_tokens;
  r.cost_micros += u.cost_micros;
  r.latency_ms_sum += u.latency_ms;
  // Column names made once, not a new string per bound and row.
  for (let i = 0; i < LATENCY_COLUMNS.length; i++) if (u.latency_ms <= LATENCY_BOUNDS_MS[i]!) r[LATENCY_COLUMNS[i]!] += 1;
}

/** Sorted, so concurrent Postgres transactions lock roll-up rows in the same order (no deadlock). */
function sortedRollups(map: Map<string, RollupTable>): RollupTable[] {
  return [...map.values()].sort(
    (a, b) => byString(a.org_id, b.org_id) || a.bucket - b.bucket || byString(a.model, b.model) || byString(a.key_id, b.key_id),
  );
}

export interface RollupIncrements {
  hours: RollupTable[];
  days: RollupTable[];
  ops: OpsRollupTable[];
}

/** The sums newly inserted usage rows add to each roll-up, one row per roll-up key, sorted. */
export function rollupIncrements(inserted: readonly UsageRow[]): RollupIncrements {
  const hours = new Map<string, RollupTable>();
  const days = new Map<string, RollupTable>();
  const ops = new Map<string, OpsRollupTable>();
  for (const u of inserted) {
    addToRollup(hours, u, bucketStart(u.created_at, HOUR_MS));
    addToRollup(days, u, bucketStart(u.created_at, DAY_MS));
    addToOpsRollup(ops, u);
  }
  return {
    hours: sortedRollups(hours),
    days: sortedRollups(days),
    ops: [...ops.values()].sort((a, b) => a.bucket - b.bucket || byString(a.model, b.model) || byString(a.provider, b.provider)),
  };
}
