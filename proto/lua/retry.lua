-- Herald: a handler asked to run the job again later (a provider is unavailable, say). Moves
-- the entry to the delayed set, due ARGV[4] ms from now by Redis's clock (TIME: every instance
-- releases it at the same moment), if it is still pending for this consumer. The task keeps
-- its cursor: the job resumes where its last counted chunk ended. The delayed entry carries the
-- job's origin, and the task the member (`delayed`), so that a cancel removes it.
--
-- KEYS[1] the stream   KEYS[2] the delayed set   KEYS[3] task hash   KEYS[4] the queued hash
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] entry id  ARGV[4] delay (ms)  ARGV[5] why
-- ARGV[6] 1 when the job ran without start.lua (this delivery is counted here)  ARGV[7] task_ttl
-- Returns 1 when moved; 0 when the entry is no longer ours; 2 when the entry was deleted
-- meanwhile (its task cancelled): acknowledged, and a task still running without it is failed.
local id = ARGV[3]
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
if #mine == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], id, id)
local f = redis.call('HMGET', KEYS[3], 'status', 'account', 'origin')
if #entry == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], id)
  if f[1] == 'processing' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', KEYS[3], 'status', 'failed', 'error_text',
               'the job\'s stream entry was deleted while it ran', 'finished_at', now,
               'expires_at', now + tonumber(ARGV[7]))
    redis.call('HDEL', KEYS[3], 'entry')
    redis.call('PEXPIRE', KEYS[3], ARGV[7])
  end
  return 2
end
local fields, job = entry[1][2], {}
for i = 1, #fields, 2 do job[fields[i]] = fields[i + 1] end
job.origin = job.origin or id
job.retry_of = id
-- A job run without start.lua writes its task only when the task is its own.
local ours = true
if ARGV[6] == '1' then
  local record = not f[1] and redis.call('HGET', KEYS[4], job.task_id or '')
  if record then
    local r_entry, r_account = string.match(record, '^(%S+) %S+ (%S+) ')
    ours = r_entry == job.origin and r_account == job.account
  else
    ours = not ((f[2] and f[2] ~= job.account) or (f[3] and f[3] ~= job.origin))
  end
end
if not ours then
  -- Another job's task: this entry is left for a claimer, which dead-letters it.
  return 0
end
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4])
local member = cjson.encode(job)
redis.call('ZADD', KEYS[2], due, member)
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('HSET', KEYS[3], 'last_error', ARGV[5], 'retry_at', due, 'delayed', member)
if ARGV[6] == '1' then
  redis.call('HSET', KEYS[3], 'account', job.account, 'origin', job.origin)
  redis.call('HINCRBY', KEYS[3], 'deliveries', 1)
end
redis.call('HDEL', KEYS[3], 'entry')
return 1
