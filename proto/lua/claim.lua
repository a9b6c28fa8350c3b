-- Herald: a worker takes over entries idle for longer than claim_idle (XAUTOCLAIM), and, as in
-- read.lua, a body too large to be a job never leaves Redis: it comes back as its size, the
-- field `body_bytes`. One call claims 1 entry, then 2, 4, ... up to `count`, while the bodies
-- claimed stay under max_read_bytes, so that a run of large entries is claimed a few at a time.
--
-- KEYS[1] the stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] min idle (ms)   ARGV[4] start id ('0-0' first)
-- ARGV[5] count   ARGV[6] max_job_bytes (0: no limit)   ARGV[7] max_read_bytes
-- Returns {next start id ('0-0' when the pending list was scanned to its end), entries}
local count, max_bytes, budget = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local cursor, out, bytes, batch = ARGV[4], {}, 0, 1
local oversize = false -- Lua takes long over such a body: one a call
while #out < count and bytes < budget and not oversize do
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], cursor, 'COUNT',
                       math.min(batch, count - #out))
  cursor = r[1]
  for _, e in ipairs(r[2]) do
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
      out[#out + 1] = e
    end
  end
  if cursor == '0-0' then break end
  batch = batch * 2
end
return {cursor, out}
