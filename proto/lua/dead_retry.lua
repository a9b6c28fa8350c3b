-- Herald: puts a dead letter back on the stream as it was first enqueued, and its task back to
-- `queued` with its delivery count reset, keeping its cursor, counters and item outcomes. The
-- letter's task must be the one it failed (its `dead_letter` is this letter, and its account
-- the letter's); a task id now held by another task refuses the retry. A task that expired
-- meanwhile is made anew, as `queued`. The new entry is the task's origin from now on.
--
-- KEYS[1] the dead-letter stream   KEYS[2] the stream   KEYS[3] task hash   KEYS[4] task items
-- KEYS[5] the queued hash   KEYS[6] the account's task index
-- KEYS[7] the job's idempotency key (KEYS[2] when it has none)
-- ARGV[1] dead-letter entry id   ARGV[2] now (ms)   ARGV[3] index_max
-- Returns the new stream entry's id, or nil when there is no such dead letter; an error when
-- the task id is another task's now, or the letter kept no body.
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then return false end
local fields, keep, job = entry[1][2], {}, {}
local skip = {entry_id = true, reason = true, deliveries = true, dead_at = true, origin = true,
              retry_of = true}
for f = 1, #fields, 2 do
  job[fields[f]] = fields[f + 1]
  if not skip[fields[f]] then
    keep[#keep + 1] = fields[f]
    keep[#keep + 1] = fields[f + 1]
  end
end
if job.body_bytes then
  return redis.error_reply('ERR dead letter ' .. ARGV[1] .. ': its body (' .. job.body_bytes
                           .. ' bytes, over max_job_bytes) was not kept; it cannot run again')
end
local f = redis.call('HMGET', KEYS[3], 'status', 'account', 'dead_letter')
if f[1] or f[2] then
  -- The task this letter failed: its dead_letter is this one (or, for a task failed by other
  -- means, it is failed and has none), and it is of the letter's account.
  local failed_by_it = f[3] == ARGV[1] or (not f[3] and f[1] == 'failed')
  if not failed_by_it or f[2] ~= job.account then
    return redis.error_reply('ERR task_id ' .. tostring(job.task_id)
                             .. ' is in use by another task')
  end
elseif redis.call('HEXISTS', KEYS[5], job.task_id or '') == 1 then
  return redis.error_reply('ERR task_id ' .. tostring(job.task_id) .. ' is in use by another task')
end
local id = redis.call('XADD', KEYS[2], '*', unpack(keep))
redis.call('XDEL', KEYS[1], ARGV[1])
if f[1] then
  redis.call('HSET', KEYS[3], 'status', 'queued', 'deliveries', 0, 'origin', id)
  redis.call('HDEL', KEYS[3], 'error_text', 'finished_at', 'expires_at', 'dead_letter',
             'last_error', 'entry')
  redis.call('PERSIST', KEYS[3])
  redis.call('PERSIST', KEYS[4])
else
  redis.call('HSET', KEYS[3], 'v', '1', 'type', job.type or '', 'account', job.account or '',
             'status', 'queued', 'total', 0, 'origin', id, 'created_at', ARGV[2])
  redis.call('LPUSH', KEYS[6], job.task_id)
  redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[3]) - 1)
end
if KEYS[7] ~= KEYS[2] then
  -- The key lives as long as its task again (it may have expired with a letter's old task).
  local holder = redis.call('GET', KEYS[7])
  if holder == job.task_id then
    redis.call('PERSIST', KEYS[7])
  elseif not holder then
    redis.call('SET', KEYS[7], job.task_id)
  end
end
return id
