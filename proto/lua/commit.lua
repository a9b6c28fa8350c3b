-- Herald: workers finished chunks of jobs' items; one call commits many chunks. Each is counted,
-- and its task's cursor moved, only if its entry is still pending for this consumer (one that
-- lost it to a claimer must not count it again) and the chunk starts at the task's cursor (a
-- chunk is never counted twice). A job's last chunk also acknowledges its entry and completes
-- its task, and deletes the entry (trim.lua only sweeps up what another path left).
--
-- A job that fits in one chunk and was freshly read is run without start.lua: its chunk comes
-- with `begins` = 1, and this script starts the task as start.lua would (creating it when the
-- task has no hash yet: its queued record goes, or, for a job XADDed directly, its id joins its
-- account's index), counting the delivery, in the same step. Such a chunk runs only for its
-- own task: a queued record of another entry, or a task hash of another account or origin,
-- makes it 'foreign' (the worker dead-letters the entry; the task is not touched).
--
-- KEYS[1] the stream   KEYS[2] the queued hash
-- then per chunk four keys: task hash, task items (sorted set), the account's task index, the
--   job's idempotency key P:{Q}:idem:<account>:<key> (KEYS[1] when it has none: a finished
--   task's key expires with it)
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] now (ms)  ARGV[4] task_ttl (ms)
-- ARGV[5] index_max (a task index keeps its newest index_max ids)
-- ARGV[6], ARGV[7] the lowest and the highest entry id of the chunks below
-- then per chunk: entry id, chunk start, chunk end, items processed, sent, scheduled, skipped,
--   failed (in this chunk), 1 when it is the job's last chunk else 0, begins (1 or 0), type,
--   account, total, the number of item outcomes N, then N pairs: item index, outcome JSON
--   (numbers in plain decimal, as the cursor is stored)
-- Returns two values per chunk, its state then the task's cursor: 'ok' (counted), 'lost' (no
-- longer ours), 'stale' (the cursor is elsewhere: resume from it), 'done' (the task finished
-- meanwhile, e.g. cancelled: stop), 'foreign' (a fresh job whose task id is another job's)
--
-- Cost: a chunk is one HMGET and one HSET of its task, and for a job's last chunk one PEXPIRE
-- (a fresh job's start adds one HGET and one HDEL of its queued record);
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
-- has none) its id joins its account's index. `k`: the chunk's first KEYS; `record`: what
-- the queued hash held for it.
local function unqueue(k, record)
  local task_id = string.match(KEYS[k], ':task:(.*)$')
  if record then
    redis.call('HDEL', queued, task_id)
  else
    redis.call('LPUSH', KEYS[k + 2], task_id)
    redis.call('LTRIM', KEYS[k + 2], 0, index_max - 1)
  end
end

-- Whether a fresh job (entry `id` of `account`, not started by start.lua) would start another
-- job's task: `f` is what HMGET read (status, account and origin at 5 to 7), `record` the
-- queued hash's value for its id.
local function foreign(id, account, f, record)
  if record then
    local r_entry, r_account = string.match(record, '^(%S+) %S+ (%S+) ')
    return r_entry ~= id or r_account ~= account
  end
  return (f[5] and f[5] ~= account) or (f[6] and f[6] ~= id)
end

-- Puts what starting the task writes (`a`, `k`: the chunk's first ARGV and KEYS; `f`: what
-- HMGET read). A task without a hash gets one, created at the entry's time (a fresh entry's:
-- the job's first).
local function put_start(a, k, f, record)
  local id = ARGV[a]
  if not f[1] then
    put('v', '1')
    put('type', ARGV[a + 10])
    put('account', ARGV[a + 11])
    put('origin', id)
    put('created_at', string.match(id, '^(%d+)-') or now)
    unqueue(k, record)
  end
  put('started_at', f[3] or now)
  put('deliveries', f[4] and tostring(tonumber(f[4]) + 1) or '1')
  put('entry', id)
  put('total', ARGV[a + 12])
end

local out, acks, k, a = {}, {}, 3, 8
-- A finished task's idempotency key (`k`: the chunk's first KEYS) expires with the task.
local function expire_idem(k)
  if KEYS[k + 3] ~= stream then redis.call('PEXPIRE', KEYS[k + 3], ttl) end
end
while a <= #ARGV do
  local id, first, last, final = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 8]
  local n = tonumber(ARGV[a + 13])
  local task = KEYS[k]
  local state, cursor = 'lost', '0'
  if mine[id] then
    -- A task's counters move only with its cursor: while the cursor is 0 they are all 0, so a
    -- job's first chunk need not read them.
    local f, record
    local begins = ARGV[a + 9] == '1'
    if begins then
      f = redis.call('HMGET', task, 'status', 'cursor', 'started_at', 'deliveries', 'account',
                     'origin')
      record = not f[1] and redis.call('HGET', queued, string.match(task, ':task:(.*)$'))
    elseif first == '0' then
      f = redis.call('HMGET', task, 'status', 'cursor', 'started_at', 'deliveries')
    else
      f = redis.call('HMGET', task, 'status', 'cursor', 'started_at', 'deliveries', 'processed',
                     'sent', 'scheduled', 'skipped', 'failed')
    end
    local status = f[1]
    local begun = begins and (not status or status == 'queued')
    if begun then status = 'processing' end
    cursor = f[2] or '0'
    if begins and foreign(id, ARGV[a + 11], f, record) then
      state = 'foreign'
    elseif status ~= 'processing' then
      state = 'done'
      acks[#acks + 1] = id
    elseif cursor ~= first and tonumber(cursor) ~= tonumber(first) then
      state = 'stale'
      if begun then
        m = 0
        put_start(a, k, f, record)
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
        unqueue(k, record)
        redis.call('HSET', task, 'v', '1', 'type', ARGV[a + 10], 'account', ARGV[a + 11],
                   'origin', id, 'created_at', string.match(id, '^(%d+)-') or now, 'status', 'completed',
                   'started_at', f[3] or now, 'deliveries',
                   f[4] and tostring(tonumber(f[4]) + 1) or '1', 'entry', id, 'total',
                   ARGV[a + 12], 'cursor', last, 'processed', ARGV[a + 3], 'finished_at', now,
                   'expires_at', expires)
      end
      redis.call('PEXPIRE', task, ttl)
      expire_idem(k)
    else
      state, cursor = 'ok', last
      m = 0
      if begun then put_start(a, k, f, record) end
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
        expire_idem(k)
      end
    end
  end
  out[#out + 1] = state
  out[#out + 1] = tonumber(cursor) or 0
  a = a + 14 + 2 * n
  k = k + 4
end
-- Acknowledged entries go at once: one pending entry must not keep the rest in the stream.
if #acks > 0 then
  redis.call('XACK', stream, group, unpack(acks))
  redis.call('XDEL', stream, unpack(acks))
end
return out
