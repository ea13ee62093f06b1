-- End a delivery and store the next attempt in one step (ARGV: prefix, id, n,
-- message, priority, delay, record, state, updated): after `delay` seconds of
-- Redis time, with a new place in the FIFO order, as a fresh message.
local id = ARGV[2]
sound(1, 2, 3, 4)
hashed(id)
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
tally('retried', now)
return 1
