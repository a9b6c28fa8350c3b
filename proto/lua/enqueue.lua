-- Herald: enqueue one or more jobs, creating each task as `queued` together with its stream
-- entry (or its delayed entry when run_at is in the future). An idempotency key seen before
-- returns the earlier task id and enqueues nothing. The call is all or nothing: every job is
-- checked before the first write, and a job that cannot be enqueued (a task_id already in use,
-- by an existing task or by an earlier job of the same call; a body over max_job_bytes; an
-- account not among the call's) fails the whole call, naming the job, with nothing written.
--
-- A job due now without an idempotency key is the usual one: its task is a record in the
-- queued hash (`entry_id total account type`) until a worker starts it and makes it a task
-- hash. A job with an idempotency key or a run_at in the future gets its task hash at once.
-- Either way the task's `origin` is its job's first entry id (for a delayed job, a token its
-- delayed entry carries as the field `origin`): a worker runs an entry only for the task of
-- its own job (start.lua).
--
-- A body's top-level "token" (an API credential, as the seeds' bodies carry) is removed before
-- the body is stored.
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
-- ARGV[4] max_job_bytes: the largest body accepted (0: no limit)
-- ARGV[5] m, then ARGV[6 .. 5+m] the accounts, in the order of their index keys
-- then n (jobs in this call), then per job its kind and values:
--   'n' task_id, type, account, body, total ('' when the worker will count them): a new task
--       id (a random UUID the caller made), due now, no idempotency key; not looked up
--   'c' task_id, type, account, body, total, idempotency_key ('' for none), run_at (ms since
--       the epoch; '' or '0' for now): checked against the tasks that exist
-- Returns, per job: 1 when enqueued now, or the earlier task id an idempotency key returned.
-- An idempotency key lives as long as its task: without expiry until the task finishes, then
-- task_ttl (the scripts that finish a task re-arm it).
--
-- Cost: a job of kind 'n' is one XADD; the call adds one HSET of the queued records, and one
-- LPUSH and one LTRIM per account.
local now_ms, ttl, index_max = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local max_bytes, m = tonumber(ARGV[4]), tonumber(ARGV[5])
if not now_ms or not index_max or not max_bytes or not m then
  return redis.error_reply('ERR ARGV[1], ARGV[3], ARGV[4] and ARGV[5] must be numbers')
end
local n = tonumber(ARGV[6 + m])
if not n then return redis.error_reply('ERR ARGV[' .. (6 + m) .. '] must be the number of jobs') end
local stream, queued = KEYS[1], KEYS[3]

