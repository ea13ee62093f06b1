-- Reclaim, step 1 (read only): up to ARGV[2] leases whose expiry passed.
-- Returns the Redis time, then per lease: id, n, owner, dlv, rec, state,
-- updated, run_at (nil when absent), msg (the message only without a record).
sound(3)
local now = clock()
local out = {string.format('%.6f', now)}
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', string.format('(%.6f', now),
  'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  hashed(id)
  local f = redis.call('HMGET', jobkey(id), 'n', 'owner', 'dlv', 'rec', 'state', 'updated',
    'run_at')
  local msg = ''
  if not f[4] then msg = redis.call('HGET', jobkey(id), 'msg') or id end
  for _, v in ipairs({id, f[1] or '', f[2] or '', f[3] or 0}) do out[#out + 1] = v end
  for i = 4, 7 do out[#out + 1] = f[i] end
  out[#out + 1] = msg
end
return out
