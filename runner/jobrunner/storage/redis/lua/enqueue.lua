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
-- stored anew. Every key is read before the first write, each read checking its
-- key's type (`read`); the first write is the counter's INCRBY, whose refusal
-- writes nothing (one that finds a count out of range writes only that key), the
-- second the listing's ZADD, whose refusal (a stray key there) leaves only the
-- counter's step: a gap in its numbers, which only order jobs.
local LIVE = {queued = true, scheduled = true, running = true, retrying = true}
local delay, at, ttl = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = clock()
local run_at = now + delay
if at ~= '' then run_at = tonumber(at) end
local state, ring = 'queued', KEYS[1]
if run_at > now then state, ring = 'scheduled', KEYS[2] end
local out, fresh, claimed, taken = {}, {}, {}, {}  -- fresh: ARGV places of jobs to store
local keyed, was, live = {}, {}, {}  -- by ARGV place: idempotency key, earlier state
local k, old = 7, false
for i = 5, #ARGV, 5 do
  local id, n = ARGV[i], #out + 1
  local p, created = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  if not (p and p >= 0 and p <= 99 and p == math.floor(p) and created and created == created) then
    error({err = 'ERR enqueue: job ' .. n .. ' needs a whole priority 0-99 and a created time'})
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
    local state_was = taken[id] or read('hash', 'HGET', jobkey(id), 'state')
    taken[id], out[n] = 'queued', id
    if key then claimed[key], keyed[i] = id, key end
    if not LIVE[state_was] then
      fresh[#fresh + 1] = i
      if state_was then was[i], old = true, true end
    elseif key then
      live[#live + 1] = i
    end
  end
end
if #fresh > 0 then
  local first
  if state == 'queued' then
    first = read('zset', 'ZCARD', ring)
  else
    first = read('zset', 'ZRANGE', ring, 0, 0, 'WITHSCORES')[2]
  end
  if old then sound(5, 6) end
  local seq = step(KEYS[4], #fresh)
  local listed = {}
  for j, i in ipairs(fresh) do listed[2 * j - 1], listed[2 * j] = ARGV[i + 3], ARGV[i] end
  read('zset', 'ZADD', KEYS[7], unpack(listed))
  -- Waiters sleep only after seeing nothing ready: wake them when ready stops being
  -- empty, or when a new earliest scheduled job appears.
  if (state == 'queued' and first == 0)
      or (state == 'scheduled' and (not first or run_at < tonumber(first))) then
    redis.call('PUBLISH', P .. 'wake', '1')
  end
  local placed = {}
  local now_s, run_s = string.format('%.17g', now), string.format('%.17g', run_at)
  for j, i in ipairs(fresh) do
    local id = ARGV[i]
    if keyed[i] then redis.call('SET', keyed[i], id, 'PX', ttl) end
    if was[i] then  -- a finished job of the same id: its record and dead entries go
      redis.call('ZREM', KEYS[5], id)
      redis.call('ZREM', KEYS[6], id)
      redis.call('DEL', jobkey(id))
    end
    local score = string.format('%.17g', tonumber(ARGV[i + 2]) * 1e13 + seq + j)
    placed[2 * j - 1], placed[2 * j] = state == 'queued' and score or run_s, id
    redis.call('HSET', jobkey(id), 'msg', ARGV[i + 1], 'score', score, 'owner', '', 'dlv', 0,
      'state', state, 'updated', now_s, 'run_at', run_s)
  end
  redis.call('ZADD', ring, unpack(placed))
end
for _, i in ipairs(live) do redis.call('SET', keyed[i], ARGV[i], 'PX', ttl) end
return out
