-- Herald: a worker has been handed stream entries (by XREADGROUP or XAUTOCLAIM) and starts them.
-- Each entry runs only for the task of its own job: the task's `account` must be the entry's
-- and its `origin` the entry's origin (the entry's field `origin`, which entries moved through
-- the delayed set carry, else the entry's own id). For each entry:
-- - a task without a hash yet (a queued record of enqueue.lua, or a job XADDed directly) gets
--   its hash, created at the entry's time, and the record goes;
-- - an entry moved through the delayed set whose task is gone (finished or cancelled, then
--   expired) is acknowledged and deleted: a job never outlives its task;
-- - a task already finished (completed, failed, cancelled) has its entry acknowledged and
--   deleted;
-- - a task of another job (another account's, or another job's with the same task id) is left
--   as it is, and the worker is told to dead-letter the entry;
-- - otherwise the task's delivery count goes up, and past max_deliveries the worker is told to
--   dead-letter it; except for a resume (the worker takes back its own pending entry, which it
--   was running when its connection to Redis was lost): that is the same delivery going on, and
--   counts nothing (Redis's own count, which reading the entry again raised, is not looked at),
--   so that outages of Redis never make a job reach max_deliveries.
--
-- KEYS[1] the stream   KEYS[2] the queued hash
-- then per entry, two keys: task hash, the account's task index
-- ARGV[1] group   ARGV[2] now (ms)   ARGV[3] max_deliveries
-- ARGV[4] index_max (a task index keeps its newest index_max ids)
-- then per entry, seven values: entry id, task_id, type, account, total ('' when unknown), origin
--   (the entry's `origin` field, '' when it has none), resumed ('1' for a resume, else '')
-- Returns, per entry: {state, cursor, deliveries, total, last_error}
--   state: 'run' (process from cursor), 'done' (nothing to do: acknowledged and deleted),
--          'exceeded' (delivered more than max_deliveries times: dead-letter it),
--          'foreign' (the task id is another job's: dead-letter the entry, not the task)
local group, now, max, index_max = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local function done(id)
  redis.call('XACK', KEYS[1], group, id)
  redis.call('XDEL', KEYS[1], id)
  out[#out + 1] = {'done', 0, 0, 0, ''}
end
for i = 0, (#ARGV - 4) / 7 - 1 do
  local a = 5 + i * 7
  local id, task_id, jtype, account, total = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
                                             ARGV[a + 4]
  local origin = ARGV[a + 5] ~= '' and ARGV[a + 5] or id
  local resumed = ARGV[a + 6] == '1'
  local task_key, index_key = KEYS[3 + i * 2], KEYS[4 + i * 2]
  local f = redis.call('HMGET', task_key, 'status', 'total', 'cursor', 'deliveries', 'last_error',
                       'started_at', 'account', 'origin')
  local status = f[1]
  -- Whose task this is: a hash names its account and origin (a task written before origins
  -- were kept has none, and is taken as this entry's when the account agrees).
  local foreign = (f[7] and f[7] ~= account) or (f[8] and f[8] ~= origin)
  local record = not status and redis.call('HGET', KEYS[2], task_id)
  if record then
    local r_entry, r_account = string.match(record, '^(%S+) %S+ (%S+) ')
    foreign = foreign or r_entry ~= origin or r_account ~= account
  end
  if foreign then
    out[#out + 1] = {'foreign', 0, 0, 0, ''}
  elseif not status and not record and origin ~= id then
    done(id)
  elseif not status then
    -- Its task starts now, created at its first entry's time (the record's: this entry may be
    -- a retry's). A job XADDed directly has no record and is not in its account's index yet.
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
    redis.call('HSET', task_key, 'v', 1, 'type', jtype, 'account', account, 'origin', origin,
               'status', 'processing', 'total', known, 'created_at', created, 'started_at', now,
               'deliveries', (tonumber(f[4]) or 0) + 1, 'entry', id)
    out[#out + 1] = {'run', 0, (tonumber(f[4]) or 0) + 1, known, ''}
  elseif status == 'completed' or status == 'failed' or status == 'cancelled' then
    done(id)
  else
    -- Counted here, or where a job run without start.lua ended; Redis's own count of this
    -- entry's deliveries also covers one that ended with the process.
    local deliveries
    if resumed then
      deliveries = math.max(tonumber(f[4]) or 0, 1)
    else
      local pending = redis.call('XPENDING', KEYS[1], group, id, id, 1)
      deliveries = math.max((tonumber(f[4]) or 0) + 1, pending[1] and pending[1][4] or 1)
    end
    local known = tonumber(f[2]) or 0
    if deliveries > max then
      redis.call('HSET', task_key, 'deliveries', deliveries)
      out[#out + 1] = {'exceeded', tonumber(f[3]) or 0, deliveries, known, f[5] or ''}
    else
      if known == 0 and total ~= '' then known = tonumber(total) end
      redis.call('HSET', task_key, 'status', 'processing', 'entry', id, 'deliveries', deliveries,
                 'total', known, 'started_at', f[6] or now)
      redis.call('HDEL', task_key, 'delayed')
      out[#out + 1] = {'run', tonumber(f[3]) or 0, deliveries, known, f[5] or ''}
    end
  end
end
return out
