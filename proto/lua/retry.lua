-- Herald: a handler asked to run the job again later (a provider is unavailable, say). Moves
-- the entry to the delayed set, due at ARGV[4], if it is still pending for this consumer. The
-- task keeps its cursor: the job resumes where its last counted chunk ended.
--
-- KEYS[1] the stream   KEYS[2] the delayed set   KEYS[3] task hash
-- ARGV[1] group  ARGV[2] consumer  ARGV[3] entry id  ARGV[4] due (ms)  ARGV[5] why
-- ARGV[6] 1 when the job ran without start.lua (this delivery is counted here)
-- Returns 1 when moved, 0 when the entry is no longer ours.
local id = ARGV[3]
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
if #mine == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], id, id)
if #entry > 0 then
  local fields, job = entry[1][2], {}
  for f = 1, #fields, 2 do job[fields[f]] = fields[f + 1] end
  job.retry_of = id
  redis.call('ZADD', KEYS[2], ARGV[4], cjson.encode(job))
end
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
redis.call('HSET', KEYS[3], 'last_error', ARGV[5], 'retry_at', ARGV[4])
if ARGV[6] == '1' then redis.call('HINCRBY', KEYS[3], 'deliveries', 1) end
redis.call('HDEL', KEYS[3], 'entry')
return 1
