-- Attempts that ended for good, many of one queue in one step (ARGV: prefix,
-- then seven values a job: id, n, record, state, updated, run_at, keep ms).
-- Each is fenced by its own delivery: only the one named by (id, n) ends it;
-- a stale token changes nothing and answers 0; the same ack repeated (a
-- client retrying after a lost reply) answers 1 again and acts once. Answers
-- 1 or 0 a job, in order. The record is kept for its keep ms; the message,
-- owner and a cancel request are blanked in the same HSET (a record is read
-- from `rec`, and '' reads as no owner and no cancel request).
-- Every key is checked before the first write, most by the read the script
-- needs anyway. The fence is jr:{Q}:dlv, the delivery number and owner the lease
-- wrote for each job it leased (one HMGET for the call): a job in leased whose
-- entry names delivery n is held by that delivery, as its hash's `n` would say
-- (the lease writes both; nothing else writes `n`). A job without that entry (a
-- stale or repeated ack, a cancel request, a stray key set aside) is fenced by
-- its hash, as before: one HMGET more. A record is kept for its keep ms by an
-- entry in jr:{Q}:kept (scored by when it may go, on the record's clock), which
-- `expire` (forget.lua) sweeps: one ZADD a call, not a PEXPIRE a job; the hash notes
-- its keep ms too, for the case kept is lost (sweep.lua). So per job
-- one HSET; per call one ZMSCORE, one HMGET and one HDEL of dlv, one TYPE and one
-- ZADD of kept, one ZREM, one SREM a holder and one HINCRBY an outcome.
local ids = {}
for i = 2, #ARGV, 7 do ids[#ids + 1] = ARGV[i] end
local leased = read('zset', 'ZMSCORE', KEYS[3], unpack(ids))
local delivered = read('hash', 'HMGET', P .. 'dlv', unpack(ids))
local fence = {}  -- n, owner, done, cancel of each job: from dlv, or else its hash
for k, id in ipairs(ids) do
  local n, owner = string.match(delivered[k] or '', '^(%d+) (.*)$')
  if leased[k] and n == ARGV[7 * k - 4] then
    fence[k] = {n, owner, false, false}
  else
    fence[k] = read('hash', 'HMGET', jobkey(id), 'n', 'owner', 'done', 'cancel')
  end
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
local kept = P .. 'kept'
check(kept, 'zset')
local gone, keep, tallies, spoilt = {}, {}, {}, nil
for _, k in ipairs(acting) do
  local i, id, owner = 7 * k - 5, ids[k], fence[k][2]
  local job = jobkey(id)
  local fields = {'rec', ARGV[i + 2], 'state', ARGV[i + 3], 'updated', ARGV[i + 4],
    'run_at', ARGV[i + 5], 'done', 'ack:' .. ARGV[i + 1], 'msg', '', 'owner', '',
    'keep', ARGV[i + 6]}  -- so the sweep can give it back its kept entry if kept is lost
  if fence[k][4] then fields[#fields + 1], fields[#fields + 2] = 'cancel', '' end
  -- A hash fenced by dlv was not read: its HSET proves it. One a stray writer replaced
  -- stays leased, and once the others are settled the call fails naming it (below).
  if type(redis.pcall('HSET', job, unpack(fields))) == 'table' then
    spoilt = spoilt or job
  else
    gone[#gone + 1] = id
    if holders[owner] then table.insert(holders[owner], id) end
    local when = tonumber(ARGV[i + 4])  -- the record's time: no TIME call
    if not when or when ~= when then when = clock() end
    keep[#keep + 1], keep[#keep + 2] = when + (tonumber(ARGV[i + 6]) or 0) / 1000, id
    local minute = math.floor(when / 60) .. ':' .. ARGV[i + 3]
    tallies[minute] = (tallies[minute] or 0) + 1
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[3], unpack(gone))
  redis.call('HDEL', P .. 'dlv', unpack(gone))
  redis.call('ZADD', kept, unpack(keep))
end
for owner, held in pairs(holders) do
  if #held > 0 then redis.call('SREM', P .. 'owner:' .. owner, unpack(held)) end
end
for key, count in pairs(tallies) do redis.pcall('HINCRBY', P .. 'history', key, count) end
-- The caller sets the key aside and calls again: the jobs settled here answer 1 again.
if spoilt then broken(spoilt, 'hash', redis.call('TYPE', spoilt)['ok']) end
return answers
