-- Herald: workers finished chunks of jobs' items; one call commits many chunks. Each is counted,
-- and its task's cursor moved, only if its entry is still pending for this consumer (one that
-- lost it to a claimer must not count it again) and the chunk starts at the task's cursor (a
-- chunk is never counted twice). A job's last chunk also acknowledges its entry and completes
-- its task. Acknowledged entries are left for trim.lua, which removes them in bulk.
--
-- A job that fits in one chunk and was freshly read is run without start.lua: its chunk comes
-- with `begins` = 1, and this script starts the task as start.lua would (creating it when the
-- task has no hash yet: its queued record goes, or, for a job XADDed directly, its id joins its
-- account's index), counting the delivery, in the same step.
--
-- KEYS[1] the stream   KEYS[2] the queued hash
-- then per chunk three keys: task hash, task items (sorted set), the account's task index
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] now (ms)  ARGV[4] task_ttl (ms)
-- ARGV[5] index_max (a task index keeps its newest index_max ids)
-- ARGV[6], ARGV[7] the lowest and the highest entry id of the chunks below
-- then per chunk: entry id, chunk start, chunk end, items processed, sent, scheduled, skipped,
--   failed (in this chunk), 1 when it is the job's last chunk else 0, begins (1 or 0), type,
--   account, total, the number of item outcomes N, then N pairs: item index, outcome JSON
--   (numbers in plain decimal, as the cursor is stored)
-- Returns two values per chunk, its state then the task's cursor: 'ok' (counted), 'lost' (no
-- longer ours), 'stale' (the cursor is elsewhere: resume from it), 'done' (the task finished
-- meanwhile, e.g. cancelled: stop)
--
-- Cost: a chunk is one HMGET and one HSET of its task, and for a job's last chunk one PEXPIRE
-- (a fresh job's start adds one HDEL of its queued record);
-- the ownership check is one XPENDING over the chunks' id range, the acknowledgements one XACK.
-- The usual chunk (a fresh job's only one, with nothing to count but `processed`) is written
-- out below without building a table.
local stream, queued, group, consumer, now, ttl = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3],
                                                 ARGV[4]
local index_max = tonumber(ARGV[5])
local expires = tostring(tonumber(now) + tonumber(ttl))
local counters = {'sent', 'scheduled', 'skipped', 'failed'}

-- This consumer's pending entries among the chunks' ones, in one look rather than one per chunk.
local mine = {}
for _, p in ipairs(redis.call('XPENDING', stream, group, ARGV[6], ARGV[7], 1000000, consumer)) do
  mine[p[1]] = true
end

-- The fields a chunk writes, field then value, from set[1] to set[m]: one table for all chunks.
local set, m = {}, 0
local function put(field, value)
  set[m + 1] = field
  set[m + 2] = value
  m = m + 2
end

-- A fresh job's task without a hash: its queued record goes, or (a job XADDed directly, which
-- has none) its id joins its account's index. `k`: the chunk's first KEYS.
local function unqueue(k)
  local task_id = string.match(KEYS[k], ':task:(.*)$')
  if redis.call('HDEL', queued, task_id) == 0 then
    redis.call('LPUSH', KEYS[k + 2], task_id)
    redis.call('LTRIM', KEYS[k + 2], 0, index_max - 1)
  end
end

-- Puts what starting the task writes (`a`, `k`: the chunk's first ARGV and KEYS; `f`: what
-- HMGET read). A task without a hash gets one, created at the entry's time (a fresh entry's:
-- the job's first).
local function put_start(a, k, f)
  local id = ARGV[a]
  if not f[1] then
    put('v', '1')
    put('type', ARGV[a + 10])
    put('account', ARGV[a + 11])
    put('created_at', string.match(id, '^(%d+)-') or now)
    unqueue(k)
  end
  put('started_at', f[3] or now)
  put('deliveries', f[4] and tostring(tonumber(f[4]) + 1) or '1')
  put('entry', id)
  put('total', ARGV[a + 12])
end

