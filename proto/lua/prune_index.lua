-- Herald: removes an account's task index's oldest ids, those of tasks that expired, once a
-- listing has found them so: only when the index still ends with exactly those ids (ids are
-- pushed at the other end, so a push meanwhile does not change what the tail holds).
--
-- KEYS[1] the task index P:{Q}:tasks:<account>
-- ARGV[1 .. n] the ids the index ends with, oldest last
-- Returns the number of ids removed (0 when the tail is not those ids).
local n = #ARGV
if n == 0 then return 0 end
local tail = redis.call('LRANGE', KEYS[1], -n, -1)
if #tail ~= n then return 0 end
for i = 1, n do
  if tail[i] ~= ARGV[i] then return 0 end
end
redis.call('LTRIM', KEYS[1], 0, -(n + 1))
return n
