-- Herald: reads a trigger of an account (proto/triggers.md): its current version, or a given
-- version (which a task started with), still readable after the trigger's delete until the hash
-- expires.
--
-- KEYS[1] the trigger's hash P:{trg:A}:t:<id>
-- ARGV[1] the version to read; '' for the current one (nothing once deleted)
-- Returns {version, json, created_at, updated_at, current version, deleted ('1' or '0')}, or nil
-- when there is no such trigger or version.
local f = redis.call('HMGET', KEYS[1], 'v', 'c', 'u', 'd')
if not f[1] then return false end
local version = ARGV[1]
if version == '' then
  if f[4] then return false end
  version = f[1]
end
local json = redis.call('HGET', KEYS[1], 'j:' .. version)
if not json then return false end
return {version, json, f[2] or '0', f[3] or '0', f[1], f[4] and '1' or '0'}
