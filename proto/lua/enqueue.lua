-- Herald: enqueue one or more jobs, creating each task as `queued` together with its stream
-- entry (or its delayed entry when run_at is in the future). An idempotency key seen before
-- returns the earlier task id and enqueues nothing. A task_id already in use (by an existing
-- task or by an earlier job of the same call) is an error: the jobs before it in the call are
-- enqueued, it and those after it are not.
--
-- A job due now without an idempotency key is the usual one: its task is a record in the
-- queued hash (`entry_id total account type`) until a worker starts it and makes it a task
-- hash. A job with an idempotency key or a run_at in the future gets its task hash at once.
--
-- KEYS[1] {P}:{Q}:jobs     the stream
-- KEYS[2] {P}:{Q}:delayed  the delayed sorted set
-- KEYS[3] {P}:{Q}:queued   the queued hash
-- KEYS[4 .. 3+m]           the task index P:{Q}:tasks:<account> of each account of the call
-- then per job of kind 'c' (below), two keys:
--   task hash    P:{Q}:task:<task_id>
--   idempotency  P:{Q}:idem:<account>:<idempotency_key>  (any key of the queue's slot when none)
-- ARGV[1] now (ms since the epoch)   ARGV[2] task_ttl (ms)
-- ARGV[3] index_max: each account's task index keeps its newest index_max task ids
-- ARGV[4] m, then ARGV[5 .. 4+m] the accounts, in the order of their index keys
-- then n (jobs in this call), then per job its kind and values:
--   'n' task_id, type, account, body, total ('' when the worker will count them): a new task
--       id (a random UUID the caller made), due now, no idempotency key; not looked up
--   'c' task_id, type, account, body, total, idempotency_key ('' for none), run_at (ms since
--       the epoch; '' or '0' for now): checked against the tasks that exist
-- Returns, per job: 1 when enqueued now, or the earlier task id an idempotency key returned.
--
-- Cost: a job of kind 'n' is one XADD; the call adds one HSET of the queued records, and one
-- LPUSH and one LTRIM per account.
local now_ms, ttl, index_max = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local m = tonumber(ARGV[4])
if not now_ms or not index_max or not m then
  return redis.error_reply('ERR ARGV[1], ARGV[3] and ARGV[4] must be numbers')
end
local n = tonumber(ARGV[5 + m])
if not n then return redis.error_reply('ERR ARGV[' .. (5 + m) .. '] must be the number of jobs') end
local stream, queued = KEYS[1], KEYS[3]

-- Per account: its index key and the ids enqueued for it (pushed at the end).
local index, pushed = {}, {}
for i = 1, m do
  index[ARGV[4 + i]] = KEYS[3 + i]
  pushed[ARGV[4 + i]] = {}
end

local out, records, seen = {}, {}, {}
-- Writes what the call enqueued so far: the queued records, the indexes.
local function flush()
  for from = 1, #records, 1000 do
    redis.call('HSET', queued, unpack(records, from, math.min(#records, from + 999)))
  end
  for account, ids in pairs(pushed) do
    if #ids > 0 then
      for from = 1, #ids, 1000 do
        redis.call('LPUSH', index[account], unpack(ids, from, math.min(#ids, from + 999)))
      end
      redis.call('LTRIM', index[account], 0, index_max - 1)
    end
  end
end

-- The usual job: its entry, and its record.
local function add(task_id, jtype, account, body, total)
  local entry = redis.call('XADD', stream, '*', 'v', '1', 'type', jtype, 'task_id', task_id,
                           'account', account, 'body', body)
  records[#records + 1] = task_id
  records[#records + 1] = entry .. ' ' .. (total == '' and '0' or total) .. ' ' .. account .. ' '
                          .. jtype
end

local a, k = 6 + m, 4 + m
for i = 1, n do
  local kind, task_id, jtype, account, body, total = ARGV[a], ARGV[a + 1], ARGV[a + 2],
                                                     ARGV[a + 3], ARGV[a + 4], ARGV[a + 5]
  local ids = pushed[account]
  if not ids then
    flush()
    return redis.error_reply('ERR job ' .. i .. ': account ' .. tostring(account)
                             .. ' is not among ARGV[5..' .. (4 + m) .. ']')
  end
  if kind == 'n' then
    add(task_id, jtype, account, body, total)
    ids[#ids + 1] = task_id
    out[i] = 1
    a = a + 6
  elseif kind == 'c' then
    local idem, run_at = ARGV[a + 6], ARGV[a + 7]
    local task_key, idem_key = KEYS[k], KEYS[k + 1]
    if not idem_key then
      flush()
      return redis.error_reply('ERR job ' .. i .. ': KEYS[' .. (k + 1) .. '] missing (a job of kind c '
                               .. 'has two keys)')
    end
    local earlier = idem ~= '' and redis.call('GET', idem_key)
    if earlier then
      out[i] = earlier
    elseif seen[task_id] or redis.call('EXISTS', task_key) == 1
           or redis.call('HEXISTS', queued, task_id) == 1 then
      flush()
      return redis.error_reply('ERR task_id ' .. task_id .. ' is already in use')
    else
      seen[task_id] = true
      local due = (run_at ~= '' and run_at ~= '0') and tonumber(run_at) or 0
      local delay = due > now_ms
      if idem == '' and not delay then
        add(task_id, jtype, account, body, total)
      else
        -- Counters and the cursor start absent, which reads as 0.
        local task = {'v', '1', 'type', jtype, 'account', account, 'status', 'queued', 'total',
                      total == '' and '0' or total, 'created_at', tostring(now_ms)}
        local fields = {'v', '1', 'type', jtype, 'task_id', task_id, 'account', account, 'body',
                        body}
        if idem ~= '' then
          redis.call('SET', idem_key, task_id, 'PX', ttl)
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
      ids[#ids + 1] = task_id
      out[i] = 1
    end
    a = a + 8
    k = k + 2
  else
    flush()
    return redis.error_reply('ERR job ' .. i .. ': kind must be n or c, not ' .. tostring(kind))
  end
end
flush()
return out
