-- Herald: enqueue one or more jobs, creating each task as `queued` together with its stream
-- entry (or its delayed entry when run_at is in the future). An idempotency key seen before
-- returns the earlier task id and enqueues nothing. A task_id already in use (by an existing
-- task or by an earlier job of the same call) is an error: the jobs before it in the call are
-- enqueued, it and those after it are not.
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
--
-- Cost: a job without an idempotency key or run_at is one HSET and one XADD; whether any task
-- of the call exists already is one EXISTS for the whole call, and the account indexes get one
-- ZADD per account per call.
local now_ms, ttl, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if not now_ms or not n then return redis.error_reply('ERR ARGV[1] and ARGV[3] must be numbers') end
local now = tostring(now_ms)  -- written as Lua writes a number
local stream = KEYS[1]
local out, seen, index = {}, {}, {}

-- Runs `cmd key` with the values list[1..], at most 1000 (an even number) a call.
local function in_parts(cmd, key, list)
  for from = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, from, math.min(#list, from + 999)))
  end
end

-- One look for the whole call; a job's own EXISTS only when some task of the call exists.
local tasks, existing = {}, 0
for i = 1, n do tasks[i] = KEYS[i * 3] end
for from = 1, n, 1000 do
  existing = existing + redis.call('EXISTS', unpack(tasks, from, math.min(n, from + 999)))
end
local clash = existing > 0

-- Adds the jobs enqueued so far to their accounts' task indexes (score: now).
local function add_to_indexes()
  for key, members in pairs(index) do in_parts('ZADD', key, members) end
end

for i = 0, n - 1 do
  local a = 4 + i * 7
  local task_id, jtype, account, body = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local total, idem, run_at = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  local task_key, index_key = KEYS[3 + i * 3], KEYS[4 + i * 3]
  if total == '' then total = '0' end
  local earlier = idem ~= '' and redis.call('GET', KEYS[5 + i * 3])
  if earlier then
    out[i + 1] = {earlier, 0}
  elseif seen[task_key] or (clash and redis.call('EXISTS', task_key) == 1) then
    add_to_indexes()
    return redis.error_reply('ERR task_id ' .. task_id .. ' is already in use')
  else
    seen[task_key] = true
    local due = (run_at ~= '' and run_at ~= '0') and tonumber(run_at) or 0
    local delay = due > now_ms
    if idem == '' and not delay then
      -- The usual job. Counters and the cursor start absent, which reads as 0.
      redis.call('HSET', task_key, 'v', '1', 'type', jtype, 'account', account, 'status',
                 'queued', 'total', total, 'created_at', now)
      redis.call('XADD', stream, '*', 'v', '1', 'type', jtype, 'task_id', task_id, 'account',
                 account, 'body', body)
    else
      local task = {'v', '1', 'type', jtype, 'account', account, 'status', 'queued', 'total',
                    total, 'created_at', now}
      local fields = {'v', '1', 'type', jtype, 'task_id', task_id, 'account', account, 'body',
                      body}
      if idem ~= '' then
        redis.call('SET', KEYS[5 + i * 3], task_id, 'PX', ttl)
        task[#task + 1] = 'idempotency_key'
        task[#task + 1] = idem
        fields[#fields + 1] = 'idempotency_key'
        fields[#fields + 1] = idem
      end
      if delay then
        task[#task + 1] = 'run_at'
        task[#task + 1] = due
      end
      redis.call('HSET', task_key, unpack(task))
      if delay then
        local job = {}
        for f = 1, #fields, 2 do job[fields[f]] = fields[f + 1] end
        redis.call('ZADD', KEYS[2], due, cjson.encode(job))
      else
        redis.call('XADD', stream, '*', unpack(fields))
      end
    end
    local members = index[index_key]
    if not members then
      members = {}
      index[index_key] = members
    end
    members[#members + 1] = now
    members[#members + 1] = task_id
    out[i + 1] = {task_id, 1}
  end
end
add_to_indexes()
return out
