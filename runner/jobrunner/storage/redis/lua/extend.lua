-- Heartbeat: push the expiry of every lease owner ARGV[2] holds in this queue
-- to now + ARGV[3]; forget entries of its set that are no longer its leases.
sound(3)
check(KEYS[7], 'set')
local expiry = clock() + tonumber(ARGV[3])
local count = 0
local mine = redis.call('SMEMBERS', KEYS[7])
for _, id in ipairs(mine) do hashed(id) end
for _, id in ipairs(mine) do
  if redis.call('ZSCORE', KEYS[3], id) and redis.call('HGET', jobkey(id), 'owner') == ARGV[2] then
    redis.call('ZADD', KEYS[3], expiry, id)
    count = count + 1
  else
    redis.call('SREM', KEYS[7], id)
  end
end
return count
