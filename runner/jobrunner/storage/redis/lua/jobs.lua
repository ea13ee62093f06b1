-- Read the job hashes of listed ids (ARGV: prefix, then the ids, found in the job
-- listing KEYS[7], jr:{Q}:jobs, by the caller). Returns six values an id: its state of
-- storage ('ok', 'gone' or 'bad'), then for 'ok' the fields rec, state, updated,
-- run_at and msg; for 'bad' (a stray writer's key of another type) that type.
-- A 'gone' id (its hash expired, or was purged) leaves the listing here, in the
-- same step that saw it gone, so a job enqueued again meanwhile keeps its entry.
local listing = KEYS[7]
check(listing, 'zset')
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local got = redis.call('TYPE', jobkey(id))['ok']
  if got == 'none' then
    redis.call('ZREM', listing, id)
    for _, v in ipairs({'gone', false, false, false, false, false}) do out[#out + 1] = v end
  elseif got ~= 'hash' then
    for _, v in ipairs({'bad', got, false, false, false, false}) do out[#out + 1] = v end
  else
    local f = redis.call('HMGET', jobkey(id), 'rec', 'state', 'updated', 'run_at', 'msg')
    out[#out + 1] = 'ok'
    for k = 1, 5 do out[#out + 1] = f[k] end
  end
end
return out
