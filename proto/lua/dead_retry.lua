-- Herald: puts a dead letter back on the stream as it was first enqueued, and its task back to
-- `queued` with its delivery count reset (when it still exists; else a worker creates it anew).
-- The task keeps its cursor and counters.
--
-- KEYS[1] the dead-letter stream   KEYS[2] the stream   KEYS[3] task hash
-- ARGV[1] dead-letter entry id
-- Returns the new stream entry's id, or nil when there is no such dead letter.
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then return false end
local fields, keep = entry[1][2], {}
local skip = {entry_id = true, reason = true, deliveries = true, dead_at = true}
for f = 1, #fields, 2 do
  if not skip[fields[f]] then
    keep[#keep + 1] = fields[f]
    keep[#keep + 1] = fields[f + 1]
  end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(keep))
redis.call('XDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'status', 'queued', 'deliveries', 0)
  redis.call('HDEL', KEYS[3], 'error_text', 'finished_at', 'expires_at', 'dead_letter', 'last_error')
  redis.call('PERSIST', KEYS[3])
end
return id
