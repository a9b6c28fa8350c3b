-- Profiles of one profile database (proto/profiles.md). Two operations, each over a batch, so
-- that a chunk of an import costs two script calls, and a create re-runs, atomically, the lookup
-- it was decided on.
--
-- A lookup is described by groups: the earliest-created profile (lowest score) found in any
-- group wins; a group of several index keys finds the profiles present under every one of them.
--
--   match  KEYS = each lookup's index keys, group after group, lookup after lookup
--          ARGV = {"match", profile key prefix ("P:{pdb:A:D}:p:"), lookups,
--                  then for each: id ("" to search), groups, size of each group...}
--          → for each lookup: nil, or {id, version, seq, doc} of the profile it finds (the one
--            whose id is given, else the earliest created its groups find)
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
-- and d (the document). Index entries are members of sorted sets scored by s.

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
  local prefix = ARGV[2]
  local k, a = 1, 4
  for i = 1, tonumber(ARGV[3]) do
    local given = ARGV[a]
    local id
    id, k, a = lookup(k, a + 1)
    if given ~= '' then id = given end
    out[i] = false
    if id then
      -- The profile's key: the prefix (in the index keys' hash tag, so in their slot) and the id.
      local h = redis.call('HMGET', prefix .. id, 'v', 's', 'd')
      if h[1] then out[i] = {id, h[1], h[2], h[3]} end
    end
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
