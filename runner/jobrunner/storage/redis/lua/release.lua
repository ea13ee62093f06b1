-- Clean shutdown: every lease owner ARGV[2] holds here goes back to ready at
-- its old place, at once (no `lost` attempt, no delivery counted).
sound(1, 3)
check(KEYS[7], 'set')
local count = 0
local mine = redis.call('SMEMBERS', KEYS[7])
for _, id in ipairs(mine) do hashed(id) end
for _, id in ipairs(mine) do
  local job = jobkey(id)
  if redis.call('ZSCORE', KEYS[3], id) and redis.call('HGET', job, 'owner') == ARGV[2] then
    redis.call('ZREM', KEYS[3], id)
    ready(id, score(id))
    redis.call('HSET', job, 'owner', '', 'state', 'queued')
    redis.pcall('HDEL', P .. 'dlv', id)
    count = count + 1
  end
end
redis.call('DEL', KEYS[7])
return count
