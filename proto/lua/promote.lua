-- Herald: moves delayed jobs that are due (run_at reached, retry backoff over) into the stream,
-- atomically: a job is either in the delayed set or in the stream, never both, never neither.
--
-- KEYS[1] the delayed set   KEYS[2] the stream
-- ARGV[1] now (ms)   ARGV[2] at most this many
-- Returns {moved, next due time in ms or -1 when nothing waits}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local job = cjson.decode(member)
  local fields = {}
  for k, v in pairs(job) do
    fields[#fields + 1] = k
    fields[#fields + 1] = tostring(v)
  end
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  redis.call('ZREM', KEYS[1], member)
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, next[2] and tonumber(next[2]) or -1}
