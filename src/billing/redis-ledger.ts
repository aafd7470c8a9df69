// Credit shared by every instance through Redis: balances, spends and open reservations are
// Redis values changed only inside Lua scripts, so concurrent reserves on several instances
// can never overspend. Redis is a fast copy of the durable ledger, never the truth:
// - holds are per instance and count only while that instance's lease (heartbeat) lives, and
//   each instance rewrites its own holds from what it really has in flight, so a dropped
//   connection or a crash cannot pin an org's credit;
// - grants are applied once per ledger entry id, and retried until Redis takes them;
// - every org whose Redis totals changed is marked dirty, and a reconciler (one instance at a
//   time, under a lease) re-derives its totals from the store once every charge made before
//   is durable there.
import type { Redis } from 'ioredis';
import type { AccountSnapshot, CreditLedger, Reservation, ReserveInput, ReserveOutcome } from './accounts.js';
import { insufficientBalance, keyBudgetReached, orgCapReached } from './accounts.js';

/** Sum of the live instances' holds in a reservation hash (field = instance id). */
const SUM_LIVE = `
local function live_sum(hkey, alive, now)
  local vals = redis.call('HGETALL', hkey)
  local total = 0
  for i = 1, #vals, 2 do
    local exp = tonumber(redis.call('HGET', alive, vals[i]) or '0')
    if exp >= now then total = total + tonumber(vals[i + 1]) end
  end
  return total
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// KEYS: bal, ores, ospend, kres, kspend, alive   ARGV: amount, keyBudget|-1, orgCap|-1, instance
const RESERVE = `${SUM_LIVE}
local bal = redis.call('GET', KEYS[1])
if not bal then return {-1} end
bal = tonumber(bal)
local amount = tonumber(ARGV[1])
local ores = live_sum(KEYS[2], KEYS[6], now)
if bal - ores <= 0 or bal - ores < amount then return {1, bal, ores} end
local kb = tonumber(ARGV[2])
if kb >= 0 then
  local ks = tonumber(redis.call('GET', KEYS[5]) or '0')
  local kr = live_sum(KEYS[4], KEYS[6], now)
  if ks + kr + amount > kb then return {2, ks, kr} end
end
local cap = tonumber(ARGV[3])
if cap >= 0 then
  local os = tonumber(redis.call('GET', KEYS[3]) or '0')
  if os + ores + amount > cap then return {3, os, ores} end
end
redis.call('HINCRBY', KEYS[2], ARGV[4], amount)
redis.call('HINCRBY', KEYS[4], ARGV[4], amount)
return {0}
`;

// KEYS: bal, ores, ospend, kres, kspend, dirty   ARGV: reserved, actual, instance, orgId
const SETTLE = `
local reserved = tonumber(ARGV[1])
if reserved > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[3], -reserved)
  redis.call('HINCRBY', KEYS[4], ARGV[3], -reserved)
end
local actual = tonumber(ARGV[2])
if actual ~= 0 then
  redis.call('DECRBY', KEYS[1], actual)
  redis.call('INCRBY', KEYS[3], actual)
  redis.call('INCRBY', KEYS[5], actual)
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[6], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[4])
end
return 0
`;

// KEYS: bal, grants, dirty   ARGV: entryId, amount, orgId → -1 unseeded, 0 already applied, 1 applied
const GRANT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], 604800000)
redis.call('INCRBY', KEYS[1], tonumber(ARGV[2]))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[3], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[3])
return 1
`;

// KEYS: alive, flushed   ARGV: instance, ttlMs, allFlushed (1/0) → Redis time in ms
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
if ARGV[3] == '1' then redis.call('HSET', KEYS[2], ARGV[1], now) end
return now
`;

// KEYS: dirty   ARGV: orgIds… → 1 per org marked
const MARK_DIRTY = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
return #ARGV
`;

