-- Herald: a worker finished a chunk of a job's items. Counts it and moves the task's cursor, only
-- if the entry is still pending for this consumer (one that lost it to a claimer must not count
-- it again) and the chunk starts at the task's cursor (a chunk is never counted twice). The last
-- chunk also acknowledges and deletes the entry and completes the task.
--
-- KEYS[1] the stream   KEYS[2] task hash   KEYS[3] task items (sorted set)
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] entry id  ARGV[4] chunk start  ARGV[5] chunk end
-- ARGV[6..10] items processed, sent, scheduled, skipped, failed in this chunk
-- ARGV[11] 1 when this is the last chunk   ARGV[12] now (ms)   ARGV[13] task_ttl (ms)
-- ARGV[14..] item outcomes: index, JSON, index, JSON, ...
-- Returns {state, cursor}: 'ok' (counted), 'lost' (no longer ours), 'stale' (cursor elsewhere:
-- resume from it), 'done' (the task finished meanwhile, e.g. cancelled: stop)
local id, consumer = ARGV[3], ARGV[2]
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, consumer)
if #mine == 0 then return {'lost', 0} end
local f = redis.call('HMGET', KEYS[2], 'status', 'cursor')
local status, cursor = f[1], tonumber(f[2])
if status ~= 'processing' then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  return {'done', cursor or 0}
end
if cursor ~= tonumber(ARGV[4]) then return {'stale', cursor} end
redis.call('HINCRBY', KEYS[2], 'processed', ARGV[6])
if ARGV[7] ~= '0' then redis.call('HINCRBY', KEYS[2], 'sent', ARGV[7]) end
if ARGV[8] ~= '0' then redis.call('HINCRBY', KEYS[2], 'scheduled', ARGV[8]) end
if ARGV[9] ~= '0' then redis.call('HINCRBY', KEYS[2], 'skipped', ARGV[9]) end
if ARGV[10] ~= '0' then redis.call('HINCRBY', KEYS[2], 'failed', ARGV[10]) end
redis.call('HSET', KEYS[2], 'cursor', ARGV[5])
for o = 14, #ARGV, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[3], ARGV[o], ARGV[o])
  redis.call('ZADD', KEYS[3], ARGV[o], ARGV[o + 1])
end
if ARGV[11] == '1' then
  local ttl = tonumber(ARGV[13])
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  redis.call('HSET', KEYS[2], 'status', 'completed', 'finished_at', ARGV[12],
             'expires_at', tonumber(ARGV[12]) + ttl)
  redis.call('HDEL', KEYS[2], 'entry')
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {'ok', tonumber(ARGV[5])}
