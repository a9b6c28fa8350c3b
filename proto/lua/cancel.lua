-- Herald: cancels a task of an account. Items already processed keep their outcomes; a worker
-- running it stops at its next chunk, and an entry not yet started is dropped when picked up.
-- A task still a queued record (enqueue.lua) gets its hash here, cancelled, and the record goes.
--
-- KEYS[1] task hash   KEYS[2] task items   KEYS[3] the queued hash
-- ARGV[1] account   ARGV[2] now (ms)   ARGV[3] task_ttl (ms)   ARGV[4] task_id
-- Returns the task's status after the call ('cancelled', or the final status it already had),
-- or nil when the account has no such task.
local f = redis.call('HMGET', KEYS[1], 'account', 'status')
local record = not f[2] and redis.call('HGET', KEYS[3], ARGV[4])
if record then
  -- `entry_id total account type`
  local entry, total, account, jtype = string.match(record, '^(%S+) (%S+) (%S+) (.*)$')
  if account ~= ARGV[1] then return false end
  redis.call('HSET', KEYS[1], 'v', '1', 'type', jtype, 'account', account, 'total', total,
             'created_at', string.match(entry, '^(%d+)-') or ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[4])
elseif f[1] ~= ARGV[1] then
  return false
elseif f[2] == 'completed' or f[2] == 'failed' or f[2] == 'cancelled' then
  return f[2]
end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[2],
           'expires_at', tonumber(ARGV[2]) + ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 'cancelled'