local out, acks, k, a = {}, {}, 3, 8
while a <= #ARGV do
  local id, first, last, final = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 8]
  local n = tonumber(ARGV[a + 13])
  local task = KEYS[k]
  local state, cursor = 'lost', '0'
  if mine[id] then
    -- A task's counters move only with its cursor: while the cursor is 0 they are all 0, so a
    -- job's first chunk need not read them.
    local f
    if first == '0' then
      f = redis.call('HMGET', task, 'status', 'cursor', 'started_at', 'deliveries')
    else
      f = redis.call('HMGET', task, 'status', 'cursor', 'started_at', 'deliveries', 'processed',
                     'sent', 'scheduled', 'skipped', 'failed')
    end
    local status = f[1]
    local begun = ARGV[a + 9] == '1' and (not status or status == 'queued')
    if begun then status = 'processing' end
    cursor = f[2] or '0'
    if status ~= 'processing' then
      state = 'done'
      acks[#acks + 1] = id
    elseif cursor ~= first and tonumber(cursor) ~= tonumber(first) then
      state = 'stale'
      if begun then
        m = 0
        put_start(a, k, f)
        put('status', 'processing')
        redis.call('HSET', task, unpack(set, 1, m))
      end
    elseif begun and final == '1' and first == '0' and n == 0 and ARGV[a + 4] == '0'
           and ARGV[a + 5] == '0' and ARGV[a + 6] == '0' and ARGV[a + 7] == '0' then
      -- The usual chunk, written out: a queued job that starts and completes in this step with
      -- nothing to count but `processed`.
      state, cursor = 'ok', last
      acks[#acks + 1] = id
      if f[1] then
        redis.call('HSET', task, 'status', 'completed', 'started_at', f[3] or now, 'deliveries',
                   f[4] and tostring(tonumber(f[4]) + 1) or '1', 'entry', id, 'total',
                   ARGV[a + 12], 'cursor', last, 'processed', ARGV[a + 3], 'finished_at', now,
                   'expires_at', expires)
      else
        unqueue(k)
        redis.call('HSET', task, 'v', '1', 'type', ARGV[a + 10], 'account', ARGV[a + 11],
                   'created_at', string.match(id, '^(%d+)-') or now, 'status', 'completed',
                   'started_at', f[3] or now, 'deliveries',
                   f[4] and tostring(tonumber(f[4]) + 1) or '1', 'entry', id, 'total',
                   ARGV[a + 12], 'cursor', last, 'processed', ARGV[a + 3], 'finished_at', now,
                   'expires_at', expires)
      end
      redis.call('PEXPIRE', task, ttl)
    else
      state, cursor = 'ok', last
      m = 0
      if begun then put_start(a, k, f) end
      if final == '1' then
        put('status', 'completed')
      elseif begun then
        put('status', 'processing')
      end
      put('cursor', last)
      if first == '0' then
        put('processed', ARGV[a + 3])
      else
        put('processed', (tonumber(f[5]) or 0) + tonumber(ARGV[a + 3]))
      end
      for j = 1, 4 do
        local d = ARGV[a + 3 + j]
        if d ~= '0' then
          put(counters[j], first == '0' and d or (tonumber(f[5 + j]) or 0) + tonumber(d))
        end
      end
      -- The outcomes, 500 a ZADD: a chunk is counted once, so an item's outcome is never there
      -- already (a chunk repeated after a crash finds the cursor moved and writes nothing).
      for o = 0, n - 1, 500 do
        local last_o = math.min(n - 1, o + 499)
        redis.call('ZADD', KEYS[k + 1], unpack(ARGV, a + 14 + 2 * o, a + 15 + 2 * last_o))
      end
      if final == '1' then
        acks[#acks + 1] = id
        put('finished_at', now)
        put('expires_at', expires)
      end
      redis.call('HSET', task, unpack(set, 1, m))
      if final == '1' then
        redis.call('PEXPIRE', task, ttl)
        if n > 0 or first ~= '0' then redis.call('PEXPIRE', KEYS[k + 1], ttl) end
      end
    end
  end
  out[#out + 1] = state
  out[#out + 1] = tonumber(cursor) or 0
  a = a + 14 + 2 * n
  k = k + 3
end
if #acks > 0 then redis.call('XACK', stream, group, unpack(acks)) end
return out
