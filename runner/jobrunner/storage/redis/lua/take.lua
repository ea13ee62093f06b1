-- Sliding-window rate limit (KEYS: jr:{Q}:rate, jr:{Q}:seq; ARGV: prefix,
-- count, period): a log of start times. Returns '0' when a start was taken,
-- else the seconds until the oldest start leaves the window.
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local count, period = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
if redis.call('ZCARD', KEYS[1]) < count then
  redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return string.format('%.6f', math.max(0.001, tonumber(oldest[2]) + period - now))
