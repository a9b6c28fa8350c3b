-- Herald: saves a new version of an account's trigger (proto/triggers.md). A version, once
-- written, never changes: a task runs the version it started with, read by its number. The
-- newest ARGV[5] versions are kept; the one falling out of that window goes.
--
-- KEYS[1] the trigger's hash P:{trg:A}:t:<id>   KEYS[2] the account's trigger ids P:{trg:A}:ids
-- ARGV[1] mode: 'add' (refused when the trigger exists), 'update' (refused when it does not) or
--         'upsert' (either; a JSON equal to the current version's saves nothing)
-- ARGV[2] the trigger id   ARGV[3] the trigger's JSON   ARGV[4] now (ms since the epoch)
-- ARGV[5] versions kept (at least 1)   ARGV[6] the most triggers an account may have
-- Returns {outcome, version}: outcome 'created', 'updated' or 'unchanged' with the current
-- version, or 'exists' (add) / 'not_found' (update) with the current version (0 when none), or
-- 'full' with 0 when a new trigger would exceed ARGV[6].
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local live = v > 0 and redis.call('HEXISTS', KEYS[1], 'd') == 0
local mode = ARGV[1]
if mode == 'add' and live then return {'exists', v} end
if mode == 'update' and not live then return {'not_found', 0} end
if mode == 'upsert' and live and redis.call('HGET', KEYS[1], 'j:' .. v) == ARGV[3] then
  return {'unchanged', v}
end
if not live and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return {'full', 0} end
local nv = v + 1
redis.call('HSET', KEYS[1], 'v', tostring(nv), 'j:' .. nv, ARGV[3], 'u', ARGV[4])
if not live then
  -- New, or added again after a delete: numbering goes on, so no version is ever reused.
  redis.call('HSET', KEYS[1], 'c', ARGV[4])
  redis.call('HDEL', KEYS[1], 'd')
  redis.call('PERSIST', KEYS[1])
end
local old = nv - tonumber(ARGV[5])
if old >= 1 then redis.call('HDEL', KEYS[1], 'j:' .. old) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
if live then return {'updated', nv} end
return {'created', nv}
