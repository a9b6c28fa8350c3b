-- Herald: trims the stream of entries every consumer has been handed and acknowledged: those
-- older than the oldest pending entry and not after the group's last-delivered id. An entry
-- still pending, or not yet delivered, is never removed. Workers run it every second: a job's
-- last commit acknowledges its entry and leaves the (costlier, one at a time) delete to this.
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
if pending[1] == 0 then
  -- Nothing pending: everything up to the last delivered entry, itself included, is done.
  local ms, seq = string.match(bound, '^(%d+)-(%d+)$')
  bound = ms .. '-' .. (tonumber(seq) + 1)
else
  local a, b = string.match(pending[2], '^(%d+)-(%d+)$')
  local c, d = string.match(bound, '^(%d+)-(%d+)$')
  if tonumber(a) < tonumber(c) or (tonumber(a) == tonumber(c) and tonumber(b) < tonumber(d)) then
    bound = pending[2]
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', bound)
