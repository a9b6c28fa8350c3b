-- Herald: a worker reads new jobs (XREADGROUP ... >, without blocking), and a body too large to
-- be a job never leaves Redis: an entry whose body is over max_job_bytes comes back without it,
-- with its size as the field `body_bytes` (the worker dead-letters it, and dead_letter.lua
-- keeps no such body). One call brings about max_read_bytes of bodies at most: it reads 1
-- entry, then 2, 4, ... while what it read stays under that, up to `count` entries, so that a
-- run of large entries is read a few at a time (and small ones in a handful of reads). When
-- this finds nothing, the worker waits with a blocking XREADGROUP of one entry.
-- With ARGV[6] an entry id, it reads instead (in the same steps) up to `count` of the consumer's
-- own pending entries after that id (its history: what it was running when its connection to Redis was lost),
-- which the worker resumes at once rather than after claim_idle.
--
-- KEYS[1] the stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] count   ARGV[4] max_job_bytes (0: no limit)
-- ARGV[5] max_read_bytes   ARGV[6] (optional) '>' (new entries, the default) or an id
-- Returns XREADGROUP's entries ([[id, [field, value, ...]], ...]); an empty array when none. A
-- pending entry deleted meanwhile comes back as [id, false].
local count, max_bytes, budget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local from = ARGV[6] or '>'
local out, bytes, batch = {}, 0, 1
local oversize = false -- Lua takes long over such a body: one a call
while #out < count and bytes < budget and not oversize do
  local want = math.min(batch, count - #out)
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want, 'STREAMS',
                       KEYS[1], from)
  if not r then break end
  local entries = r[1][2]
  for _, e in ipairs(entries) do
    local f = e[2]
    if f then
      for i = 1, #f, 2 do
        if f[i] == 'body' then
          bytes = bytes + #f[i + 1]
          if max_bytes > 0 and #f[i + 1] > max_bytes then
            f[i] = 'body_bytes'
            f[i + 1] = tostring(#f[i + 1])
            oversize = true
          end
        end
      end
    end
    out[#out + 1] = e
  end
  if #entries < want then break end
  if from ~= '>' then from = entries[#entries][1] end
  batch = batch * 2
end
return out
