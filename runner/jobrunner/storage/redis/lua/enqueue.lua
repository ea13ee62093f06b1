-- Store a job (ARGV: prefix, id, message, priority, delay, at or '', ttl ms,
-- created): in ready or scheduled, and in the job listing KEYS[7] (jr:{Q}:jobs,
-- scored by `created`, the job's creation time in epoch seconds).
-- It has no `rec` yet: until an attempt ends, its record is its message.
-- With KEYS[8] (the idempotency key): SET NX PX first, and return the id it
-- already names. A job already waiting or leased is left alone, so a client
-- retrying after a lost reply does not queue it twice.
local id = ARGV[2]
sound(1, 2, 3, 4, 5, 6)
check(KEYS[7], 'zset')
if KEYS[8] then check(KEYS[8], 'string') end
hashed(id)
if KEYS[8] and not redis.call('SET', KEYS[8], id, 'NX', 'PX', ARGV[7]) then
  return redis.call('GET', KEYS[8])
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
redis.call('ZADD', KEYS[7], tonumber(ARGV[8]), id)
redis.call('HSET', job, 'msg', ARGV[3], 'score', score, 'owner', '', 'dlv', 0,
  'state', state, 'updated', now, 'run_at', run_at)
return id
