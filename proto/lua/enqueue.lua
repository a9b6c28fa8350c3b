-- Herald: enqueue one or more jobs, creating each task as `queued` together with its stream
-- entry (or its delayed entry when run_at is in the future). An idempotency key seen before
-- returns the earlier task id and enqueues nothing.
--
-- KEYS[1]  {P}:{Q}:jobs       the stream
-- KEYS[2]  {P}:{Q}:delayed    the delayed sorted set
-- then per job, three keys:
--   task hash    P:{Q}:task:<task_id>
--   task index   P:{Q}:tasks:<account>
--   idempotency  P:{Q}:idem:<account>:<idempotency_key>  (any key of the queue's slot when none)
-- ARGV[1] now (ms since the epoch)   ARGV[2] task_ttl (ms)   ARGV[3] n (jobs in this call)
-- then per job, seven values:
--   task_id, type, account, body (JSON), total (items; '' when the worker will count them),
--   idempotency_key ('' for none), run_at (ms since the epoch; '' or '0' for now)
-- Returns, per job: {task_id, 1 when enqueued now | 0 when the key returned an earlier task}
local now, ttl, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 0, n - 1 do
  local a = 4 + i * 7
  local task_id, jtype, account, body = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local total, idem, run_at = ARGV[a + 4], ARGV[a + 5], tonumber(ARGV[a + 6]) or 0
  local task_key, index_key, idem_key = KEYS[3 + i * 3], KEYS[4 + i * 3], KEYS[5 + i * 3]
  local earlier = idem ~= '' and redis.call('GET', idem_key)
  if earlier then
    out[#out + 1] = {earlier, 0}
  elseif redis.call('EXISTS', task_key) == 1 then
    return redis.error_reply('ERR task_id ' .. task_id .. ' is already in use')
  else
    -- Counters and the cursor start absent, which reads as 0.
    redis.call('HSET', task_key, 'v', 1, 'type', jtype, 'account', account, 'status', 'queued',
               'total', total == '' and 0 or total, 'created_at', now)
    redis.call('ZADD', index_key, now, task_id)
    local fields = {'v', '1', 'type', jtype, 'task_id', task_id, 'account', account, 'body', body}
    if idem ~= '' then
      redis.call('SET', idem_key, task_id, 'PX', ttl)
      redis.call('HSET', task_key, 'idempotency_key', idem)
      fields[#fields + 1] = 'idempotency_key'
      fields[#fields + 1] = idem
    end
    if run_at > now then
      redis.call('HSET', task_key, 'run_at', run_at)
      local job = {}
      for f = 1, #fields, 2 do job[fields[f]] = fields[f + 1] end
      redis.call('ZADD', KEYS[2], run_at, cjson.encode(job))
    else
      redis.call('XADD', KEYS[1], '*', unpack(fields))
    end
    out[#out + 1] = {task_id, 1}
  end
end
return out
