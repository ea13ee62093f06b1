-- Cancel a job (ARGV: prefix, id, the record the caller read, the cancelled
-- record, its `updated`, keep ms). A leased job gets the field `cancel`, which
-- the daemon holding it reads; a waiting one leaves ready or scheduled and its
-- record becomes the cancelled one, compare-and-set on the record read, so a
-- job that moved on meanwhile returns 'changed' (the caller reads it again).
local id = ARGV[2]
sound(1, 2, 3)
hashed(id)
local job = jobkey(id)
if redis.call('ZSCORE', KEYS[3], id) then
  redis.call('HSET', job, 'cancel', '1')
  redis.pcall('HDEL', P .. 'dlv', id)  -- its ack reads the job hash, and ends the request
  return 'requested'
end
if not (redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)) then
  if redis.call('EXISTS', job) == 1 then return 'finished' end
  return 'unknown'
end
if (redis.call('HGET', job, 'rec') or '') ~= ARGV[3] then return 'changed' end
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', job, 'msg', 'owner', 'cancel')
redis.call('HSET', job, 'rec', ARGV[4], 'state', 'cancelled', 'updated', ARGV[5], 'run_at', '')
redis.call('PEXPIRE', job, ARGV[6])
return 'cancelled'