// KEYS: bal, ospend, dirty, alive, ores, then per key: kspend, kres
// ARGV: orgId, expected dirty score ('' = must not be dirty), balance, orgSpend, then per key: spend
// Sets the org's totals to the store's, unless the org changed since they were read; drops
// holds of instances whose lease has lapsed.
const RECONCILE_ORG = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
if ARGV[2] == '' then
  if score then return 0 end
elseif score ~= ARGV[2] then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[4])
if score then redis.call('ZREM', KEYS[3], ARGV[1]) end
local function drop_dead(h)
  local vals = redis.call('HGETALL', h)
  for i = 1, #vals, 2 do
    local exp = tonumber(redis.call('HGET', KEYS[4], vals[i]) or '0')
    if exp < now then redis.call('HDEL', h, vals[i]) end
  end
end
drop_dead(KEYS[5])
local k = 0
for i = 6, #KEYS, 2 do
  k = k + 1
  redis.call('SET', KEYS[i], ARGV[4 + k])
  drop_dead(KEYS[i + 1])
end
return 1
`;

export interface OrgTotals {
  balance: number;
  orgSpend: number;
  keySpends: Map<string, number>;
}

export interface AllTotals {
  balances: Map<string, number>;
  orgSpends: Map<string, number>;
  keySpends: Map<string, number>;
  /** key id -> org id, for every key with spend */
  keyOrgs: Map<string, string>;
}

export interface RedisLedgerOptions {
  prefix: string;
  /** This instance's id: the field its holds are kept under. */
  instance: string;
  /** Totals from the store, used to seed Redis when it has no value for an org (first start, Redis restart). */
  loadOrg(orgId: string): Promise<OrgTotals>;
  /** Totals of every org and key from the store, for the reconciler. */
  loadAll?(): Promise<AllTotals>;
  /** Finished requests whose rows are not yet in the store (their charges are not durable yet). */
  unflushed?(): number;
  heartbeatMs?: number;
  /** How long holds of an instance count after its last heartbeat. */
  leaseMs?: number;
  onError?(err: unknown, what: string): void;
}

interface PendingGrant {
  orgId: string;
  amount: number;
  entryId: string;
}

const add = (m: Map<string, number>, k: string, v: number) => {
  const n = (m.get(k) ?? 0) + v;
  if (n === 0) m.delete(k);
  else m.set(k, n);
};

export class RedisCreditLedger implements CreditLedger {
  private readonly instance: string;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly aliveKey: string;
  private readonly flushedKey: string;
  private readonly dirtyKey: string;
  private readonly leaseMs: number;
  /** What this instance really holds, by org and by key: the truth its Redis fields are reset to. */
  private readonly orgHolds = new Map<string, number>();
  private readonly keyHolds = new Map<string, number>();
  private readonly touchedOrgs = new Set<string>();
  private readonly touchedKeys = new Set<string>();
  /** Orgs whose Redis totals missed a change (Redis failed): marked dirty once Redis answers. */
  private readonly missed = new Set<string>();
  private readonly pendingGrants: PendingGrant[] = [];
  private closed = false;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisLedgerOptions,
  ) {
    this.instance = opts.instance;
    const p = opts.prefix;
    this.aliveKey = `${p}cr:alive`;
    this.flushedKey = `${p}cr:flushed`;
    this.dirtyKey = `${p}cr:dirty`;
    const every = opts.heartbeatMs ?? 1000;
    this.leaseMs = opts.leaseMs ?? every * 5;
    this.heartbeat = setInterval(() => void this.beat(), every);
    this.heartbeat.unref();
  }

  /** Must resolve before the first reserve, so this instance's holds count. */
  async start(): Promise<void> {
    await this.beat(true);
  }

  private keys(orgId: string, keyId: string): string[] {
    const p = this.opts.prefix;
    return [`${p}cr:bal:${orgId}`, `${p}cr:ores:${orgId}`, `${p}cr:ospend:${orgId}`, `${p}cr:kres:${keyId}`, `${p}cr:kspend:${keyId}`];
  }

  /**
   * Renews this instance's lease, says whether all its charges are durable, and repairs what
   * Redis missed: its own holds, grants not yet applied, orgs to reconcile.
   */
  private async beat(throwOnError = false): Promise<void> {
    if (this.closed) return;
    try {
      const allFlushed = (this.opts.unflushed?.() ?? 0) === 0 ? '1' : '0';
      await this.redis.eval(HEARTBEAT, 2, this.aliveKey, this.flushedKey, this.instance, this.leaseMs, allFlushed);
      await this.syncHolds();
      while (this.pendingGrants.length > 0) {
        const g = this.pendingGrants[0];
        await this.applyGrant(g.orgId, g.amount, g.entryId);
        this.pendingGrants.shift();
      }
      if (this.missed.size > 0) {
        const orgs = [...this.missed];
        await this.redis.eval(MARK_DIRTY, 1, this.dirtyKey, ...orgs);
        for (const o of orgs) this.missed.delete(o);
      }
    } catch (err) {
      if (throwOnError) throw err;
      this.opts.onError?.(err, 'credit heartbeat');
    }
  }

  /** Rewrites this instance's hold fields to what it has in flight (commands on one connection run in order). */
  private async syncHolds(): Promise<void> {
    if (this.touchedOrgs.size === 0 && this.touchedKeys.size === 0) return;
    const p = this.opts.prefix;
    const orgs = [...this.touchedOrgs];
    const keys = [...this.touchedKeys];
    const m = this.redis.multi();
    for (const o of orgs) {
      const v = this.orgHolds.get(o) ?? 0;
      if (v === 0) m.hdel(`${p}cr:ores:${o}`, this.instance);
      else m.hset(`${p}cr:ores:${o}`, this.instance, String(v));
    }
    for (const k of keys) {
      const v = this.keyHolds.get(k) ?? 0;
      if (v === 0) m.hdel(`${p}cr:kres:${k}`, this.instance);
      else m.hset(`${p}cr:kres:${k}`, this.instance, String(v));
    }
    await m.exec();
    for (const o of orgs) this.touchedOrgs.delete(o);
    for (const k of keys) this.touchedKeys.delete(k);
  }

  private hold(orgId: string, keyId: string, amount: number): void {
    add(this.orgHolds, orgId, amount);
    add(this.keyHolds, keyId, amount);
    this.touchedOrgs.add(orgId);
    this.touchedKeys.add(keyId);
  }

  /** A change Redis may have missed: the org's totals are re-derived from the store later. */
  noteMissed(orgId: string): void {
    this.missed.add(orgId);
  }

  /** Seeds an org's totals from the store unless another instance already did. */
  private async seed(orgId: string): Promise<void> {
    const t = await this.opts.loadOrg(orgId);
    const p = this.opts.prefix;
    const m = this.redis.multi();
    m.set(`${p}cr:bal:${orgId}`, String(t.balance), 'NX');
    m.set(`${p}cr:ospend:${orgId}`, String(t.orgSpend), 'NX');
    for (const [k, v] of t.keySpends) m.set(`${p}cr:kspend:${k}`, String(v), 'NX');
    await m.exec();
  }

  async reserve(r: ReserveInput): Promise<ReserveOutcome> {
    const keys = this.keys(r.orgId, r.keyId);
    const args = [r.amount, r.keyBudget ?? -1, r.orgCap ?? -1, this.instance];
    // Counted before it is sent, so a hold sync sent after this reserve includes it.
    this.hold(r.orgId, r.keyId, r.amount);
    let res: number[];
    try {
      res = (await this.redis.eval(RESERVE, 6, ...keys, this.aliveKey, ...args)) as number[];
      if (res[0] === -1) {
        await this.seed(r.orgId);
        res = (await this.redis.eval(RESERVE, 6, ...keys, this.aliveKey, ...args)) as number[];
        if (res[0] === -1) res = [1, 0, 0];
      }
    } catch (err) {
      // It may or may not have been applied: the next hold sync makes Redis agree with us.
      this.hold(r.orgId, r.keyId, -r.amount);
      throw err;
    }
    if (res[0] !== 0) this.hold(r.orgId, r.keyId, -r.amount);
    switch (res[0]) {
      case 0:
        return { ok: true, reservation: { orgId: r.orgId, keyId: r.keyId, amount: r.amount, settled: false } };
      case 1:
        return insufficientBalance(Number(res[1]), Number(res[2]), r.amount, r.quote);
      case 2:
        return keyBudgetReached(Number(res[1]), r.keyBudget ?? 0, r.amount, { held: Number(res[2] ?? 0), quote: r.quote });
      default:
        return orgCapReached(Number(res[1]), r.orgCap ?? 0, r.amount, { held: Number(res[2] ?? 0), quote: r.quote });
    }
  }

  async settle(res: Reservation, actual: number): Promise<void> {
    if (res.settled) return;
    res.settled = true;
    this.hold(res.orgId, res.keyId, -res.amount);
    await this.applySettle(res.orgId, res.keyId, res.amount, actual);
  }

  async charge(orgId: string, keyId: string, amount: number): Promise<void> {
    await this.applySettle(orgId, keyId, 0, amount);
  }

  private async applySettle(orgId: string, keyId: string, reserved: number, actual: number): Promise<void> {
    try {
      await this.redis.eval(SETTLE, 6, ...this.keys(orgId, keyId), this.dirtyKey, reserved, actual, this.instance, orgId);
    } catch (err) {
      if (actual !== 0) this.noteMissed(orgId);
      throw err;
    }
  }

  private async applyGrant(orgId: string, amount: number, entryId: string): Promise<void> {
    const p = this.opts.prefix;
    const r = Number(await this.redis.eval(GRANT, 3, `${p}cr:bal:${orgId}`, `${p}cr:grants:${orgId}`, this.dirtyKey, entryId, amount, orgId));
    // An org never seen by Redis is seeded from the store, which already holds this grant.
    if (r === -1) await this.seed(orgId);
  }

  /**
   * Applies a grant that is already durable in the store, once per ledger entry: a retry after
   * an answer that was lost cannot apply it twice. Failing, it is retried by the heartbeat.
   */
  async grant(orgId: string, amount: number, entryId?: string): Promise<void> {
    const id = entryId ?? `anon:${Date.now()}:${Math.random()}`;
    try {
      await this.applyGrant(orgId, amount, id);
    } catch (err) {
      if (entryId) this.pendingGrants.push({ orgId, amount, entryId });
      else this.noteMissed(orgId);
      throw err;
    }
  }

  async snapshot(orgId: string, keyIds: readonly string[] = []): Promise<AccountSnapshot> {
    const p = this.opts.prefix;
    let exists = await this.redis.exists(`${p}cr:bal:${orgId}`);
    if (exists === 0) {
      await this.seed(orgId);
      exists = 1;
    }
    const keys = [`${p}cr:bal:${orgId}`, `${p}cr:ores:${orgId}`, `${p}cr:ospend:${orgId}`, this.aliveKey, ...keyIds.map((k) => `${p}cr:kspend:${k}`)];
    const out = (await this.redis.eval(SNAPSHOT, keys.length, ...keys)) as Array<string | number>;
    return {
      balance: Number(out[0]),
      reserved: Number(out[1]),
      orgSpend: Number(out[2]),
      keySpends: new Map(keyIds.map((k, i) => [k, Number(out[3 + i])])),
    };
  }

  /**
   * One reconciler pass (the caller holds the reconciler lease): every org whose Redis totals
   * changed, once every charge made before that change is durable in the store, and with
   * `sweep` every org Redis knows, gets its totals re-derived from the store.
   * Returns the number of orgs reset.
   */
  async reconcile(sweep: boolean): Promise<number> {
    const loadAll = this.opts.loadAll;
    if (!loadAll) return 0;
    const p = this.opts.prefix;
    const [alive, flushed, dirtyFlat, timeNow] = await Promise.all([
      this.redis.hgetall(this.aliveKey),
      this.redis.hgetall(this.flushedKey),
      this.redis.zrange(this.dirtyKey, 0, -1, 'WITHSCORES'),
      this.redis.time(),
    ]);
    const now = Number(timeNow[0]) * 1000 + Math.floor(Number(timeNow[1]) / 1000);
    // Charges made before `watermark` by a live instance are in the store; a dead instance's
    // unwritten charges are not coming (or come back by its own replay, caught by a sweep).
    let watermark = now;
    const stale: string[] = [];
    for (const [inst, exp] of Object.entries(alive)) {
      if (Number(exp) < now) {
        if (Number(exp) < now - 60_000) stale.push(inst);
        continue;
      }
      watermark = Math.min(watermark, Number(flushed[inst] ?? 0));
    }
    if (stale.length > 0) {
      await this.redis.hdel(this.aliveKey, ...stale);
      await this.redis.hdel(this.flushedKey, ...stale);
    }
    const due = new Map<string, string>();
    const dirty = new Set<string>();
    for (let i = 0; i < dirtyFlat.length; i += 2) {
      dirty.add(dirtyFlat[i]);
      if (Number(dirtyFlat[i + 1]) < watermark) due.set(dirtyFlat[i], dirtyFlat[i + 1]);
    }
    if (due.size === 0 && !sweep) return 0;
    const totals = await loadAll();
    const orgs = new Map(due);
    if (sweep) for (const orgId of totals.balances.keys()) if (!dirty.has(orgId)) orgs.set(orgId, '');
    const keysByOrg = new Map<string, string[]>();
    for (const [keyId, orgId] of totals.keyOrgs) {
      const list = keysByOrg.get(orgId) ?? [];
      list.push(keyId);
      keysByOrg.set(orgId, list);
    }
    let reset = 0;
    for (const [orgId, expected] of orgs) {
      const keyIds = keysByOrg.get(orgId) ?? [];
      const keys = [`${p}cr:bal:${orgId}`, `${p}cr:ospend:${orgId}`, this.dirtyKey, this.aliveKey, `${p}cr:ores:${orgId}`];
      const args: Array<string | number> = [orgId, expected, totals.balances.get(orgId) ?? 0, totals.orgSpends.get(orgId) ?? 0];
      for (const k of keyIds) {
        keys.push(`${p}cr:kspend:${k}`, `${p}cr:kres:${k}`);
        args.push(totals.keySpends.get(k) ?? 0);
      }
      reset += Number(await this.redis.eval(RECONCILE_ORG, keys.length, ...keys, ...args));
    }
    return reset;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    // Our hold fields are set to what we still hold (nothing, once drained): a reservation that
    // Redis counted twice or missed (a reserve retried after seeding, one that failed in flight)
    // is otherwise only repaired by the next heartbeat, which a stop within the second never sees.
    for (const o of this.orgHolds.keys()) this.touchedOrgs.add(o);
    for (const k of this.keyHolds.keys()) this.touchedKeys.add(k);
    await this.syncHolds().catch(() => {});
    // The connection is borrowed from the gateway's Kv, which closes it. Our holds go with us.
    await this.redis.hdel(this.aliveKey, this.instance).catch(() => {});
  }
}

// KEYS: bal, ores, ospend, alive, kspend...   ARGV: (none)
const SNAPSHOT = `${SUM_LIVE}
local out = {redis.call('GET', KEYS[1]) or '0', live_sum(KEYS[2], KEYS[4], now), redis.call('GET', KEYS[3]) or '0'}
for i = 5, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '0' end
return out
`;
