-- Herald: a provider's rate limit, GCRA on Redis's own clock (the redis-cell design), so that
-- every heraldd sharing this Redis shares one limit whatever its own clock says. The state is
-- one number, the theoretical arrival time (TAT) of the next message, in microseconds since the
-- epoch; the key expires when the limiter is idle again. The same arithmetic, tested apart, is
-- herald::delivery::gcra (lib/include/herald/delivery/rate_limit.hpp).
--
-- KEYS[1] P:{provider.NAME}:rate  the provider's TAT (a string holding an integer)
-- ARGV[1] rate: messages per second (> 0; fractions allowed)
-- ARGV[2] burst: messages that may go at once after idleness (>= 1)
-- ARGV[3] n: messages asked for at once, e.g. a batch (>= 1). More than burst is reserved only
--         when the limiter is idle; the messages after it wait until it is paid off.
-- ARGV[4] max_wait_ms: reserve the slot even when it is up to this far in the future (the
--         caller then sleeps until it); 0: only what may go now
-- Returns {reserved, wait_ms}:
--   {1, w}  the n messages are reserved; send them w ms from now (w = 0: at once)
--   {0, w}  nothing reserved; asked again in w ms, the same request would go at once
-- wait_ms is rounded up, so that a caller that waits it is never early.
--
-- TIME is not deterministic: replicating the script's effects rather than the script makes it
-- safe. That is the default from Redis 5 on (and the only mode in 7); on 3.2 and 4 it has to be
-- asked for, before any write.
if redis.replicate_commands then redis.replicate_commands() end

local rate, burst, n, max_wait_ms =
  tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not rate or rate <= 0 or rate ~= rate or rate == math.huge then
  return redis.error_reply('ERR gcra: ARGV[1] rate must be a positive number')
end
if not burst or burst < 1 then return redis.error_reply('ERR gcra: ARGV[2] burst must be >= 1') end
if not n or n < 1 then return redis.error_reply('ERR gcra: ARGV[3] n must be >= 1') end
if not max_wait_ms or max_wait_ms < 0 then
  return redis.error_reply('ERR gcra: ARGV[4] max_wait_ms must be >= 0')
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local tat = tonumber(redis.call('GET', KEYS[1])) or 0
if tat < now then tat = now end
local new_tat = tat + math.ceil(n * 1e6 / rate)
local allow_at = new_tat - math.ceil(math.max(burst, n) * 1e6 / rate)
local wait = allow_at - now
if wait < 0 then wait = 0 end
local wait_ms = math.ceil(wait / 1000)

if wait > max_wait_ms * 1000 then return {0, wait_ms} end
-- Idle again at new_tat: the key may go then.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.max(1, math.ceil((new_tat - now) / 1000)))
return {1, wait_ms}
