-- Heartbeat: push the expiry of the leases owner ARGV[2] holds in this queue to
-- now + ARGV[3]. With ARGV[4..] (pairs of job id and delivery number: the leases
-- the daemon knows it holds), only those, while they are still its deliveries; a
-- lease it got without knowing (a lost reply, a failover that undid and redid
-- it) is left to expire, and its job runs again. Without them, every lease of
-- its set, forgetting entries that are no longer its leases.
sound(3)
check(KEYS[7], 'set')
local expiry = clock() + tonumber(ARGV[3])
local count = 0
if #ARGV >= 5 then
  for i = 4, #ARGV - 1, 2 do
    local id, n = ARGV[i], ARGV[i + 1]
    if redis.call('ZSCORE', KEYS[3], id) then
      local f = read('hash', 'HMGET', jobkey(id), 'owner', 'n')
      if f[1] == ARGV[2] and f[2] == n then
        redis.call('ZADD', KEYS[3], expiry, id)
        count = count + 1
      end
    end
  end
  return count
end
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
