-- Herald: cancels a task of an account. Items already processed keep their outcomes; a worker
-- running it stops at its next chunk. Every entry of its job that the task knows of goes at
-- once: its stream entry (queued, or the one a worker runs: the worker's commit then finds the
-- task cancelled and stops) and its delayed entry, so that no entry outlives the task and runs
-- it again once it expires. A task still a queued record (enqueue.lua) gets its hash here,
-- cancelled, and the record goes. Its idempotency key expires with it.
--
-- KEYS[1] task hash   KEYS[2] task items   KEYS[3] the queued hash   KEYS[4] the stream
-- KEYS[5] the delayed set   KEYS[6] the task's idempotency key P:{Q}:idem:<account>:<key>
--   (KEYS[4] when it has none; the caller reads the task's idempotency_key first)
-- KEYS[7] the scheduled sends P:{Q}:sends   KEYS[8] their batches P:{Q}:send_bodies
-- KEYS[9] the task's batches P:{Q}:task:<id>:sends
-- A task whose sends wait (a trigger run with `timeout`) is cancelled even once it completed:
-- the batches go, their items end `skipped: cancelled`, and nothing of them is sent.
-- ARGV[1] account   ARGV[2] now (ms)   ARGV[3] task_ttl (ms)   ARGV[4] task_id
-- Returns the task's status after the call ('cancelled', or the final status it already had),
-- or nil when the account has no such task.
local f = redis.call('HMGET', KEYS[1], 'account', 'status', 'entry', 'origin', 'delayed',
                     'idempotency_key')
-- Its scheduled batches: removed, each item's outcome replaced; returns how many items.
local function drop_sends()
  local ids = redis.call('SMEMBERS', KEYS[9])
  local n = 0
  for _, id in ipairs(ids) do
    local body = redis.call('HGET', KEYS[8], id)
    redis.call('HDEL', KEYS[8], id)
    redis.call('ZREM', KEYS[7], id)
    if body then
      for _, m in ipairs(cjson.decode(body).messages) do
        local o = {index = m.item, outcome = 'skipped', code = 'cancelled'}
        if m.profile_id then o.profile_id = m.profile_id end
        redis.call('ZREMRANGEBYSCORE', KEYS[2], m.item, m.item)
        redis.call('ZADD', KEYS[2], m.item, cjson.encode(o))
        n = n + 1
      end
    end
  end
  redis.call('DEL', KEYS[9])
  if n > 0 then
    redis.call('HINCRBY', KEYS[1], 'scheduled', -n)
    redis.call('HINCRBY', KEYS[1], 'skipped', n)
  end
  return n
end
local record = not f[2] and redis.call('HGET', KEYS[3], ARGV[4])
local entries = {}
if record then
  -- `entry_id total account type`
  local entry, total, account, jtype = string.match(record, '^(%S+) (%S+) (%S+) (.*)$')
  if account ~= ARGV[1] then return false end
  redis.call('HSET', KEYS[1], 'v', '1', 'type', jtype, 'account', account, 'origin', entry,
             'total', total, 'created_at', string.match(entry, '^(%d+)-') or ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[4])
  entries[#entries + 1] = entry
elseif f[1] ~= ARGV[1] then
  return false
elseif f[2] == 'completed' and redis.call('SCARD', KEYS[9]) > 0 then
  drop_sends()
  redis.call('HSET', KEYS[1], 'status', 'cancelled')
  return 'cancelled'
elseif f[2] == 'completed' or f[2] == 'failed' or f[2] == 'cancelled' then
  return f[2]
end
drop_sends()
-- The job's entries: the one a worker runs, and the first one (a stream id; a delayed job's
-- origin is a token, and its entry is the delayed member).
if f[3] then entries[#entries + 1] = f[3] end
if f[4] and f[4] ~= f[3] and string.match(f[4], '^%d+%-%d+$') then
  entries[#entries + 1] = f[4]
end
if #entries > 0 then redis.call('XDEL', KEYS[4], unpack(entries)) end
if f[5] then redis.call('ZREM', KEYS[5], f[5]) end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[2],
           'expires_at', tonumber(ARGV[2]) + ttl)
redis.call('HDEL', KEYS[1], 'delayed')
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
if f[6] and KEYS[6] ~= KEYS[4] then redis.call('PEXPIRE', KEYS[6], ttl) end
return 'cancelled'
