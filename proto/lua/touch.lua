-- Herald: a worker still busy with entries resets their idle time, so that no other consumer
-- claims a job that is making progress. Only entries still pending for this consumer are
-- touched: one already claimed by another stays with it.
--
-- KEYS[1] the stream   ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry ids
-- Returns the ids no longer ours (the worker should stop them).
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2]) == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID')
  else
    lost[#lost + 1] = id
  end
end
return lost
