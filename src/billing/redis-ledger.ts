// Credit shared by every instance through Redis: balances, spends and open reservations are
// Redis values changed only inside Lua scripts, so concurrent reserves on several instances
// can never overspend. Reservations are held per instance and ignored once that instance
// stops heartbeating, so a crashed instance cannot pin an org's credit forever.
import { randomBytes } from 'node:crypto';
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
  if ks + kr + amount > kb then return {2, ks} end
end
local cap = tonumber(ARGV[3])
if cap >= 0 then
  local os = tonumber(redis.call('GET', KEYS[3]) or '0')
  if os + ores + amount > cap then return {3, os} end
end
redis.call('HINCRBY', KEYS[2], ARGV[4], amount)
redis.call('HINCRBY', KEYS[4], ARGV[4], amount)
return {0}
`;

// KEYS: bal, ores, ospend, kres, kspend   ARGV: reserved, actual, instance
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
end
return 0
`;

// KEYS: bal, ores, ospend, alive, kspend...   ARGV: (none)
const SNAPSHOT = `${SUM_LIVE}
local out = {redis.call('GET', KEYS[1]) or '0', live_sum(KEYS[2], KEYS[4], now), redis.call('GET', KEYS[3]) or '0'}
for i = 5, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '0' end
return out
`;

export interface RedisLedgerOptions {
  prefix: string;
  /** Totals from the store, used to seed Redis when it has no value for an org (first start, Redis restart). */
  loadOrg(orgId: string): Promise<{ balance: number; orgSpend: number; keySpends: Map<string, number> }>;
  heartbeatMs?: number;
}

export class RedisCreditLedger implements CreditLedger {
  private readonly instance = randomBytes(8).toString('hex');
  private readonly heartbeat: NodeJS.Timeout;
  private readonly aliveKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisLedgerOptions,
  ) {
    this.aliveKey = `${opts.prefix}cr:alive`;
    const every = opts.heartbeatMs ?? 2000;
    const beat = () => this.redis.hset(this.aliveKey, this.instance, String(Date.now() + every * 5)).catch(() => {});
    void beat();
    this.heartbeat = setInterval(beat, every);
    this.heartbeat.unref();
  }

  /** Must resolve before the first reserve, so this instance's holds count. */
  async start(): Promise<void> {
    await this.redis.hset(this.aliveKey, this.instance, String(Date.now() + (this.opts.heartbeatMs ?? 2000) * 5));
  }

  private keys(orgId: string, keyId: string): string[] {
    const p = this.opts.prefix;
    return [`${p}cr:bal:${orgId}`, `${p}cr:ores:${orgId}`, `${p}cr:ospend:${orgId}`, `${p}cr:kres:${keyId}`, `${p}cr:kspend:${keyId}`];
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
    let res = (await this.redis.eval(RESERVE, 6, ...keys, this.aliveKey, ...args)) as number[];
    if (res[0] === -1) {
      await this.seed(r.orgId);
      res = (await this.redis.eval(RESERVE, 6, ...keys, this.aliveKey, ...args)) as number[];
      if (res[0] === -1) res = [1, 0, 0];
    }
    switch (res[0]) {
      case 0:
        return { ok: true, reservation: { orgId: r.orgId, keyId: r.keyId, amount: r.amount, settled: false } };
      case 1:
        return insufficientBalance(Number(res[1]), Number(res[2]), r.amount);
      case 2:
        return keyBudgetReached(Number(res[1]), r.keyBudget ?? 0, r.amount);
      default:
        return orgCapReached(Number(res[1]), r.orgCap ?? 0, r.amount);
    }
  }

  async settle(res: Reservation, actual: number): Promise<void> {
    if (res.settled) return;
    res.settled = true;
    await this.redis.eval(SETTLE, 5, ...this.keys(res.orgId, res.keyId), res.amount, actual, this.instance);
  }

  async charge(orgId: string, keyId: string, amount: number): Promise<void> {
    await this.redis.eval(SETTLE, 5, ...this.keys(orgId, keyId), 0, amount, this.instance);
  }

  async grant(orgId: string, amount: number): Promise<void> {
    const balKey = `${this.opts.prefix}cr:bal:${orgId}`;
    // An org never seen by Redis is seeded from the store, which already holds this grant.
    if ((await this.redis.exists(balKey)) === 0) await this.seed(orgId);
    else await this.redis.incrby(balKey, amount);
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

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    // The connection is borrowed from the gateway's Kv, which closes it.
    await this.redis.hdel(this.aliveKey, this.instance).catch(() => {});
  }
}
