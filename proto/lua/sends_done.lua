-- Herald: records the outcome of a delivered scheduled batch on its task and removes the batch.
-- Each item moves from `scheduled` to `sent` or `failed`, and its outcome is replaced. A batch
-- that is gone (its task was cancelled while it was delivered, or another heraldd recorded it
-- after this one's lease ended) changes nothing.
--
-- KEYS[1] the sends sorted set   KEYS[2] the batches hash   KEYS[3] the task's batches set
-- KEYS[4] the task hash   KEYS[5] the task's item outcomes
-- ARGV[1] batch id   ARGV[2] sent   ARGV[3] failed   ARGV[4] the number of outcomes N, then N
-- pairs: item index, outcome JSON
-- Returns 1, or 0 when the batch was gone.
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[4]) == 1 then
  local sent, failed = tonumber(ARGV[2]), tonumber(ARGV[3])
  redis.call('HINCRBY', KEYS[4], 'scheduled', -(sent + failed))
  if sent > 0 then redis.call('HINCRBY', KEYS[4], 'sent', sent) end
  if failed > 0 then redis.call('HINCRBY', KEYS[4], 'failed', failed) end
  local n = tonumber(ARGV[4])
  for i = 0, n - 1 do
    local index = ARGV[5 + 2 * i]
    redis.call('ZREMRANGEBYSCORE', KEYS[5], index, index)
    redis.call('ZADD', KEYS[5], index, ARGV[6 + 2 * i])
  end
end
return 1