-- The root object's "token" members removed from a JSON text that has one (every other member
-- is kept as written). Moves with string.find, never a byte at a time.
local function strip_token(body)
  if not string.find(body, '"token"', 1, true) then return body end
  local len = #body
  local i = string.find(body, '[^ \t\r\n]')
  if not i or string.sub(body, i, i) ~= '{' then return body end
  local function past_string(at) -- at: the opening quote; returns the index after the closing one
    local p = at + 1
    while true do
      local q = string.find(body, '["\\]', p)
      if not q then return len + 1 end
      if string.sub(body, q, q) == '"' then return q + 1 end
      p = q + 2
    end
  end
  local function past_value(at)
    local c = string.sub(body, at, at)
    if c == '"' then return past_string(at) end
    if c == '{' or c == '[' then
      local depth, p = 0, at
      while true do
        local q = string.find(body, '[%[%]{}"]', p)
        if not q then return len + 1 end
        local d = string.sub(body, q, q)
        if d == '"' then
          p = past_string(q)
        else
          depth = depth + ((d == '{' or d == '[') and 1 or -1)
          p = q + 1
          if depth == 0 then return p end
        end
      end
    end
    return string.find(body, '[,}%s]', at) or len + 1
  end
  -- The root's members, each kept as written unless its key is "token"; a text that does not
  -- read as an object is returned as it is (the worker refuses it).
  local kept, p, removed = {}, i + 1, false
  while true do
    local k = string.find(body, '[^ \t\r\n]', p)
    if not k then return body end
    local c = string.sub(body, k, k)
    if c == '}' and #kept == 0 and not removed then return body end
    if c ~= '"' then return body end
    local key_end = past_string(k)
    local colon = string.find(body, '[^ \t\r\n]', key_end)
    if not colon or string.sub(body, colon, colon) ~= ':' then return body end
    local v = string.find(body, '[^ \t\r\n]', colon + 1)
    if not v then return body end
    local v_end = past_value(v)
    if string.sub(body, k, key_end - 1) == '"token"' then
      removed = true
    else
      kept[#kept + 1] = string.sub(body, k, v_end - 1)
    end
    local after = string.find(body, '[^ \t\r\n]', v_end)
    if not after then return body end
    local sep = string.sub(body, after, after)
    if sep == '}' then
      return '{' .. table.concat(kept, ',') .. string.sub(body, after)
    end
    if sep ~= ',' then return body end
    p = after + 1
  end
end

-- Per account: its index key and the ids enqueued for it (pushed at the end).
local index, pushed = {}, {}
for i = 1, m do
  index[ARGV[5 + i]] = KEYS[3 + i]
  pushed[ARGV[5 + i]] = {}
end

-- First pass: every job is checked, and nothing is written unless all of them can be enqueued.
local plan, seen, seen_idem = {}, {}, {}
local a, k = 7 + m, 4 + m
for i = 1, n do
  local kind, task_id, account, body = ARGV[a], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  if kind ~= 'n' and kind ~= 'c' then
    return redis.error_reply('ERR job ' .. i .. ': kind must be n or c, not ' .. tostring(kind))
  end
  if not pushed[account] then
    return redis.error_reply('ERR job ' .. i .. ': account ' .. tostring(account)
                             .. ' is not among ARGV[6..' .. (5 + m) .. ']')
  end
  if max_bytes > 0 and #body > max_bytes then
    return redis.error_reply('ERR job ' .. i .. ': body is ' .. #body .. ' bytes, over '
                             .. 'max_job_bytes (' .. max_bytes .. ')')
  end
  local p = {a = a}
  if kind == 'c' then
    local idem, task_key, idem_key = ARGV[a + 6], KEYS[k], KEYS[k + 1]
    if not idem_key then
      return redis.error_reply('ERR job ' .. i .. ': KEYS[' .. (k + 1) .. '] missing (a job of '
                               .. 'kind c has two keys)')
    end
    p.task_key, p.idem_key = task_key, idem_key
    -- A key seen before, or by an earlier job of this call, returns that job's task.
    p.earlier = idem ~= '' and (seen_idem[idem_key] or redis.call('GET', idem_key))
    if not p.earlier then
      if idem ~= '' then seen_idem[idem_key] = task_id end
      if seen[task_id] or redis.call('EXISTS', task_key) == 1
         or redis.call('HEXISTS', queued, task_id) == 1 then
        return redis.error_reply('ERR job ' .. i .. ': task_id ' .. task_id
                                 .. ' is already in use')
      end
      seen[task_id] = true
    end
    a, k = a + 8, k + 2
  else
    if seen[task_id] then
      return redis.error_reply('ERR job ' .. i .. ': task_id ' .. task_id .. ' is already in use')
    end
    seen[task_id] = true
    a = a + 6
  end
  p.kind = kind
  plan[i] = p
end

-- Second pass: the writes.
local out, records = {}, {}

-- The usual job: its entry, and its record.
local function add(task_id, jtype, account, body, total)
  local entry = redis.call('XADD', stream, '*', 'v', '1', 'type', jtype, 'task_id', task_id,
                           'account', account, 'body', body)
  records[#records + 1] = task_id
  records[#records + 1] = entry .. ' ' .. (total == '' and '0' or total) .. ' ' .. account .. ' '
                          .. jtype
end

for i = 1, n do
  local p = plan[i]
  local b = p.a
  local task_id, jtype, account, total = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 5]
  local body = strip_token(ARGV[b + 4])
  if p.kind == 'n' then
    add(task_id, jtype, account, body, total)
    local ids = pushed[account]
    ids[#ids + 1] = task_id
    out[i] = 1
  elseif p.earlier then
    out[i] = p.earlier
  else
    local idem, run_at = ARGV[b + 6], ARGV[b + 7]
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
        redis.call('SET', p.idem_key, task_id)
        task[#task + 1] = 'idempotency_key'
        task[#task + 1] = idem
        fields[#fields + 1] = 'idempotency_key'
        fields[#fields + 1] = idem
      end
      if delay then
        -- The delayed entry's origin: unique, as no other job of this task id exists now.
        local origin = 'd' .. now_ms .. '-' .. task_id
        local job = {}
        for f = 1, #fields, 2 do job[fields[f]] = fields[f + 1] end
        job.origin = origin
        local member = cjson.encode(job)
        redis.call('ZADD', KEYS[2], due, member)
        -- `delayed`: the member, so that a cancel can remove it.
        for _, v in ipairs({'run_at', due, 'origin', origin, 'delayed', member}) do
          task[#task + 1] = v
        end
      else
        task[#task + 1] = 'origin'
        task[#task + 1] = redis.call('XADD', stream, '*', unpack(fields))
      end
      redis.call('HSET', p.task_key, unpack(task))
    end
    local ids = pushed[account]
    ids[#ids + 1] = task_id
    out[i] = 1
  end
end

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
return out
