-- Trim the job listing KEYS[7], jr:{Q}:jobs (for `expire`): of up to ARGV[3] entries
-- created after ARGV[2] (a score, '-inf' to start), oldest first, drop those whose
-- job hash is gone (expired by its TTL). Returns {dropped, the score of the last
-- entry looked at, or '' when the listing ended}: the caller goes on from there
-- at its next call, so every entry is looked at in turn, a batch a call.
local listing = KEYS[7]
check(listing, 'zset')
local from = ARGV[2]
if from ~= '-inf' then from = '(' .. from end
local seen = redis.call('ZRANGEBYSCORE', listing, from, '+inf', 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[3]))
local dropped = 0
for i = 1, #seen, 2 do
  if redis.call('EXISTS', jobkey(seen[i])) == 0 then
    dropped = dropped + redis.call('ZREM', listing, seen[i])
  end
end
local last = ''
if #seen >= 2 * tonumber(ARGV[3]) then last = seen[#seen] end
return {dropped, last}
