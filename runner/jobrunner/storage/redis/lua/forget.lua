-- Forget up to ARGV[2] acknowledged records whose retention ended: those jr:{Q}:kept
-- (written by ack_many.lua) names with a time before now. Their job hashes, listing
-- entries and kept entries go, each in one command for the batch. An id enqueued or
-- replayed again left kept then (enqueue.lua, replay.lua), so what kept names is a
-- finished record. Returns how many were forgotten; the caller repeats while a full
-- batch was.
local kept = P .. 'kept'
local ids = read('zset', 'ZRANGEBYSCORE', kept, '-inf', clock(), 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return 0 end
check(KEYS[7], 'zset')
local keys = {}
for i, id in ipairs(ids) do keys[i] = jobkey(id) end
redis.call('UNLINK', unpack(keys))
redis.call('ZREM', kept, unpack(ids))
redis.call('ZREM', KEYS[7], unpack(ids))
return #ids
