-- Counts for `stats`: ready (including scheduled jobs already due),
-- scheduled (not yet due), running, dead, and keys set aside (aside.lua);
-- then since when the longest-waiting ready job has been due ('' if none).
-- That time is read from the first PEEK jobs in line at each priority and
-- the earliest due scheduled job, not from every ready job: a job that waits
-- behind the first PEEK of its priority has waited no longer than they have,
-- except when a retry or a lost lease put an older job back at the head.
sound(1, 2, 3, 5)
local PEEK = 8
local now = clock()
local due = redis.call('ZCOUNT', KEYS[2], '-inf', now)
local later = redis.call('ZCOUNT', KEYS[2], string.format('(%.6f', now), '+inf')
local oldest = nil
local first = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
if first[2] then oldest = tonumber(first[2]) end
local bands = {{'-inf', '(1e13'}, {'1e13', '(2e13'}, {'2e13', '(3e13'}, {'3e13', '+inf'}}
for _, band in ipairs(bands) do
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], band[1], band[2], 'LIMIT', 0, PEEK)) do
    local since = redis.pcall('HGET', jobkey(id), 'run_at')  -- a stray key may be no hash
    since = type(since) == 'string' and tonumber(since) or nil
    if since and since == since and since <= now and (not oldest or since < oldest) then
      oldest = since
    end
  end
end
return {redis.call('ZCARD', KEYS[1]) + due, later, redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[5]), aside_count(), oldest and string.format('%.6f', oldest) or ''}
