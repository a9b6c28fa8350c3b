-- Herald: schedules a chunk's rendered messages (a trigger run with `timeout`) to be delivered
-- when due. The batch's id is `<task_id>:<chunk start>`, so a chunk run again after a crash
-- writes the same batch again instead of a second one. Due is Redis's clock (TIME) plus the
-- delay, so no instance's clock sends early.
--
-- KEYS[1] the sends sorted set P:{Q}:sends (member: batch id, score: due, ms)
-- KEYS[2] the batches hash P:{Q}:send_bodies (field: batch id, value: the batch's JSON)
-- KEYS[3] the task's batches set P:{Q}:task:<id>:sends   KEYS[4] the task hash
-- ARGV[1] batch id   ARGV[2] delay (ms)   ARGV[3] the batch's JSON   ARGV[4] account
-- ARGV[5] task_ttl (ms)
-- Returns the due time (ms since the epoch), or 'gone' when the task is not this account's
-- processing task (cancelled meanwhile: nothing is written).
local f = redis.call('HMGET', KEYS[4], 'account', 'status')
if f[1] ~= ARGV[4] or f[2] ~= 'processing' then return 'gone' end
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], due, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]) + tonumber(ARGV[5]))
return due
