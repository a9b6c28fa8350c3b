-- Herald: removes every dead letter, counting exactly the letters removed (a letter added while
-- a purge runs is either counted and removed, or kept).
--
-- KEYS[1] the dead-letter stream
-- Returns the number of letters removed.
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return n
