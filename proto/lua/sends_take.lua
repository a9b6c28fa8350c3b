-- Herald: takes scheduled batches that are due, leasing each: its score moves to now + lease,
-- so a heraldd that dies while delivering it leaves it to be taken again once the lease ends
-- (its messages carry their idempotency keys).
--
-- KEYS[1] the sends sorted set   KEYS[2] the batches hash
-- ARGV[1] at most this many batches   ARGV[2] lease (ms)
-- Returns {ms until the next batch is due (-1: none waits), id1, json1, id2, json2, ...}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {0}
for _, id in ipairs(due) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
out[1] = next[2] and math.max(0, tonumber(next[2]) - now) or -1
return out
