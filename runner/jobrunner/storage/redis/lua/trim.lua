-- Forget the queue's per-minute tallies (history) of minutes before ARGV[2]
-- (a minute number: epoch seconds / 60); a field that names no minute goes
-- too. Returns how many fields went. A stray key where the tallies belong is
-- left alone: the counts are lost, and nothing else.
local key = P .. 'history'
if redis.call('TYPE', key)['ok'] ~= 'hash' then return 0 end
local cutoff, old = tonumber(ARGV[2]), {}
for _, field in ipairs(redis.call('HKEYS', key)) do
  local minute = tonumber(string.match(field, '^(%d+):'))
  if not minute or minute < cutoff then old[#old + 1] = field end
end
for i = 1, #old, 1000 do
  redis.call('HDEL', key, unpack(old, i, math.min(i + 999, #old)))
end
return #old
