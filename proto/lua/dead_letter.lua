-- Herald: moves a stream entry to the dead-letter stream, with its reason, and fails its task
-- with that reason as error_text. For a job whose body does not parse (at once) and for one
-- delivered more than max_deliveries times. A task still a queued record gets its hash here,
-- and the record goes.
--
-- KEYS[1] the stream   KEYS[2] the dead-letter stream   KEYS[3] task hash   KEYS[4] task items
-- KEYS[5] the queued hash
-- ARGV[1] group  ARGV[2] entry id  ARGV[3] reason  ARGV[4] deliveries  ARGV[5] now (ms)
-- ARGV[6] task_ttl (ms)  ARGV[7] type  ARGV[8] account (for a task that does not exist yet)
-- ARGV[9] 'no_task' when the entry has no usable task_id (then no task is written)
-- ARGV[10] task_id
-- Returns the dead-letter entry's id, or nil when the entry was gone already.
local id = ARGV[2]
local entry = redis.call('XRANGE', KEYS[1], id, id)
if #entry == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  return false
end
local fields = entry[1][2]
fields[#fields + 1] = 'entry_id'
fields[#fields + 1] = id
fields[#fields + 1] = 'reason'
fields[#fields + 1] = ARGV[3]
fields[#fields + 1] = 'deliveries'
fields[#fields + 1] = ARGV[4]
fields[#fields + 1] = 'dead_at'
fields[#fields + 1] = ARGV[5]
local dead_id = redis.call('XADD', KEYS[2], '*', unpack(fields))
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
local ttl = tonumber(ARGV[6])
if ARGV[9] == 'no_task' then return dead_id end
local record = redis.call('HGET', KEYS[5], ARGV[10])
if record then redis.call('HDEL', KEYS[5], ARGV[10]) end
if redis.call('HEXISTS', KEYS[3], 'status') == 0 then
  -- `entry_id total account type`: the task was created at its first entry's time.
  local created = string.match(record or id, '^(%d+)-') or ARGV[5]
  local total = record and string.match(record, '^%S+ (%d+) ') or 0
  redis.call('HSET', KEYS[3], 'v', 1, 'type', ARGV[7], 'account', ARGV[8], 'total', total,
             'processed', 0, 'sent', 0, 'scheduled', 0, 'skipped', 0, 'failed', 0, 'cursor', 0,
             'deliveries', ARGV[4], 'created_at', created)
end
redis.call('HSET', KEYS[3], 'status', 'failed', 'error_text', ARGV[3], 'dead_letter', dead_id,
           'finished_at', ARGV[5], 'expires_at', tonumber(ARGV[5]) + ttl)
redis.call('HDEL', KEYS[3], 'entry')
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('PEXPIRE', KEYS[4], ttl)
return dead_id
