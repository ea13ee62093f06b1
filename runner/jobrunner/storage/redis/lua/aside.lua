-- Set aside a key of the wrong type that the queue can do without: a job
-- hash, an owner set, an idempotency key or the rate log (KEYS[7]; ARGV:
-- prefix, the key's name after the prefix, the type it should have, why,
-- keep ms, and for a job hash its id, its dead record and `updated`). The key
-- is renamed jr:{Q}:corrupt:NAME and kept for `keep ms`, the reason is noted
-- in the hash jr:{Q}:corrupt (which `stats` counts), and a job is
-- dead-lettered with a record saying so. Returns 0 when the key has the
-- right type by now (another daemon was first), else 1.
local key, name, want, why, keep = KEYS[7], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local got = redis.call('TYPE', key)['ok']
if got == want or got == 'none' then return 0 end
local id = ARGV[6]
if id ~= '' then sound(1, 2, 3, 5, 6) end
local notes, aside = P .. 'corrupt', P .. 'corrupt:' .. name
local kind = redis.call('TYPE', notes)['ok']
if kind ~= 'hash' and kind ~= 'none' then redis.call('RENAME', notes, P .. 'corrupt:corrupt') end
redis.call('RENAME', key, aside)
redis.call('PEXPIRE', aside, keep)
redis.call('HSET', notes, name, why)
redis.call('PEXPIRE', notes, keep)
if id ~= '' then
  for i = 1, 3 do redis.call('ZREM', KEYS[i], id) end
  redis.pcall('HDEL', P .. 'dlv', id)
  redis.pcall('ZREM', P .. 'kept', id)  -- its dead record is kept by its own TTL
  entomb(id, ARGV[7], ARGV[8], '', keep, clock())
end
return 1
