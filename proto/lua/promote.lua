-- Herald: moves delayed jobs that are due (run_at reached, retry backoff over) into the stream,
-- atomically: a job is either in the delayed set or in the stream, never both, never neither.
-- Due means due by Redis's clock (TIME), so no instance's clock releases a job early.
--
-- KEYS[1] the delayed set   KEYS[2] the stream
-- ARGV[1] at most this many
-- Returns {moved, ms until the next job is due, or -1 when nothing waits}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
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
return {#due, next[2] and math.max(0, tonumber(next[2]) - now) or -1}
