-- Profiles of one profile database (proto/profiles.md). Two operations, each over a batch, so
-- that a chunk of an import costs two script calls, and a create re-runs, atomically, the lookup
-- it was decided on.
--
-- A lookup is described by groups: the earliest-created profile (lowest score) found in any
-- group wins; a group of several index keys finds the profiles present under every one of them.
-- Every key a call touches is in KEYS, all in the database's hash tag ({pdb:A:D}), so that the
-- script runs on a Cluster node (no key is built here from a prefix).
--
--   match  KEYS = each lookup's index keys, group after group, lookup after lookup
--          ARGV = {"match", lookups, then for each: groups, size of each group...}
--          → for each lookup: the id of the earliest created profile its groups find, or false
--   read   KEYS = profile keys
--          ARGV = {"read"}
--          → for each key: {version, seq, doc}, or false when there is no such profile
--   write  KEYS = {seq key, then for each write: its profile key and its keys (below)}
--          ARGV = {"write", writes, then for each write its arguments}
--          create: keys {profile, the lookup's index keys..., index keys to add...};
--                  arguments {"c", id, doc, groups, sizes..., how many to add}
--          update: keys {profile, index keys to remove..., index keys to add...};
--                  arguments {"u", id, expected version, doc, how many to remove, to add}
--          → for each write: {"ok", seq, version}, or {"conflict", why[, id]}: "exists" (the id
--            is taken), "match" (a profile the lookup finds appeared since: its id), "version"
--            (changed since it was read) or "gone"
--
-- The profile's hash holds v (version, from 1), s (creation sequence: every index entry's score)
-- and d (the document). Index entries are members of sorted sets scored by s: a profile has one
-- score in every set, so a group's earliest profile is the lowest score all its sets share.

-- Index reads one group's lookup may make: a group of large sets that share nothing is refused
-- rather than scanned (the script must not hold Redis).
local max_steps = 2000

-- The earliest profile under all of KEYS[first .. first + n - 1]: id and score, or nil. A
-- leapfrog over the sets in score order: each read (O(log N)) finds a set's first member at or
-- above the highest score seen, until every set agrees; at most max_steps reads.
local function earliest(first, n)
  if n == 1 then
    local r = redis.call('ZRANGE', KEYS[first], 0, 0, 'WITHSCORES')
    if r[1] then return r[1], tonumber(r[2]) end
    return nil
  end
  local last = first + n - 1
  local i, agreed, id, score, bound = first, 0, nil, nil, '-inf'
  for _ = 1, max_steps do
    local r = redis.call('ZRANGE', KEYS[i], bound, '+inf', 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    if not r[1] then return nil end
    local s = tonumber(r[2])
    if s == score then
      agreed = agreed + 1
      if agreed == n then return id, score end
    else
      id, score, bound, agreed = r[1], s, r[2], 1
    end
    i = i == last and first or i + 1
  end
  error({err = 'ERR profile.lua: a lookup group of ' .. n .. ' index keys needs more than '
    .. max_steps .. ' reads (' .. KEYS[first] .. ' ...)'})
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

-- Whether the lookup whose group count is ARGV[at] and whose keys start at KEYS[first] finds any
-- profile, the next key's index and the next argument's index. Cheaper than lookup(): one
-- EXISTS for all the one-key groups (an empty sorted set does not exist).
local function finds_any(first, at)
  local groups = tonumber(ARGV[at])
  local singles = {}
  local found = false
  local k = first
  for g = 1, groups do
    local n = tonumber(ARGV[at + g])
    if n == 1 then
      singles[#singles + 1] = KEYS[k]
    elseif not found and earliest(k, n) then
      found = true
    end
    k = k + n
  end
  if not found and #singles > 0 then found = redis.call('EXISTS', unpack(singles)) > 0 end
  return found, k, at + groups + 1
end

local op = ARGV[1]
local out = {}
if op == 'match' then
  local k, a = 1, 3
  for i = 1, tonumber(ARGV[2]) do
    local id
    id, k, a = lookup(k, a)
    out[i] = id or false
  end
  return out
elseif op == 'read' then
  for i = 1, #KEYS do
    local h = redis.call('HMGET', KEYS[i], 'v', 's', 'd')
    out[i] = h[1] and {h[1], h[2], h[3]} or false
  end
  return out
elseif op == 'write' then
  local seq_key = KEYS[1]
  local k, a = 2, 3
  for i = 1, tonumber(ARGV[2]) do
    local kind, id, profile_key = ARGV[a], ARGV[a + 1], KEYS[k]
    if kind == 'c' then
      local found, nk, na = finds_any(k + 1, a + 3)
      local n_add = tonumber(ARGV[na])
      if redis.call('EXISTS', profile_key) == 1 then
        out[i] = {'conflict', 'exists'}
      elseif found then
        out[i] = {'conflict', 'match', (lookup(k + 1, a + 3))}
      else
        local seq = redis.call('INCR', seq_key)
        redis.call('HSET', profile_key, 'v', 1, 's', seq, 'd', ARGV[a + 2])
        for j = nk, nk + n_add - 1 do redis.call('ZADD', KEYS[j], seq, id) end
        out[i] = {'ok', seq, 1}
      end
      k, a = nk + n_add, na + 1
    elseif kind == 'u' then
      local n_rem, n_add = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
      local h = redis.call('HMGET', profile_key, 'v', 's')
      if not h[1] then
        out[i] = {'conflict', 'gone'}
      elseif h[1] ~= ARGV[a + 2] then
        out[i] = {'conflict', 'version'}
      else
        local v = tonumber(h[1]) + 1
        redis.call('HSET', profile_key, 'v', v, 'd', ARGV[a + 3])
        for j = k + 1, k + n_rem do redis.call('ZREM', KEYS[j], id) end
        for j = k + 1 + n_rem, k + n_rem + n_add do redis.call('ZADD', KEYS[j], h[2], id) end
        out[i] = {'ok', tonumber(h[2]), v}
      end
      k, a = k + 1 + n_rem + n_add, a + 6
    else
      return redis.error_reply('profile.lua: unknown write ' .. tostring(kind))
    end
  end
  return out
end
return redis.error_reply('profile.lua: unknown operation ' .. tostring(op))
