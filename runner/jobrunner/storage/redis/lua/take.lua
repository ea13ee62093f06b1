-- Sliding-window rate limit (KEYS[7]: jr:{Q}:rate, a log of start times;
-- KEYS[4] the queue's counter names each start; ARGV: prefix, count,
-- period). Returns '0' when a start was taken, else the seconds until the
-- oldest start leaves the window.
sound(4)
check(KEYS[7], 'zset')
local now = clock()
local count, period = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - period)
if redis.call('ZCARD', KEYS[7]) < count then
  redis.call('ZADD', KEYS[7], now, redis.call('INCR', KEYS[4]))
  redis.call('PEXPIRE', KEYS[7], math.ceil(period * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
return string.format('%.6f', math.max(0.001, tonumber(oldest[2]) + period - now))
