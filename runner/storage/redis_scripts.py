"""The Lua scripts of the Redis storage: each one is one atomic step on one queue.

Every queue script receives the same six keys, all under the queue's hash tag
(so a script touches one cluster slot only):

    KEYS[1] jr:{Q}:ready       zset  job id -> priority * 1e13 + seq (ZPOPMIN = next job)
    KEYS[2] jr:{Q}:scheduled   zset  job id -> run_at (epoch seconds)
    KEYS[3] jr:{Q}:leased      zset  job id -> lease expiry (epoch seconds)
    KEYS[4] jr:{Q}:seq         counter: FIFO order, delivery numbers, rate-log members
    KEYS[5] jr:{Q}:dead        zset  job id -> the dead record's `updated` (listing order)
    KEYS[6] jr:{Q}:dead-until  zset  job id -> end of retention (for `expire`)

and a seventh where it needs one (the owner's set jr:{Q}:owner:OWNER, or the
idempotency key jr:{Q}:idem:KEY). ARGV[1] is the prefix `jr:{Q}:`, from
which a script derives the keys named by job ids: the job hash
jr:{Q}:job:ID (fields: msg, score, n, owner, dlv, rec, state, updated,
run_at), the owner sets, and the wake channel jr:{Q}:wake. All times come
from Redis `TIME`, never from a host clock; Lua numbers reach Redis as
"%.17g" text, so they keep full precision, but a float *returned* by a script
would be truncated to an integer: times are returned as strings.
"""

from __future__ import annotations

# Shared by every queue script: the clock, the job hash, adding to ready or
# scheduled (publishing a wake message when waiters need one), ending a
# delivery, and writing a dead record.
PRELUDE = """
local P = ARGV[1]
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function jobkey(id) return P .. 'job:' .. id end
local function held(id, n)
  return redis.call('ZSCORE', KEYS[3], id) and (redis.call('HGET', jobkey(id), 'n') or '') == n
end
local function unlease(id)
  local owner = redis.call('HGET', jobkey(id), 'owner')
  if redis.call('ZREM', KEYS[3], id) == 1 and owner then
    redis.call('SREM', P .. 'owner:' .. owner, id)
  end
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
  redis.call('ZADD', KEYS[5], updated, id)
  redis.call('ZADD', KEYS[6], now + tonumber(keep_ms) / 1000, id)
  redis.call('PEXPIRE', job, keep_ms)
end
"""

# Store a job (ARGV: prefix, id, message, priority, delay, at or '', ttl ms).
# It has no `rec` yet: until an attempt ends, its record is its message.
# With KEYS[7] (the idempotency key): SET NX PX first, and return the id it
# already names. A job already waiting or leased is left alone, so a client
# retrying after a lost reply does not queue it twice.
ENQUEUE = (
    PRELUDE
    + """
local id = ARGV[2]
if KEYS[7] and not redis.call('SET', KEYS[7], id, 'NX', 'PX', ARGV[7]) then
  return redis.call('GET', KEYS[7])
end
if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)
    or redis.call('ZSCORE', KEYS[3], id) then
  return id
end
local now = clock()
local score = tonumber(ARGV[4]) * 1e13 + redis.call('INCR', KEYS[4])
local run_at = now + tonumber(ARGV[5])
if ARGV[6] ~= '' then run_at = tonumber(ARGV[6]) end
local state = 'queued'
if run_at > now then
  state = 'scheduled'
  schedule(id, run_at)
else
  ready(id, score)
end
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[6], id)
local job = jobkey(id)
redis.call('DEL', job)
redis.call('HSET', job, 'msg', ARGV[3], 'score', score, 'owner', '', 'dlv', 0,
  'state', state, 'updated', now, 'run_at', run_at)
return id
"""
)

# Lease up to ARGV[3] jobs to owner ARGV[2] for ARGV[4] seconds. First
# promote due scheduled jobs (at most 1000 a call) with the score they got at
# enqueue, so a delayed job keeps its priority and place; then ZPOPMIN. Each
# delivery gets a number from the queue's counter (the token's second half).
# A member without a job hash (a stray writer's bytes) is delivered as is:
# its message is the member itself. Returns id, n, message, deliveries, ...
LEASE = (
    PRELUDE
    + """
local now = clock()
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], redis.call('HGET', jobkey(id), 'score') or 2e13, id)
end
if #due > 0 then redis.call('ZREM', KEYS[2], unpack(due)) end
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[3])
if #popped == 0 then return {} end
local first = redis.call('INCRBY', KEYS[4], #popped / 2) - #popped / 2
local expiry = now + tonumber(ARGV[4])
local out = {}
for i = 1, #popped, 2 do
  local id, n = popped[i], first + (i + 1) / 2
  local job = jobkey(id)
  local msg, dlv = unpack(redis.call('HMGET', job, 'msg', 'dlv'))
  if not msg then
    msg = id
    redis.call('HSET', job, 'msg', msg)
  end
  redis.call('HSET', job, 'score', popped[i + 1], 'n', n, 'owner', ARGV[2],
    'state', 'running', 'updated', now)
  redis.call('ZADD', KEYS[3], expiry, id)
  redis.call('SADD', KEYS[7], id)
  for _, v in ipairs({id, n, msg, dlv or 0}) do out[#out + 1] = v end
end
return out
"""
)

