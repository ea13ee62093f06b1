-- Store jobs, one or up to a thousand a call, each into ready or scheduled, the
-- job listing KEYS[7] (jr:{Q}:jobs, scored by its creation time) and its hash. It
-- has no `rec` yet: until an attempt ends, its record is its message. Producers in
-- other languages call this script too: its keys and arguments are docs/wire.md's.
-- ARGV: prefix, delay (seconds), at (epoch seconds) or '', idempotency ttl (ms),
-- then five values a job: id, message, priority (0-3), created (epoch seconds),
-- 1 when it has an idempotency key, else 0. KEYS: the six queue keys, the listing,
-- then the idempotency key jr:{Q}:idem:KEY of each job that has one, in order.
-- Returns each job's id in order, or the id its idempotency key names already.
-- A job whose id waits or runs (its hash's state says so) is left alone, so a
-- client retrying after a lost reply stores nothing twice; a finished one is
-- stored anew. The idempotency keys and the ready (or scheduled) set are read
-- first, each read checking its key's type (`read`). The first write is the
-- counter's INCRBY (by as many jobs as may be stored: numbers only order jobs, a
-- gap is harmless), whose refusal writes nothing (one that finds a count out of
-- range writes only that key); the second the listing's ZADD NX, whose refusal (a
-- stray key there) leaves only the counter's step. A job hash the listing did not
-- name is proved by its HSET (one job) or by one EXISTS for the call (more); one
-- it named is read. A refusal there (a stray writer's key) stops the call before
-- it stores a job: the listing's new entries then name no hash, and the listing
-- drops such an entry when it meets it.
local LIVE = {queued = true, scheduled = true, running = true, retrying = true}
local delay, at, ttl = tonumber(ARGV[2]), ARGV[3], ARGV[4]
-- A job due now needs no clock: it is ready whatever the time, and its `updated` and
-- `run_at` are its `created` (the producer's clock; TIME when that is 0, no time). A
-- delay or a due time reads the Redis clock, so every daemon measures the wait on one.
local now, run_at, state, ring = nil, nil, 'queued', KEYS[1]
if delay ~= 0 or at ~= '' then
  now = clock()
  run_at = now + delay
  if at ~= '' then run_at = tonumber(at) end
  if run_at > now then state, ring = 'scheduled', KEYS[2] end
end
local out, took, claimed, taken = {}, {}, {}, {}  -- took: ARGV places of jobs to store
local keyed = {}  -- by ARGV place: the job's idempotency key
local k = 7
for i = 5, #ARGV, 5 do
  local id, n = ARGV[i], #out + 1
  local p, created = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  if not (p and p >= 0 and p <= 99 and p == math.floor(p) and created and created == created
      and created ~= math.huge and created ~= -math.huge) then
    error({err = 'ERR enqueue: job ' .. n
      .. ' needs a whole priority 0-99 and a finite created time'})
  end
  local key, earlier = nil, false
  if ARGV[i + 4] == '1' then
    k = k + 1
    key = KEYS[k]
    if not (tonumber(ttl) and tonumber(ttl) >= 1) then
      error({err = 'ERR enqueue: an idempotency key needs a ttl of 1 ms or more'})
    end
    earlier = claimed[key] or read('string', 'GET', key)
  end
  if earlier then
    out[n] = earlier
  else
    out[n] = id
    if key then claimed[key], keyed[i] = id, key end
    took[#took + 1] = i
  end
end
if #took == 0 then return out end
local first
if state == 'queued' then
  first = read('zset', 'ZCARD', ring)
else
  first = read('zset', 'ZRANGE', ring, 0, 0, 'WITHSCORES')[2]
end
-- The listing has every job whose hash exists (an entry goes only once its hash is gone),
-- so the listing's ZADD NX is also the look for an earlier job of the same id: when it
-- adds every id of the call, none has a hash (the usual case: one command, no read of a
-- hash). Otherwise each job's state is read: one that waits or runs is left alone.
local listed = {}
for j, i in ipairs(took) do listed[2 * j - 1], listed[2 * j] = ARGV[i + 3], ARGV[i] end
local seq = step(KEYS[4], #took)
local new = read('zset', 'ZADD', KEYS[7], 'NX', unpack(listed)) == #took
local fresh, was, live, old = took, {}, {}, false
if new and #took > 1 then  -- one EXISTS proves no job key holds another writer's value
  local keys = {}
  for j, i in ipairs(took) do keys[j] = jobkey(ARGV[i]) end
  if redis.call('EXISTS', unpack(keys)) > 0 then new = false end  -- then each is read below
end
if not new then
  fresh = {}
  for _, i in ipairs(took) do
    local id = ARGV[i]
    local state_was = taken[id] or read('hash', 'HGET', jobkey(id), 'state')
    taken[id] = 'queued'
    if not LIVE[state_was] then
      fresh[#fresh + 1] = i
      if state_was then was[i], old = true, true end
    elseif keyed[i] then
      live[#live + 1] = i
    end
  end
end
if #fresh > 0 then
  if old then sound(5, 6) end
  if not new then  -- an id listed before gets its new creation time, and no longer
    listed = {}    -- the retention of its last record (or `expire` would forget it)
    for j, i in ipairs(fresh) do listed[2 * j - 1], listed[2 * j] = ARGV[i + 3], ARGV[i] end
    redis.call('ZADD', KEYS[7], unpack(listed))
    local ids = {}
    for j = 2, #listed, 2 do ids[#ids + 1] = listed[j] end
    redis.pcall('ZREM', P .. 'kept', unpack(ids))  -- a stray key there: nothing to take out
  end
  -- Waiters sleep only after seeing nothing ready: wake them when ready stops being
  -- empty, or when a new earliest scheduled job appears.
  if (state == 'queued' and first == 0)
      or (state == 'scheduled' and (not first or run_at < tonumber(first))) then
    redis.call('PUBLISH', P .. 'wake', '1')
  end
  local placed = {}
  local now_s, run_s, untimed
  if now then now_s, run_s = string.format('%.17g', now), string.format('%.17g', run_at) end
  for j, i in ipairs(fresh) do
    local id = ARGV[i]
    if was[i] then  -- a finished job of the same id: its record and dead entries go
      redis.call('ZREM', KEYS[5], id)
      redis.call('ZREM', KEYS[6], id)
      redis.call('DEL', jobkey(id))
    end
    local score = string.format('%.17g', tonumber(ARGV[i + 2]) * 1e13 + seq + j)
    local updated = now_s
    if not now then
      local created = tonumber(ARGV[i + 3])
      if created <= 0 then  -- a producer that gave no time (0): the Redis clock's
        untimed = untimed or string.format('%.17g', clock())
        updated = untimed
      else
        updated = string.format('%.17g', created)
      end
    end
    placed[2 * j - 1], placed[2 * j] = state == 'queued' and score or run_s, id
    -- Not read before when the listing did not have the id: HSET proves the key's type.
    local set = redis.pcall('HSET', jobkey(id), 'msg', ARGV[i + 1], 'score', score, 'owner', '',
      'dlv', 0, 'state', state, 'updated', updated, 'run_at', run_s or updated)
    if type(set) == 'table' then
      broken(jobkey(id), 'hash', redis.call('TYPE', jobkey(id))['ok'])
    end
    if keyed[i] then redis.call('SET', keyed[i], id, 'PX', ttl) end
  end
  redis.call('ZADD', ring, unpack(placed))
end
for _, i in ipairs(live) do redis.call('SET', keyed[i], ARGV[i], 'PX', ttl) end
return out
