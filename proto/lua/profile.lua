-- Profiles of one profile database (proto/profiles.md). One script with three operations, so
-- that a create re-runs, atomically, the lookup it was decided on.
--
-- A lookup is described by groups: the earliest-created profile (lowest score) found in any
-- group wins; a group of several index keys finds the profiles present under every one of them.
--
--   match   KEYS = the lookup's index keys, group after group
--           ARGV = {"match", profile key prefix ("P:{pdb:A:D}:p:"), groups, size of each group...}
--           → nil, or {id, version, seq, doc} of the earliest-created profile found
--   create  KEYS = {profile key, seq key, the lookup's index keys..., index keys to add...}
--           ARGV = {"create", profile key prefix, id, doc, groups, sizes..., how many to add}
--           → {"ok", seq, 1}, {"conflict", "exists"} (the id is taken) or
--             {"conflict", "match", id} (a matching profile appeared since the lookup)
--   update  KEYS = {profile key, index keys to remove..., index keys to add...}
--           ARGV = {"update", id, expected version, doc, how many to remove, how many to add}
--           → {"ok", seq, new version}, {"conflict", "version"} (changed since it was read) or
--             {"conflict", "gone"}
--
-- The profile's hash holds v (version, from 1), s (creation sequence: every index entry's score)
-- and d (the document). Index entries are members of sorted sets scored by s.
local op = ARGV[1]

-- The earliest profile under all of KEYS[first .. first + n - 1]: id and score, or nil.
local function earliest(first, n)
  if n == 1 then
    local r = redis.call('ZRANGE', KEYS[first], 0, 0, 'WITHSCORES')
    if r[1] then return r[1], tonumber(r[2]) end
    return nil
  end
  local small, count = first, nil
  for i = first, first + n - 1 do
    local c = redis.call('ZCARD', KEYS[i])
    if c == 0 then return nil end
    if not count or c < count then small, count = i, c end
  end
  for start = 0, count - 1, 100 do
    local page = redis.call('ZRANGE', KEYS[small], start, start + 99, 'WITHSCORES')
    for j = 1, #page, 2 do
      local all = true
      for i = first, first + n - 1 do
        if i ~= small and not redis.call('ZSCORE', KEYS[i], page[j]) then
          all = false
          break
        end
      end
      if all then return page[j], tonumber(page[j + 1]) end
    end
  end
  return nil
end

-- The lookup whose group count is ARGV[at] and whose keys start at KEYS[first]: the winner's id
-- (or nil), the next key's index and the next argument's index.
local function lookup(first, at)
  local groups = tonumber(ARGV[at])
  local best, best_score
  local k = first
  for g = 1, groups do
    local n = tonumber(ARGV[at + g])
    local id, score = earliest(k, n)
    if id and (not best_score or score < best_score) then best, best_score = id, score end
    k = k + n
  end
  return best, k, at + groups + 1
end

if op == 'match' then
  local id = lookup(1, 3)
  if not id then return false end
  -- The profile's key is the prefix (in KEYS' hash tag, so in their slot) and the id.
  local h = redis.call('HMGET', ARGV[2] .. id, 'v', 's', 'd')
  if not h[1] then return false end
  return {id, h[1], h[2], h[3]}
elseif op == 'create' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict', 'exists'} end
  local found, k, at = lookup(3, 5)
  if found then return {'conflict', 'match', found} end
  local n_add = tonumber(ARGV[at])
  local seq = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], 'v', 1, 's', seq, 'd', ARGV[4])
  for i = k, k + n_add - 1 do redis.call('ZADD', KEYS[i], seq, ARGV[3]) end
  return {'ok', seq, 1}
elseif op == 'update' then
  local h = redis.call('HMGET', KEYS[1], 'v', 's')
  if not h[1] then return {'conflict', 'gone'} end
  if h[1] ~= ARGV[3] then return {'conflict', 'version'} end
  local v = tonumber(h[1]) + 1
  redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[4])
  local n_rem, n_add = tonumber(ARGV[5]), tonumber(ARGV[6])
  for i = 2, 1 + n_rem do redis.call('ZREM', KEYS[i], ARGV[2]) end
  for i = 2 + n_rem, 1 + n_rem + n_add do redis.call('ZADD', KEYS[i], h[2], ARGV[2]) end
  return {'ok', tonumber(h[2]), v}
end
return redis.error_reply('profile.lua: unknown operation ' .. tostring(op))