# Heartbeat: push the expiry of every lease owner ARGV[2] holds in this queue
# to now + ARGV[3]; forget entries of its set that are no longer its leases.
EXTEND = (
    PRELUDE
    + """
local expiry = clock() + tonumber(ARGV[3])
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  if redis.call('ZSCORE', KEYS[3], id) and redis.call('HGET', jobkey(id), 'owner') == ARGV[2] then
    redis.call('ZADD', KEYS[3], expiry, id)
    count = count + 1
  else
    redis.call('SREM', KEYS[7], id)
  end
end
return count
"""
)

# The attempt ended (ARGV: prefix, id, n, record, state, updated, run_at,
# keep ms). Only the delivery named by (id, n) can end it: a stale token
# changes nothing and returns 0; the same call repeated (a client retrying
# after a lost reply) returns 1 again. The message is dropped, the record kept.
ACK = (
    PRELUDE
    + """
local id = ARGV[2]
local ended = settle(id, ARGV[3], 'ack')
if ended < 1 then return -ended end
local job = jobkey(id)
redis.call('HDEL', job, 'msg', 'owner')
redis.call('HSET', job, 'rec', ARGV[4], 'state', ARGV[5], 'updated', ARGV[6], 'run_at', ARGV[7])
redis.call('PEXPIRE', job, ARGV[8])
return 1
"""
)

# End a delivery and store the next attempt in one step (ARGV: prefix, id, n,
# message, priority, delay, record, state, updated): after `delay` seconds of
# Redis time, with a new place in the FIFO order, as a fresh message.
RETRY = (
    PRELUDE
    + """
local id = ARGV[2]
local ended = settle(id, ARGV[3], 'retry')
if ended < 1 then return -ended end
local now = clock()
local score = tonumber(ARGV[5]) * 1e13 + redis.call('INCR', KEYS[4])
local run_at = now + tonumber(ARGV[6])
if run_at > now then schedule(id, run_at) else ready(id, score) end
local job = jobkey(id)
redis.call('HSET', job, 'msg', ARGV[4], 'score', score, 'owner', '', 'dlv', 0,
  'rec', ARGV[7], 'state', ARGV[8], 'updated', ARGV[9], 'run_at', run_at)
redis.call('PERSIST', job)
return 1
"""
)

# Into the dead-letter queue (ARGV: prefix, id, n or '', record, updated,
# run_at, keep ms). With a delivery number, only that delivery can bury it
# (settled like ACK);
# without one, the job also leaves ready/scheduled if it waits there.
BURY = (
    PRELUDE
    + """
local id = ARGV[2]
if ARGV[3] ~= '' then
  local ended = settle(id, ARGV[3], 'bury')
  if ended < 1 then return -ended end
else
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
entomb(id, ARGV[4], ARGV[5], ARGV[6], ARGV[7], clock())
return 1
"""
)

# Clean shutdown: every lease owner ARGV[2] holds here goes back to ready at
# its old place, at once (no `lost` attempt, no delivery counted).
RELEASE = (
    PRELUDE
    + """
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  local job = jobkey(id)
  if redis.call('ZSCORE', KEYS[3], id) and redis.call('HGET', job, 'owner') == ARGV[2] then
    redis.call('ZREM', KEYS[3], id)
    ready(id, redis.call('HGET', job, 'score') or 2e13)
    redis.call('HSET', job, 'owner', '', 'state', 'queued')
    count = count + 1
  end
end
redis.call('DEL', KEYS[7])
return count
"""
)

