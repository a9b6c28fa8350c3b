-- Herald: a worker has been handed stream entries (by XREADGROUP or XAUTOCLAIM) and starts them.
-- For each: a task without a hash yet (a queued record of enqueue.lua, or a job XADDed directly)
-- gets its hash, created at the entry's time, and the record goes; a task already finished
-- (completed, failed, cancelled) has its entry acknowledged and deleted; otherwise the task's
-- delivery count goes up, and past max_deliveries the worker is told to dead-letter it.
--
-- KEYS[1] the stream   KEYS[2] the queued hash
-- then per entry, two keys: task hash, the account's task index
-- ARGV[1] group   ARGV[2] now (ms)   ARGV[3] max_deliveries
-- ARGV[4] index_max (a task index keeps its newest index_max ids)
-- then per entry, five values: entry id, task_id, type, account, total ('' when unknown)
-- Returns, per entry: {state, cursor, deliveries, total, last_error}
--   state: 'run' (process from cursor), 'done' (already finished: acknowledged, nothing to do),
--          'exceeded' (delivered more than max_deliveries times: dead-letter it)
local group, now, max, index_max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 0, (#ARGV - 4) / 5 - 1 do
  local a = 5 + i * 5
  local id, task_id, jtype, account, total = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local task_key, index_key = KEYS[3 + i * 2], KEYS[4 + i * 2]
  local f = redis.call('HMGET', task_key, 'status', 'total', 'cursor', 'deliveries', 'last_error',
                       'started_at')
  local status = f[1]
  if not status then
    -- Its task starts now, created at its first entry's time (the record's: this entry may be
    -- a retry's). A job XADDed directly has no record and is not in its account's index yet.
    local record = redis.call('HGET', KEYS[2], task_id)
    local created = string.match(record or id, '^(%d+)-') or now
    local known = tonumber(total) or 0
    if record then
      redis.call('HDEL', KEYS[2], task_id)
      local counted = tonumber(string.match(record, '^%S+ (%d+) '))
      if counted and counted > 0 then known = counted end
    else
      redis.call('LPUSH', index_key, task_id)
      redis.call('LTRIM', index_key, 0, index_max - 1)
    end
    redis.call('HSET', task_key, 'v', 1, 'type', jtype, 'account', account, 'status',
               'processing', 'total', known, 'created_at', created, 'started_at', now,
               'deliveries', (tonumber(f[4]) or 0) + 1, 'entry', id)
    out[#out + 1] = {'run', 0, (tonumber(f[4]) or 0) + 1, known, ''}
  elseif status == 'completed' or status == 'failed' or status == 'cancelled' then
    redis.call('XACK', KEYS[1], group, id)
    redis.call('XDEL', KEYS[1], id)
    out[#out + 1] = {'done', 0, 0, 0, ''}
  else
    -- Counted here, or where a job run without start.lua ended; Redis's own count of this
    -- entry's deliveries also covers one that ended with the process.
    local pending = redis.call('XPENDING', KEYS[1], group, id, id, 1)
    local deliveries = math.max((tonumber(f[4]) or 0) + 1, pending[1] and pending[1][4] or 1)
    local known = tonumber(f[2]) or 0
    if deliveries > max then
      redis.call('HSET', task_key, 'deliveries', deliveries)
      out[#out + 1] = {'exceeded', tonumber(f[3]) or 0, deliveries, known, f[5] or ''}
    else
      if known == 0 and total ~= '' then known = tonumber(total) end
      redis.call('HSET', task_key, 'status', 'processing', 'entry', id, 'deliveries', deliveries,
                 'total', known, 'started_at', f[6] or now)
      out[#out + 1] = {'run', tonumber(f[3]) or 0, deliveries, known, f[5] or ''}
    end
  end
end
return out
