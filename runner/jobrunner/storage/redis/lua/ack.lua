-- The attempt ended (ARGV: prefix, id, n, record, state, updated, run_at,
-- keep ms). Only the delivery named by (id, n) can end it: a stale token
-- changes nothing and returns 0; the same call repeated (a client retrying
-- after a lost reply) returns 1 again. The message is dropped, the record kept.
local id = ARGV[2]
sound(3)
hashed(id)
local ended = settle(id, ARGV[3], 'ack')
if ended < 1 then return -ended end
local job = jobkey(id)
redis.call('HDEL', job, 'msg', 'owner')
redis.call('HSET', job, 'rec', ARGV[4], 'state', ARGV[5], 'updated', ARGV[6], 'run_at', ARGV[7])
redis.call('PEXPIRE', job, ARGV[8])
tally(ARGV[5], tonumber(ARGV[6]) or clock())  -- the record's time: no TIME call
return 1
