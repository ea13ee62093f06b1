-- The queue's per-minute tallies (history) from minute ARGV[2] to minute
-- ARGV[3] (epoch seconds / 60) of the outcomes ARGV[4..], the counted ones
-- only, as one JSON object {"MINUTE:OUTCOME": "count", ...}: read here and
-- sent as one string, a day of a hundred queues neither crosses the wire as
-- misses nor as thousands of replies to parse. A stray key where the tallies
-- belong reads as none.
local key = P .. 'history'
if redis.call('TYPE', key)['ok'] ~= 'hash' then return '{}' end
local fields = {}
for minute = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  for i = 4, #ARGV do fields[#fields + 1] = minute .. ':' .. ARGV[i] end
end
local found = {}
for i = 1, #fields, 1000 do
  local last = math.min(i + 999, #fields)
  local counts = redis.call('HMGET', key, unpack(fields, i, last))
  for j = 1, last - i + 1 do
    if counts[j] then found[fields[i + j - 1]] = counts[j] end
  end
end
if next(found) == nil then return '{}' end
return cjson.encode(found)
