-- Forget up to ARGV[2] dead jobs whose retention ended (their hash may
-- already be gone through its TTL). Returns how many were forgotten.
sound(5, 6)
local ids = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', clock(), 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do hashed(id) end
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
  if redis.call('HGET', jobkey(id), 'state') == 'dead' then redis.call('DEL', jobkey(id)) end
end
return #ids
