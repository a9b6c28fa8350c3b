-- Herald: a worker reads new jobs (XREADGROUP ... >, without blocking), and a body too large to
-- be a job never leaves Redis: an entry whose body is over max_job_bytes comes back without it,
-- with its size as the field `body_bytes` (the worker dead-letters it, and dead_letter.lua
-- keeps no such body). The worker chooses COUNT from the bytes its last reads brought, so that
-- one read brings a bounded amount. When this finds nothing, the worker waits with a blocking
-- XREADGROUP of one entry. With ARGV[5] an entry id, it reads instead the consumer's own pending
-- entries after that id (its history: what it was running when its connection to Redis was
-- lost), which the worker resumes at once rather than after claim_idle.
--
-- KEYS[1] the stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] count   ARGV[4] max_job_bytes (0: no limit)
-- ARGV[5] (optional) '>' (new entries, the default) or an id: pending entries after it
-- Returns XREADGROUP's entries ([[id, [field, value, ...]], ...]); an empty array when none. A
-- pending entry deleted meanwhile comes back as [id, false].
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[3]),
                     'STREAMS', KEYS[1], ARGV[5] or '>')
if not r then return {} end
local entries = r[1][2]
local max_bytes = tonumber(ARGV[4])
if max_bytes > 0 then
  for _, e in ipairs(entries) do
    local f = e[2]
    if f then
      for i = 1, #f, 2 do
        if f[i] == 'body' and #f[i + 1] > max_bytes then
          f[i] = 'body_bytes'
          f[i + 1] = tostring(#f[i + 1])
        end
      end
    end
  end
end
return entries