# Reclaim, step 1 (read only): up to ARGV[2] leases whose expiry passed.
# Returns the Redis time, then per lease: id, n, owner, dlv, rec, state,
# updated, run_at (nil when absent), msg (the message only without a record).
EXPIRED = (
    PRELUDE
    + """
local now = clock()
local out = {string.format('%.6f', now)}
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('(%.6f', now),
  'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', jobkey(id), 'n', 'owner', 'dlv', 'rec', 'state', 'updated',
    'run_at')
  local msg = ''
  if not f[4] then msg = redis.call('HGET', jobkey(id), 'msg') or id end
  for _, v in ipairs({id, f[1] or '', f[2] or '', f[3] or 0}) do out[#out + 1] = v end
  for i = 4, 7 do out[#out + 1] = f[i] end
  out[#out + 1] = msg
end
return out
"""
)

# Reclaim, step 2: apply the records the caller built with `lost()` /
# `buried_lost()` (ARGV: prefix, then per lease: id, n, 'queue' | 'dead',
# record or '', state, updated, run_at, keep ms) -- but only to a delivery
# that is still the same one and still expired (compare-and-set: a heartbeat,
# ack or another reclaimer in between wins). Returns the ids moved.
REQUEUE_LOST = (
    PRELUDE
    + """
local now, moved = clock(), {}
for i = 2, #ARGV, 8 do
  local id, rec = ARGV[i], ARGV[i + 3]
  local expiry = redis.call('ZSCORE', KEYS[3], id)
  if expiry and tonumber(expiry) < now and held(id, ARGV[i + 1]) then
    unlease(id)
    local job = jobkey(id)
    if ARGV[i + 2] == 'dead' then
      entomb(id, rec, ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], now)
    else
      ready(id, redis.call('HGET', job, 'score') or 2e13)
      redis.call('HINCRBY', job, 'dlv', 1)
      redis.call('HSET', job, 'owner', '', 'state', ARGV[i + 4], 'updated', ARGV[i + 5],
        'run_at', ARGV[i + 6])
      if rec ~= '' then redis.call('HSET', job, 'rec', rec) end
    end
    moved[#moved + 1] = id
  end
end
return moved
"""
)

# Put a dead job back as a fresh first attempt (ARGV: prefix, id, the record
# the caller read, the new record, the new message, priority). Compare-and-set
# on the record, so a concurrent replay or purge makes this one return 0.
REPLAY = (
    PRELUDE
    + """
local id = ARGV[2]
local job = jobkey(id)
local f = redis.call('HMGET', job, 'state', 'rec')
if f[1] ~= 'dead' or f[2] ~= ARGV[3] then return 0 end
for i = 5, 6 do redis.call('ZREM', KEYS[i], id) end
redis.call('ZREM', KEYS[2], id)
unlease(id)
local now = clock()
local score = tonumber(ARGV[6]) * 1e13 + redis.call('INCR', KEYS[4])
ready(id, score)
redis.call('HSET', job, 'msg', ARGV[5], 'score', score, 'owner', '', 'dlv', 0,
  'rec', ARGV[4], 'state', 'queued', 'updated', now, 'run_at', now)
redis.call('PERSIST', job)
return 1
"""
)

# Delete dead jobs: job ARGV[2], or else up to ARGV[3] of them. Returns
# {deleted, examined}; the caller repeats while a full batch was examined.
PURGE = (
    PRELUDE
    + """
local ids = {ARGV[2]}
if ARGV[2] == '' then ids = redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[3]) - 1) end
local deleted = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[5], id) == 1 then
    redis.call('ZREM', KEYS[6], id)
    if redis.call('HGET', jobkey(id), 'state') == 'dead' then
      deleted = deleted + redis.call('DEL', jobkey(id))
    end
  end
end
return {deleted, #ids}
"""
)

# Forget up to ARGV[2] dead jobs whose retention ended (their hash may
# already be gone through its TTL). Returns how many were forgotten.
EXPIRE_DEAD = (
    PRELUDE
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', clock(), 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
  if redis.call('HGET', jobkey(id), 'state') == 'dead' then redis.call('DEL', jobkey(id)) end
end
return #ids
"""
)

# Counts for `stats`: ready (including scheduled jobs already due),
# scheduled (not yet due), running, dead.
STATS = (
    PRELUDE
    + """
local now = clock()
local due = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local later = redis.call('ZCOUNT', KEYS[2], string.format('(%.6f', now), '+inf')
return {redis.call('ZCARD', KEYS[1]) + due, later, redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[5])}
"""
)

# Sliding-window rate limit (KEYS: jr:{Q}:rate, jr:{Q}:seq; ARGV: prefix,
# count, period): a log of start times. Returns '0' when a start was taken,
# else the seconds until the oldest start leaves the window.
TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local count, period = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < count then
  redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return string.format('%.6f', math.max(0.001, tonumber(oldest[2]) + period - now))
"""
