-- Reclaim, step 2: apply the records the caller built with `lost()` /
-- `buried_lost()` (ARGV: prefix, then per lease: id, n, 'queue' | 'dead',
-- record or '', state, updated, run_at, keep ms) -- but only to a delivery
-- that is still the same one and still expired (compare-and-set: a heartbeat,
-- ack or another reclaimer in between wins). Returns the ids moved.
sound(1, 3, 5, 6)
for i = 2, #ARGV, 8 do hashed(ARGV[i]) end
local now, moved = clock(), {}
for i = 2, #ARGV, 8 do
  local id, rec = ARGV[i], ARGV[i + 3]
  local expiry = redis.call('ZSCORE', KEYS[3], id)
  if expiry and tonumber(expiry) < now and held(id, ARGV[i + 1]) then
    unlease(id)
    local job = jobkey(id)
    if ARGV[i + 2] == 'dead' then
      entomb(id, rec, ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], now)
      tally('dead', now)
    else
      ready(id, score(id))
      redis.call('HSET', job, 'dlv', (tonumber(redis.call('HGET', job, 'dlv')) or 0) + 1)
      redis.call('HSET', job, 'owner', '', 'state', ARGV[i + 4], 'updated', ARGV[i + 5],
        'run_at', ARGV[i + 6])
      if rec ~= '' then redis.call('HSET', job, 'rec', rec) end
      tally('lost', now)
    end
    moved[#moved + 1] = id
  end
end
return moved
