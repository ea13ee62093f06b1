-- Lease up to ARGV[3] (at least 1) jobs to owner ARGV[2] for ARGV[4] seconds.
-- First promote due scheduled jobs (at most 1000 a call) with the score they
-- got at enqueue, so a delayed job keeps its priority and place; then ZPOPMIN.
-- Each delivery gets a number from the queue's counter (the token's second
-- half). A member without a job hash (a stray writer's bytes) is delivered as
-- is: its message is the member itself. Returns id, n, message, deliveries,
-- has-record, ... and, when it found fewer jobs than asked, one value more:
-- the seconds until the first scheduled job is due, as a string ('' when none
-- waits). KEYS[8] is the queue's pause: while it exists (whatever it holds)
-- the queue leases nothing (an empty reply), so a pause holds for every daemon
-- from the moment it is set.
-- Every key is checked before the first write, most by the read the script
-- needs anyway (`read` in the prelude): per call a few commands, then one
-- HMGET and one HSET a job, one ZADD, one SADD and one HSET of jr:{Q}:dlv (each
-- job's delivery number and owner, which the ack reads for a batch at once; also
-- in the job's hash, so a refused HSET there is harmless) for them all. The keys only
-- written to are checked once there is a job to lease: a call that finds none
-- (another daemon took the job a wake message was for) writes nothing, and
-- costs 6 commands, not 8. The first write is the counter's INCRBY, by as many
-- jobs as ready and due hold up to the count asked, which proves the counter:
-- its refusal writes nothing, and a count out of range writes only that key.
-- Delivery numbers are unique, not consecutive: a stray writer's id in both
-- ready and scheduled is popped once, and its number is skipped.
if redis.call('EXISTS', KEYS[8]) == 1 then return {} end
local want = tonumber(ARGV[3])
local now = clock()
local found = {}  -- job id -> msg, dlv, rec, score, cancel of its hash
local function fetch(id)
  found[id] = read('hash', 'HMGET', jobkey(id), 'msg', 'dlv', 'rec', 'score', 'cancel')
end
local due = read('zset', 'ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do fetch(id) end
local ready = read('zset', 'ZRANGE', KEYS[1], 0, want - 1)
for _, id in ipairs(ready) do fetch(id) end
local first
if next(found) then
  check(KEYS[3], 'zset')
  check(KEYS[7], 'set')
  first = step(KEYS[4], math.min(want, #ready + #due))
end
if #due > 0 then
  local moves = {}
  for _, id in ipairs(due) do
    moves[#moves + 1] = place(found[id][4])
    moves[#moves + 1] = id
  end
  redis.call('ZADD', KEYS[1], unpack(moves))
  redis.call('ZREM', KEYS[2], unpack(due))
end
-- The jobs popped are among those fetched (the first `want` of ready, and the promoted),
-- unless a stray writer put a promoted id in ready too: then one more may be read here.
local popped = {}
if next(found) then popped = redis.call('ZPOPMIN', KEYS[1], want) end
local out = {}
if #popped > 0 then
  local expiry = now + tonumber(ARGV[4])
  local leased, ids, delivery = {}, {}, {}
  for i = 1, #popped, 2 do
    local id, n = popped[i], first + (i + 1) / 2
    if not found[id] then fetch(id) end
    local msg, dlv, rec = unpack(found[id], 1, 3)
    local fields = {'score', popped[i + 1], 'n', n, 'owner', ARGV[2], 'state', 'running',
      'updated', now}
    if not msg then
      msg = id
      fields[#fields + 1], fields[#fields + 2] = 'msg', msg
    end
    redis.call('HSET', jobkey(id), unpack(fields))
    leased[#leased + 1], leased[#leased + 2] = expiry, id
    ids[#ids + 1] = id
    -- A job with a cancel request (made before a release) gets no entry: its ack reads
    -- the hash, and ends the request.
    if (found[id][5] or '') == '' then
      delivery[#delivery + 1], delivery[#delivery + 2] = id, n .. ' ' .. ARGV[2]
    end
    local history = 0
    if rec then history = 1 end
    for _, v in ipairs({id, n, msg, dlv or 0, history}) do out[#out + 1] = v end
  end
  redis.call('ZADD', KEYS[3], unpack(leased))
  redis.call('SADD', KEYS[7], unpack(ids))
  -- Refused (a stray key there) it costs only the ack's shortcut: the hash has the same.
  if #delivery > 0 then redis.pcall('HSET', P .. 'dlv', unpack(delivery)) end
end
if #popped / 2 < want then
  local soonest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local wait = ''
  if soonest[2] then wait = string.format('%.6f', math.max(0, tonumber(soonest[2]) - now)) end
  out[#out + 1] = wait
end
return out
