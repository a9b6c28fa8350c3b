-- Herald: workers finished chunks of jobs' items; one call commits many chunks. Each is counted,
-- and its task's cursor moved, only if its entry is still pending for this consumer (one that
-- lost it to a claimer must not count it again) and the chunk starts at the task's cursor (a
-- chunk is never counted twice). A job's last chunk also acknowledges its entry and completes
-- its task. Acknowledged entries are left for trim.lua, which removes them in bulk.
--
-- KEYS[1] the stream   then per chunk two keys: task hash, task items (sorted set)
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] now (ms)  ARGV[4] task_ttl (ms)
-- then per chunk: entry id, chunk start, chunk end, items processed, sent, scheduled, skipped,
--   failed (in this chunk), 1 when it is the job's last chunk else 0, the number of item
--   outcomes N, then N pairs: item index, outcome JSON
-- Returns, per chunk: {state, cursor}: 'ok' (counted), 'lost' (no longer ours), 'stale' (the
-- cursor is elsewhere: resume from it), 'done' (the task finished meanwhile, e.g. cancelled: stop)
local stream, group, consumer, now, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local counters = {'sent', 'scheduled', 'skipped', 'failed'}
local out, a, k = {}, 5, 2
while a <= #ARGV do
  local id, first, last, final = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 8]
  local n = tonumber(ARGV[a + 9])
  local task, items = KEYS[k], KEYS[k + 1]
  if #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 0 then
    out[#out + 1] = {'lost', 0}
  else
    local f = redis.call('HMGET', task, 'status', 'cursor', 'processed', 'sent', 'scheduled',
                         'skipped', 'failed')
    local cursor = tonumber(f[2]) or 0
    if f[1] ~= 'processing' then
      redis.call('XACK', stream, group, id)
      out[#out + 1] = {'done', cursor}
    elseif cursor ~= first then
      out[#out + 1] = {'stale', cursor}
    else
      local set = {'cursor', last, 'processed', (tonumber(f[3]) or 0) + tonumber(ARGV[a + 3])}
      for j = 1, 4 do
        local d = tonumber(ARGV[a + 3 + j])
        if d ~= 0 then
          set[#set + 1] = counters[j]
          set[#set + 1] = (tonumber(f[3 + j]) or 0) + d
        end
      end
      for o = 0, n - 1 do
        local index = ARGV[a + 10 + 2 * o]
        redis.call('ZREMRANGEBYSCORE', items, index, index)
        redis.call('ZADD', items, index, ARGV[a + 11 + 2 * o])
      end
      if final == '1' then
        redis.call('XACK', stream, group, id)
        set[#set + 1] = 'status'
        set[#set + 1] = 'completed'
        set[#set + 1] = 'finished_at'
        set[#set + 1] = now
        set[#set + 1] = 'expires_at'
        set[#set + 1] = tonumber(now) + ttl
      end
      redis.call('HSET', task, unpack(set))
      if final == '1' then
        redis.call('PEXPIRE', task, ttl)
        if n > 0 or first > 0 then redis.call('PEXPIRE', items, ttl) end
      end
      out[#out + 1] = {'ok', tonumber(last)}
    end
  end
  a = a + 10 + 2 * n
  k = k + 2
end
return out
