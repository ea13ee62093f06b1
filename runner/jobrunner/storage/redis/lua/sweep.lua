-- Trim the job listing KEYS[7], jr:{Q}:jobs (for `expire`): of up to ARGV[3] entries
-- created after ARGV[2] (a score, '-inf' to start), oldest first, drop those whose
-- job hash is gone (expired by its TTL). Returns {dropped, the score of the last
-- entry looked at, or '' when the listing ended}: the caller goes on from there
-- at its next call, so every entry is looked at in turn, a batch a call.
-- On the way, an acknowledged record (its hash notes its keep ms, ack_many.lua) that
-- jr:{Q}:kept does not name, and no TTL ends, gets its kept entry back: kept was set
-- aside (a stray writer's key there), and with it the entries that would forget them.
local LIVE = {queued = true, scheduled = true, running = true, retrying = true}
local listing = KEYS[7]
check(listing, 'zset')
local from = ARGV[2]
if from ~= '-inf' then from = '(' .. from end
local seen = redis.call('ZRANGEBYSCORE', listing, from, '+inf', 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[3]))
local function finite(v)
  local n = tonumber(v)
  if n and n == n and n ~= math.huge and n ~= -math.huge then return n end
end
local dropped, finished = 0, {}
for i = 1, #seen, 2 do
  local id = seen[i]
  local got = redis.pcall('HMGET', jobkey(id), 'state', 'updated', 'keep')
  if got.err == nil and not got[1] and redis.call('EXISTS', jobkey(id)) == 0 then
    dropped = dropped + redis.call('ZREM', listing, id)
  elseif got.err == nil and got[3] and not LIVE[got[1]] then
    finished[#finished + 1] = {id, finite(got[2]), finite(got[3])}
  end
end
if #finished > 0 then
  local kept = P .. 'kept'
  check(kept, 'zset')
  local ids = {}
  for k, f in ipairs(finished) do ids[k] = f[1] end
  local named, back = redis.call('ZMSCORE', kept, unpack(ids)), {}
  for k, f in ipairs(finished) do
    local id, updated, keep = f[1], f[2], f[3]
    if not named[k] and updated and keep and redis.call('PTTL', jobkey(id)) == -1 then
      back[#back + 1], back[#back + 2] = updated + keep / 1000, id
    end
  end
  if #back > 0 then redis.call('ZADD', kept, unpack(back)) end
end
local last = ''
if #seen >= 2 * tonumber(ARGV[3]) then last = seen[#seen] end
return {dropped, last}
