// Lua run inside Redis, so that check-and-consume over every spec is one atomic step shared by
// all gateway instances.
//
// Layout per limit key: a sorted set of admitted entries (member = ticket, score = admission
// time in ms) and, only once some entry costs other than 1, a hash holding the running cost sum
// in field `s` plus the cost of each such entry. Without the hash every entry costs 1 and the sum
// is ZCARD. So requests-per-minute keys are one sorted set trimmed by one ZREMRANGEBYSCORE, and
// token keys pay one HMGET per batch of expired entries: a decision costs O(expired), never
// O(window). Each redis.call costs about as much as the command it runs, hence the thrift.
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

// KEYS: per spec, its entry zset then its cost hash.
// ARGV: now in ms ('' = the Redis server clock), ticket, then per spec: limit, cost, windowMs.
// Returns: allowed (1/0), failed spec index (0-based, -1 if none), retryAfterMs,
//          then per spec: remaining, resetMs.
export const ACQUIRE_SCRIPT = script(`
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local ticket = ARGV[2]
local n = #KEYS / 2
local BATCH = 256

local sums, oldest, unit = {}, {}, {}
local failed, retry = -1, 0

for i = 1, n do
  local z, h = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, cost, win = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local cutoff = now - win
  local hlen = redis.call('HLEN', h)
  local only_unit = hlen == 0
  local sum
  if only_unit then
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    sum = redis.call('ZCARD', z)
  else
    sum = tonumber(redis.call('HGET', h, 's')) or 0
    local expired = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
    local removed = #expired
    if removed > 0 then
      local freed, dropped = 0, 0
      for from = 1, removed, BATCH do
        local to = math.min(from + BATCH - 1, removed)
        local cs = redis.call('HMGET', h, unpack(expired, from, to))
        for k = 1, #cs do freed = freed + (tonumber(cs[k]) or 1) end
        dropped = dropped + redis.call('HDEL', h, unpack(expired, from, to))
      end
      redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
      if hlen - dropped <= 1 then
        -- Only unit-cost entries are left: the sorted set alone describes them again.
        redis.call('DEL', h)
        only_unit = true
        sum = redis.call('ZCARD', z)
      else
        sum = sum - freed
        redis.call('HSET', h, 's', sum)
      end
    end
  end
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if first[2] then
    oldest[i] = tonumber(first[2])
  else
    -- Nothing recorded: start clean, which also drops a sum orphaned by an evicted sorted set.
    if not only_unit then
      redis.call('DEL', h)
      only_unit = true
    end
    sum = 0
  end
  sums[i] = sum
  unit[i] = only_unit

  local wait = 0
  if cost > limit then
    wait = win
  elseif sum + cost > limit then
    local need = sum + cost - limit
    wait = win
    if only_unit then
      local e = redis.call('ZRANGE', z, need - 1, need - 1, 'WITHSCORES')
      if e[2] then wait = tonumber(e[2]) + win - now end
    else
      local freed, start, done = 0, 0, false
      while not done do
        local batch = redis.call('ZRANGE', z, start, start + BATCH - 1, 'WITHSCORES')
        if #batch == 0 then break end
        local members = {}
        for k = 1, #batch, 2 do members[#members + 1] = batch[k] end
        local cs = redis.call('HMGET', h, unpack(members))
        for k = 1, #cs do
          freed = freed + (tonumber(cs[k]) or 1)
          if freed >= need then
            wait = tonumber(batch[2 * k]) + win - now
            done = true
            break
          end
        end
        start = start + BATCH
      end
    end
    if wait < 1 then wait = 1 end
  end
  if wait > retry then
    retry = wait
    failed = i - 1
  end
end

local out = {0, failed, retry}
if failed >= 0 then
  for i = 1, n do
    local limit, win = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 2])
    out[#out + 1] = math.max(0, limit - sums[i])
    out[#out + 1] = oldest[i] and math.max(0, oldest[i] + win - now) or 0
  end
  return out
end

out[1] = 1
for i = 1, n do
  local z, h = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, cost, win = tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  local sum = sums[i] + cost
  redis.call('ZADD', z, now, ticket)
  -- Every entry leaves the window by now + win, so the keys may go with it.
  redis.call('PEXPIRE', z, win)
  if not (unit[i] and cost == 1) then
    if cost == 1 then
      redis.call('HSET', h, 's', sum)
    else
      redis.call('HSET', h, 's', sum, ticket, cost)
    end
    redis.call('PEXPIRE', h, win)
  end
  out[#out + 1] = math.max(0, limit - sum)
  out[#out + 1] = math.max(0, (oldest[i] or now) + win - now)
end
return out
`);

// KEYS: entry zset, cost hash. ARGV: ticket, new cost. Returns 1 if the entry was found.
export const ADJUST_SCRIPT = script(`
local z, h, ticket = KEYS[1], KEYS[2], ARGV[1]
if not redis.call('ZSCORE', z, ticket) then return 0 end
local new = tonumber(ARGV[2])
local old, sum
if redis.call('HLEN', h) == 0 then
  if new == 1 then return 1 end
  old, sum = 1, redis.call('ZCARD', z)
else
  old = tonumber(redis.call('HGET', h, ticket)) or 1
  sum = tonumber(redis.call('HGET', h, 's')) or 0
end
sum = sum + new - old
if new == 1 then
  redis.call('HDEL', h, ticket)
  redis.call('HSET', h, 's', sum)
else
  redis.call('HSET', h, 's', sum, ticket, new)
end
-- The hash may be new; it must never outlive the entries it describes.
local ttl = redis.call('PTTL', z)
if ttl > 0 then redis.call('PEXPIRE', h, ttl) end
return 1
`);
