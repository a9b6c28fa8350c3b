-- Herald: a worker has been handed stream entries (by XREADGROUP or XAUTOCLAIM) and starts them.
-- For each: a task that does not exist yet (a job XADDed directly) is created; a task already
-- finished (completed, failed, cancelled) has its entry acknowledged and deleted; otherwise the
-- task's delivery count goes up, and past max_deliveries the worker is told to dead-letter it.
--
-- KEYS[1] the stream   then per entry, two keys: task hash, the account's task index
-- ARGV[1] group   ARGV[2] now (ms)   ARGV[3] max_deliveries
-- then per entry, five values: entry id, task_id, type, account, total ('' when unknown)
-- Returns, per entry: {state, cursor, deliveries, total, last_error}
--   state: 'run' (process from cursor), 'done' (already finished: acknowledged, nothing to do),
--          'exceeded' (delivered more than max_deliveries times: dead-letter it)
local group, now, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 0, (#ARGV - 3) / 5 - 1 do
  local a = 4 + i * 5
  local id, task_id, jtype, account, total = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local task_key, index_key = KEYS[2 + i * 2], KEYS[3 + i * 2]
  local f = redis.call('HMGET', task_key, 'status', 'total', 'cursor', 'deliveries', 'last_error',
                       'started_at')
  local status = f[1]
  if not status then
    -- A job XADDed directly: its task starts now, created at the entry's time.
    local created = string.match(id, '^(%d+)-') or now
    redis.call('HSET', task_key, 'v', 1, 'type', jtype, 'account', account, 'status',
               'processing', 'total', total == '' and 0 or total, 'created_at', created,
               'started_at', now, 'deliveries', (tonumber(f[4]) or 0) + 1, 'entry', id)
    redis.call('ZADD', index_key, created, task_id)
    out[#out + 1] = {'run', 0, (tonumber(f[4]) or 0) + 1, tonumber(total) or 0, ''}
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
