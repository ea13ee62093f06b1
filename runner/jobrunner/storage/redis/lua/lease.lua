-- Lease up to ARGV[3] jobs to owner ARGV[2] for ARGV[4] seconds. First
-- promote due scheduled jobs (at most 1000 a call) with the score they got at
-- enqueue, so a delayed job keeps its priority and place; then ZPOPMIN. Each
-- delivery gets a number from the queue's counter (the token's second half).
-- A member without a job hash (a stray writer's bytes) is delivered as is:
-- its message is the member itself. Every key is checked before the first
-- write (see `sound` in the prelude). Returns id, n, message, deliveries,
-- has-record, ...
-- KEYS[8] is the queue's pause: while it exists (whatever it holds) the queue
-- leases nothing, so a pause holds for every daemon from the moment it is set.
if redis.call('EXISTS', KEYS[8]) == 1 then return {} end
sound(1, 2, 3, 4)
check(KEYS[7], 'set')
local now = clock()
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do hashed(id) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)) do hashed(id) end
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], score(id), id)
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
  local msg, dlv, rec = unpack(redis.call('HMGET', job, 'msg', 'dlv', 'rec'))
  if not msg then
    msg = id
    redis.call('HSET', job, 'msg', msg)
  end
  redis.call('HSET', job, 'score', popped[i + 1], 'n', n, 'owner', ARGV[2],
    'state', 'running', 'updated', now)
  redis.call('ZADD', KEYS[3], expiry, id)
  redis.call('SADD', KEYS[7], id)
  local history = 0
  if rec then history = 1 end
  for _, v in ipairs({id, n, msg, dlv or 0, history}) do out[#out + 1] = v end
end
return out
