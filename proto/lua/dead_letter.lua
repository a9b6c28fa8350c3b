-- Herald: moves a stream entry to the dead-letter stream, with its reason, and fails its task
-- with that reason as error_text. For a job whose body does not parse (at once), one delivered
-- more than max_deliveries times, and one whose task id is another job's. Only the entry's own
-- task is failed (its account and origin are the entry's, as start.lua checks): another job's
-- task is never touched. A task still a queued record gets its hash here, and the record goes.
-- A letter keeps the job's fields, less a body's top-level "token" (a credential is never
-- stored) and less a body over max_job_bytes (its size is kept as `body_bytes`); the stream
-- keeps its newest dead_max letters.
--
-- KEYS[1] the stream   KEYS[2] the dead-letter stream   KEYS[3] task hash   KEYS[4] task items
-- KEYS[5] the queued hash   KEYS[6] the job's idempotency key (KEYS[1] when it has none)
-- ARGV[1] group  ARGV[2] entry id  ARGV[3] reason  ARGV[4] deliveries (0: Redis's own count of
-- the entry's deliveries)  ARGV[5] now (ms)  ARGV[6] task_ttl (ms)
-- ARGV[7] type  ARGV[8] account (for a task that does not exist yet)
-- ARGV[9] 'no_task' when the entry has no usable task_id (then no task is written)
-- ARGV[10] task_id  ARGV[11] dead_max  ARGV[12] max_job_bytes (0: no limit)
-- Returns the dead-letter entry's id, or nil when the entry was gone already.
local id = ARGV[2]
local entry = redis.call('XRANGE', KEYS[1], id, id)
if #entry == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  return false
end

-- The same as enqueue.lua's (scripts cannot share code): the root object's "token" members
-- removed from a JSON text that has one.
local function strip_token(body)
  if not string.find(body, '"token"', 1, true) then return body end
  local len = #body
  local i = string.find(body, '[^ \t\r\n]')
  if not i or string.sub(body, i, i) ~= '{' then return body end
  local function past_string(at)
    local p = at + 1
    while true do
      local q = string.find(body, '["\\]', p)
      if not q then return len + 1 end
      if string.sub(body, q, q) == '"' then return q + 1 end
      p = q + 2
    end
  end
  local function past_value(at)
    local c = string.sub(body, at, at)
    if c == '"' then return past_string(at) end
    if c == '{' or c == '[' then
      local depth, p = 0, at
      while true do
        local q = string.find(body, '[%[%]{}"]', p)
        if not q then return len + 1 end
        local d = string.sub(body, q, q)
        if d == '"' then
          p = past_string(q)
        else
          depth = depth + ((d == '{' or d == '[') and 1 or -1)
          p = q + 1
          if depth == 0 then return p end
        end
      end
    end
    return string.find(body, '[,}%s]', at) or len + 1
  end
  local kept, p, removed = {}, i + 1, false
  while true do
    local k = string.find(body, '[^ \t\r\n]', p)
    if not k then return body end
    local c = string.sub(body, k, k)
    if c == '}' and #kept == 0 and not removed then return body end
    if c ~= '"' then return body end
    local key_end = past_string(k)
    local colon = string.find(body, '[^ \t\r\n]', key_end)
    if not colon or string.sub(body, colon, colon) ~= ':' then return body end
    local v = string.find(body, '[^ \t\r\n]', colon + 1)
    if not v then return body end
    local v_end = past_value(v)
    if string.sub(body, k, key_end - 1) == '"token"' then
      removed = true
    else
      kept[#kept + 1] = string.sub(body, k, v_end - 1)
    end
    local after = string.find(body, '[^ \t\r\n]', v_end)
    if not after then return body end
    local sep = string.sub(body, after, after)
    if sep == '}' then
      return '{' .. table.concat(kept, ',') .. string.sub(body, after)
    end
    if sep ~= ',' then return body end
    p = after + 1
  end
end

local fields, letter = entry[1][2], {}
local max_bytes = tonumber(ARGV[12]) or 0
local account, origin = nil, id
for f = 1, #fields, 2 do
  local name, value = fields[f], fields[f + 1]
  if name == 'account' then account = value end
  if name == 'origin' then origin = value end
  if name == 'body' and max_bytes > 0 and #value > max_bytes then
    letter[#letter + 1] = 'body_bytes'
    letter[#letter + 1] = tostring(#value)
  else
    letter[#letter + 1] = name
    letter[#letter + 1] = name == 'body' and strip_token(value) or value
  end
end
local deliveries = tonumber(ARGV[4]) or 0
if deliveries == 0 then
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  deliveries = pending[1] and pending[1][4] or 0
end
for _, v in ipairs({'entry_id', id, 'reason', ARGV[3], 'deliveries', deliveries, 'dead_at',
                    ARGV[5]}) do
  letter[#letter + 1] = v
end
local dead_id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[11], '*', unpack(letter))
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
if ARGV[9] == 'no_task' then return dead_id end

-- Only the entry's own task.
local ttl = tonumber(ARGV[6])
local f = redis.call('HMGET', KEYS[3], 'status', 'account', 'origin')
local record = redis.call('HGET', KEYS[5], ARGV[10])
if record then
  local r_entry, r_account = string.match(record, '^(%S+) %S+ (%S+) ')
  if r_entry ~= origin or r_account ~= account then return dead_id end
  redis.call('HDEL', KEYS[5], ARGV[10])
elseif (f[2] and f[2] ~= account) or (f[3] and f[3] ~= origin) then
  return dead_id
elseif f[1] == 'completed' or f[1] == 'failed' or f[1] == 'cancelled' then
  return dead_id
elseif not f[1] and origin ~= id then
  return dead_id  -- a delayed job's entry whose task is gone
end
if not f[1] then
  -- `entry_id total account type`: the task was created at its first entry's time.
  local created = string.match(record or id, '^(%d+)-') or ARGV[5]
  local total = record and string.match(record, '^%S+ (%d+) ') or 0
  redis.call('HSET', KEYS[3], 'v', 1, 'type', ARGV[7], 'account', ARGV[8], 'origin', origin,
             'total', total, 'processed', 0, 'sent', 0, 'scheduled', 0, 'skipped', 0, 'failed',
             0, 'cursor', 0, 'created_at', created)
end
redis.call('HSET', KEYS[3], 'status', 'failed', 'error_text', ARGV[3], 'dead_letter', dead_id,
           'deliveries', deliveries, 'finished_at', ARGV[5], 'expires_at', tonumber(ARGV[5]) + ttl)
redis.call('HDEL', KEYS[3], 'entry', 'delayed')
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
if KEYS[6] ~= KEYS[1] then redis.call('PEXPIRE', KEYS[6], ttl) end
return dead_id
