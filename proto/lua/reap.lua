-- Herald: removes the group's consumers that are gone: no pending entry, and idle (no read, no
-- claim) for longer than ARGV[2]. A heraldd is a consumer named once per start, so without this
-- every restart would leave one behind. A consumer with pending entries is never removed (its
-- entries wait for a claimer); a live one reads every few seconds, and one removed while it
-- waits is made again by its next read.
--
-- KEYS[1] the stream   ARGV[1] group   ARGV[2] idle bound (ms)   ARGV[3] the caller's consumer
-- Returns the names removed.
local removed = {}
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return removed end
local bound = tonumber(ARGV[2])
for _, c in ipairs(consumers) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] end
    if c[i] == 'pending' then pending = c[i + 1] end
    if c[i] == 'idle' then idle = c[i + 1] end
  end
  if name ~= ARGV[3] and pending == 0 and idle and idle > bound then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed[#removed + 1] = name
  end
end
return removed
