-- Put a dead or cancelled job back as a fresh first attempt (ARGV: prefix, id, the record
-- the caller read, the new record, the new message, priority). Compare-and-set
-- on the record, so a concurrent replay or purge makes this one return 0.
local id = ARGV[2]
sound(1, 2, 3, 4, 5, 6)
hashed(id)
local job = jobkey(id)
local f = redis.call('HMGET', job, 'state', 'rec')
if (f[1] ~= 'dead' and f[1] ~= 'cancelled') or f[2] ~= ARGV[3] then return 0 end
for i = 5, 6 do redis.call('ZREM', KEYS[i], id) end
redis.pcall('ZREM', P .. 'kept', id)  -- a cancelled job's record may be kept (forget.lua)
redis.call('ZREM', KEYS[2], id)
unlease(id)
local now = clock()
local score = tonumber(ARGV[6]) * 1e13 + redis.call('INCR', KEYS[4])
ready(id, score)
redis.call('HSET', job, 'msg', ARGV[5], 'score', score, 'owner', '', 'dlv', 0,
  'rec', ARGV[4], 'state', 'queued', 'updated', now, 'run_at', now)
redis.call('HDEL', job, 'cancel')
redis.call('PERSIST', job)
return 1
