-- Into the dead-letter queue (ARGV: prefix, id, n or '', record, updated,
-- run_at, keep ms). With a delivery number, only that delivery can bury it
-- (settled like ACK);
-- without one, the job also leaves ready/scheduled if it waits there.
local id = ARGV[2]
sound(1, 2, 3, 5, 6)
hashed(id)
if ARGV[3] ~= '' then
  local ended = settle(id, ARGV[3], 'bury')
  if ended < 1 then return -ended end
else
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local now = clock()
entomb(id, ARGV[4], ARGV[5], ARGV[6], ARGV[7], now)
tally('dead', now)
return 1
