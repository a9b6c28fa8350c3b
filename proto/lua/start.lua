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
local n = (#ARGV - 3) / 5
local out = {}
for i = 0, n - 1 do
  local a = 4 + i * 5
  local id, task_id, jtype, account, total = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local task_key, index_key = KEYS[2 + i * 2], KEYS[3 + i * 2]
  if redis.call('EXISTS', task_key) == 0 then
    local created = string.match(id, '^(%d+)-') or now
    redis.call('HSET', task_key, 'v', 1, 'type', jtype, 'account', account, 'status', 'queued',
               'total', total == '' and 0 or total, 'processed', 0, 'sent', 0, 'scheduled', 0,
               'skipped', 0, 'failed', 0, 'cursor', 0, 'deliveries', 0, 'created_at', created)
    redis.call('ZADD', index_key, created, task_id)
  end
  local status = redis.call('HGET', task_key, 'status')
  if status == 'completed' or status == 'failed' or status == 'cancelled' then
    redis.call('XACK', KEYS[1], group, id)
    redis.call('XDEL', KEYS[1], id)
    out[#out + 1] = {'done', 0, 0, 0, ''}
  else
    local deliveries = redis.call('HINCRBY', task_key, 'deliveries', 1)
    if total ~= '' and tonumber(redis.call('HGET', task_key, 'total')) == 0 then
      redis.call('HSET', task_key, 'total', total)
    end
    local state = deliveries > max and 'exceeded' or 'run'
    if state == 'run' then
      redis.call('HSET', task_key, 'status', 'processing', 'entry', id)
      redis.call('HSETNX', task_key, 'started_at', now)
    end
    local f = redis.call('HMGET', task_key, 'cursor', 'total', 'last_error')
    out[#out + 1] = {state, tonumber(f[1]), deliveries, tonumber(f[2]), f[3] or ''}
  end
end
return out
