-- Herald: a delivery of a job failed (its handler threw); the reason is kept on the task for the
-- dead letter it may become, and the delivery counted when start.lua did not count it. Only the
-- job's own task, and only while it runs or waits: a finished (or expired) task is left alone.
--
-- KEYS[1] task hash   KEYS[2] the queued hash
-- ARGV[1] task_id   ARGV[2] account   ARGV[3] origin (the entry's, as start.lua reads it)
-- ARGV[4] the reason   ARGV[5] 1 when the job ran without start.lua, else 0
-- Returns 1 when noted, 0 when the task is not this job's or not running.
local f = redis.call('HMGET', KEYS[1], 'status', 'account', 'origin')
local account, origin = ARGV[2], ARGV[3]
if (f[2] and f[2] ~= account) or (f[3] and f[3] ~= origin) then return 0 end
if f[1] then
  if f[1] ~= 'processing' and f[1] ~= 'queued' then return 0 end
elseif ARGV[5] ~= '1' then
  return 0
else
  local record = redis.call('HGET', KEYS[2], ARGV[1])
  if record then
    local r_entry, r_account = string.match(record, '^(%S+) %S+ (%S+) ')
    if r_entry ~= origin or r_account ~= account then return 0 end
  end
end
redis.call('HSET', KEYS[1], 'last_error', ARGV[4], 'account', account, 'origin', origin)
if ARGV[5] == '1' then redis.call('HINCRBY', KEYS[1], 'deliveries', 1) end
return 1
