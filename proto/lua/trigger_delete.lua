-- Herald: deletes an account's trigger (proto/triggers.md). It leaves the account's list and
-- answers no more reads of its current version; its versions stay readable for tasks already
-- running them until the hash expires, ARGV[3] ms later (heraldd passes task_ttl). Adding the
-- same id again continues its version numbers.
--
-- KEYS[1] the trigger's hash P:{trg:A}:t:<id>   KEYS[2] the account's trigger ids P:{trg:A}:ids
-- ARGV[1] the trigger id   ARGV[2] now (ms since the epoch)   ARGV[3] how long versions stay (ms)
-- Returns 1 when the trigger was deleted, 0 when there was no such trigger.
local v = redis.call('HGET', KEYS[1], 'v')
if not v or redis.call('HEXISTS', KEYS[1], 'd') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'd', '1', 'u', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
