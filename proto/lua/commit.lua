-- Herald: workers finished chunks of jobs' items; one call commits many chunks. Each is counted,
-- and its task's cursor moved, only if its entry is still pending for this consumer (one that
-- lost it to a claimer must not count it again) and the chunk starts at the task's cursor (a
-- chunk is never counted twice). A job's last chunk also acknowledges its entry and completes
-- its task. Acknowledged entries are left for trim.lua, which removes them in bulk.
--
-- A job that fits in one chunk and was freshly read is run without start.lua: its chunk comes
-- with `begins` = 1, and this script starts the task as start.lua would (creating it when the
-- job was XADDed directly), counting the delivery, in the same step.
--
-- KEYS[1] the stream   then per chunk three keys: task hash, task items (sorted set), the
--   account's task index
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] now (ms)  ARGV[4] task_ttl (ms)
-- then per chunk: entry id, chunk start, chunk end, items processed, sent, scheduled, skipped,
--   failed (in this chunk), 1 when it is the job's last chunk else 0, begins (1 or 0), type,
--   account, total, the number of item outcomes N, then N pairs: item index, outcome JSON
-- Returns, per chunk: {state, cursor}: 'ok' (counted), 'lost' (no longer ours), 'stale' (the
-- cursor is elsewhere: resume from it), 'done' (the task finished meanwhile, e.g. cancelled: stop)
local stream, group, consumer, now, ttl = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local counters = {'sent', 'scheduled', 'skipped', 'failed'}

-- This consumer's pending entries, in one look rather than one per chunk (a consumer holds
-- about as many as it runs jobs).
local mine = {}
for _, p in ipairs(redis.call('XPENDING', stream, group, '-', '+', 1000000, consumer)) do
  mine[p[1]] = true
end

local out, acks, k, a = {}, {}, 2, 5
while a <= #ARGV do
  local id, first, last, final = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 8]
  local begins, n = ARGV[a + 9], tonumber(ARGV[a + 13])
  local task, items, index = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  if not mine[id] then
    out[#out + 1] = {'lost', 0}
  else
    local f = redis.call('HMGET', task, 'status', 'cursor', 'processed', 'sent', 'scheduled',
                         'skipped', 'failed', 'started_at', 'deliveries')
    local set = {}
    local status = f[1]
    if begins == '1' and (not status or status == 'queued') then
      if not status then
        local created = string.match(id, '^(%d+)-') or now
        set = {'v', 1, 'type', ARGV[a + 10], 'account', ARGV[a + 11], 'created_at', created}
        redis.call('ZADD', index, created, string.match(task, ':task:(.*)$'))
      end
      local more = {'status', 'processing', 'started_at', f[8] or now, 'deliveries',
                    (tonumber(f[9]) or 0) + 1, 'entry', id, 'total', ARGV[a + 12]}
      for j = 1, #more do set[#set + 1] = more[j] end
      status = 'processing'
    end
    local cursor = tonumber(f[2]) or 0
    if status ~= 'processing' then
      acks[#acks + 1] = id
      out[#out + 1] = {'done', cursor}
    elseif cursor ~= first then
      if #set > 0 then redis.call('HSET', task, unpack(set)) end
      out[#out + 1] = {'stale', cursor}
    else
      set[#set + 1] = 'cursor'
      set[#set + 1] = last
      set[#set + 1] = 'processed'
      set[#set + 1] = (tonumber(f[3]) or 0) + tonumber(ARGV[a + 3])
      for j = 1, 4 do
        local d = tonumber(ARGV[a + 3 + j])
        if d ~= 0 then
          set[#set + 1] = counters[j]
          set[#set + 1] = (tonumber(f[3 + j]) or 0) + d
        end
      end
      for o = 0, n - 1 do
        local item = ARGV[a + 14 + 2 * o]
        redis.call('ZREMRANGEBYSCORE', items, item, item)
        redis.call('ZADD', items, item, ARGV[a + 15 + 2 * o])
      end
      if final == '1' then
        acks[#acks + 1] = id
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
  a = a + 14 + 2 * n
  k = k + 3
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
