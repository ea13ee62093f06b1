-- Counts for `stats`: ready (including scheduled jobs already due),
-- scheduled (not yet due), running, dead, and keys set aside (aside.lua).
sound(1, 2, 3, 5)
local now = clock()
local due = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local later = redis.call('ZCOUNT', KEYS[2], string.format('(%.6f', now), '+inf')
return {redis.call('ZCARD', KEYS[1]) + due, later, redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[5]), aside_count()}
