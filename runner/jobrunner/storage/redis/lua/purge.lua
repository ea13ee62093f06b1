-- Delete dead jobs: job ARGV[2], or else up to ARGV[3] of them, and their
-- entries in the job listing KEYS[7] (jr:{Q}:jobs). Returns {deleted, examined};
-- the caller repeats while a full batch was examined.
sound(5, 6)
local listing = KEYS[7]
check(listing, 'zset')
local ids = {ARGV[2]}
if ARGV[2] == '' then ids = redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[3]) - 1) end
local deleted = 0
for _, id in ipairs(ids) do hashed(id) end
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[5], id) == 1 then
    redis.call('ZREM', KEYS[6], id)
    if redis.call('HGET', jobkey(id), 'state') == 'dead' then
      deleted = deleted + redis.call('DEL', jobkey(id))
      redis.call('ZREM', listing, id)
    end
  end
end
return {deleted, #ids}
