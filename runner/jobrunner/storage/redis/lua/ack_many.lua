-- Attempts that ended for good, many of one queue in one step (ARGV: prefix,
-- then seven values a job: id, n, record, state, updated, run_at, keep ms).
-- Each is fenced by its own delivery: only the one named by (id, n) ends it;
-- a stale token changes nothing and answers 0; the same ack repeated (a
-- client retrying after a lost reply) answers 1 again and acts once. Answers
-- 1 or 0 a job, in order. The record is kept for its keep ms; the message,
-- owner and a cancel request are blanked in the same HSET (a record is read
-- from `rec`, and '' reads as no owner and no cancel request).
-- Every key is checked before the first write, most by the read the script
-- needs anyway: per job one HMGET (the fence), one HSET and one PEXPIRE; per
-- call one ZMSCORE, one ZREM, one SREM a holder and one HINCRBY an outcome.
local ids = {}
for i = 2, #ARGV, 7 do ids[#ids + 1] = ARGV[i] end
local leased = read('zset', 'ZMSCORE', KEYS[3], unpack(ids))
local fence = {}
for k, id in ipairs(ids) do
  fence[k] = read('hash', 'HMGET', jobkey(id), 'n', 'owner', 'done', 'cancel')
end
local answers, acting, ended, holders = {}, {}, {}, {}
for k, id in ipairs(ids) do
  local n, f = ARGV[7 * k - 4], fence[k]
  if leased[k] and f[1] == n and not ended[id] then
    ended[id] = n
    acting[#acting + 1] = k
    local owner = f[2]
    if owner and owner ~= '' and not holders[owner] then
      check(P .. 'owner:' .. owner, 'set')
      holders[owner] = {}
    end
    answers[k] = 1
  elseif ended[id] == n or f[3] == 'ack:' .. n then
    answers[k] = 1  -- this same delivery was acknowledged already: nothing more to do
  else
    answers[k] = 0
  end
end
if #acting == 0 then return answers end
local gone, tallies = {}, {}
for _, k in ipairs(acting) do
  local i, id, owner = 7 * k - 5, ids[k], fence[k][2]
  local job = jobkey(id)
  local fields = {'rec', ARGV[i + 2], 'state', ARGV[i + 3], 'updated', ARGV[i + 4],
    'run_at', ARGV[i + 5], 'done', 'ack:' .. ARGV[i + 1], 'msg', '', 'owner', ''}
  if fence[k][4] then fields[#fields + 1], fields[#fields + 2] = 'cancel', '' end
  redis.call('HSET', job, unpack(fields))
  redis.call('PEXPIRE', job, ARGV[i + 6])
  gone[#gone + 1] = id
  if holders[owner] then table.insert(holders[owner], id) end
  local when = tonumber(ARGV[i + 4]) or clock()  -- the record's time: no TIME call
  local minute = math.floor(when / 60) .. ':' .. ARGV[i + 3]
  tallies[minute] = (tallies[minute] or 0) + 1
end
redis.call('ZREM', KEYS[3], unpack(gone))
for owner, held in pairs(holders) do redis.call('SREM', P .. 'owner:' .. owner, unpack(held)) end
for key, count in pairs(tallies) do redis.pcall('HINCRBY', P .. 'history', key, count) end
return answers
