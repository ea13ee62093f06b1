-- Shared by every queue script: the clock, the job hash, checking key types,
-- adding to ready or scheduled (publishing a wake message when waiters need
-- one), ending a delivery, and writing a dead record.
local P = ARGV[1]
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function jobkey(id) return P .. 'job:' .. id end
-- A key of the wrong type (a stray writer's) stops a script before it writes
-- anything, with an error naming the key (in hex: it may be any bytes): the
-- caller sets a key it can do without aside (a job hash, an owner set, an
-- idempotency key, the rate log) and calls again; any other key marks the
-- queue broken until it is fixed.
local function broken(key, want, got)
  local hex = string.gsub(key, '.', function(c) return string.format('%02x', string.byte(c)) end)
  error({err = 'BROKEN ' .. want .. ' ' .. got .. ' ' .. hex})
end
local function check(key, want)
  local got = redis.call('TYPE', key)['ok']
  if got ~= want and got ~= 'none' then broken(key, want, got) end
end
-- A read that checks its key's type on the way (one command, not TYPE and the read):
-- `cmd` fails on a key of another type than `want`, before the caller writes anything.
local function read(want, cmd, key, ...)
  local got = redis.pcall(cmd, key, ...)
  if type(got) == 'table' and got.err then
    local is = redis.call('TYPE', key)['ok']
    if is ~= want then broken(key, want, is) end
    error(got)
  end
  return got
end
-- The counter must hold an integer that INCR accepts and a score can carry exactly.
local function counted(key, v)
  if v and not (v == '0' or (string.match(v, '^[1-9]%d*$') and #v <= 12)) then
    broken(key, 'counter', 'string')
  end
end
-- Add `by` to the counter as a script's first write (its INCRBY proves the key: no GET
-- first); the value before it. A refusal (a stray key there) writes nothing; a count out
-- of range is refused after it, having written only that key.
local function step(key, by)
  local last = redis.pcall('INCRBY', key, by)
  if type(last) == 'table' then
    local is = redis.call('TYPE', key)['ok']
    if is ~= 'string' then broken(key, 'string', is) end
    broken(key, 'counter', 'string')
  end
  counted(key, tostring(last - by))
  return last - by
end
local function counter(key)
  check(key, 'string')
  counted(key, redis.call('GET', key))
end
-- The queue keys (positions in KEYS) a script uses, before it writes. The job
-- listing jr:{Q}:jobs (a zset) is KEYS[7] of the scripts that use it (enqueue,
-- purge, jobs, sweep), which check it themselves: KEYS[7] is another key elsewhere.
local TYPES = {'zset', 'zset', 'zset', 'counter', 'zset', 'zset'}
local function sound(...)
  for _, i in ipairs({...}) do
    if i == 4 then counter(KEYS[4]) else check(KEYS[i], TYPES[i]) end
  end
end
local function hashed(id) check(jobkey(id), 'hash') end
-- A job's place in the ready set; a stray writer's bytes put it after every real job.
local function place(stored)
  local s = tonumber(stored)
  if not s or s ~= s or s == math.huge or s == -math.huge then return 2e13 end
  return s
end
local function score(id) return place(redis.call('HGET', jobkey(id), 'score')) end
local function held(id, n)
  return redis.call('ZSCORE', KEYS[3], id) and (redis.call('HGET', jobkey(id), 'n') or '') == n
end
-- End the job's lease: out of leased, its owner's set and jr:{Q}:dlv (the delivery the
-- ack reads; a stray key there costs only that entry: the ack then reads the job hash).
local function unlease(id)
  local owner = redis.call('HGET', jobkey(id), 'owner')
  if owner then check(P .. 'owner:' .. owner, 'set') end
  if redis.call('ZREM', KEYS[3], id) == 1 and owner then
    redis.call('SREM', P .. 'owner:' .. owner, id)
  end
  redis.pcall('HDEL', P .. 'dlv', id)
end
-- Waiters sleep only after seeing no ready job, so a wake message is needed
-- only when ready stops being empty or a new earliest scheduled job appears.
local function ready(id, score)
  if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('PUBLISH', P .. 'wake', '1') end
  redis.call('ZADD', KEYS[1], score, id)
end
local function schedule(id, run_at)
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if not first[2] or run_at < tonumber(first[2]) then redis.call('PUBLISH', P .. 'wake', '1') end
  redis.call('ZADD', KEYS[2], run_at, id)
end
-- End delivery n of job id by `op`: 1 when it held the job, 0 when the token
-- is stale, -1 when this same call already ended it (a retried request).
local function settle(id, n, op)
  local job = jobkey(id)
  if held(id, n) then
    unlease(id)
    redis.call('HDEL', job, 'cancel')  -- a cancel request ends with the delivery it was for
    redis.call('HSET', job, 'done', op .. ':' .. n)
    return 1
  end
  if redis.call('HGET', job, 'done') == op .. ':' .. n then return -1 end
  return 0
end
local function entomb(id, rec, updated, run_at, keep_ms, now)
  local job = jobkey(id)
  redis.call('HDEL', job, 'msg', 'owner')
  redis.call('HSET', job, 'rec', rec, 'state', 'dead', 'updated', updated, 'run_at', run_at)
  local when = tonumber(updated)
  if not when or when ~= when then when = now end
  redis.call('ZADD', KEYS[5], when, id)
  redis.call('ZADD', KEYS[6], now + tonumber(keep_ms) / 1000, id)
  redis.call('PEXPIRE', job, keep_ms)
end
-- How many keys aside.lua set aside in this queue (noted in jr:{Q}:corrupt).
local function aside_count()
  local n = redis.pcall('HLEN', P .. 'corrupt')
  if type(n) == 'number' then return n end
  return 0
end
-- Count an attempt's outcome in this minute's tally (history, for the charts): one
-- command; a stray key where the tallies belong costs the count, never the settlement.
local function tally(outcome, now)
  redis.pcall('HINCRBY', P .. 'history', math.floor(now / 60) .. ':' .. outcome, 1)
end
