-- Herald: trims the stream of entries every consumer has been handed and acknowledged: those
-- older than both the group's last-delivered id and the oldest pending entry. An entry still
-- pending, or not yet delivered, is never removed. (Workers delete what they acknowledge, so
-- this only matters for entries acknowledged by other means.)
--
-- KEYS[1] the stream   ARGV[1] group
-- Returns the number of entries removed.
local bound
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if name == ARGV[1] then bound = last end
end
if not bound then return 0 end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
if pending[1] > 0 then
  local a, b = string.match(pending[2], '^(%d+)-(%d+)$')
  local c, d = string.match(bound, '^(%d+)-(%d+)$')
  if tonumber(a) < tonumber(c) or (tonumber(a) == tonumber(c) and tonumber(b) < tonumber(d)) then
    bound = pending[2]
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', bound)
