-- Hint: tell the reapers that a slot may have something due (a hint shard).
-- The slot's due index (reap.lua) is the truth; hints only say where to look,
-- and a lost one is found again by the reapers' sweep.
-- KEYS[1] shard  zset slot -> earliest due ms (hint)
-- KEYS[2] ver    hash slot -> version, bumped by every hint (same shard tag)
-- ARGV[1] slot  ARGV[2] 'rel' (due = now + ARGV[3] ms: a script's hint) or
--   'abs' (due = ARGV[3] ms: the sweep's, which only repeats what the slot's
--   index says, so it leaves the version alone)  ARGV[3] ms
-- Lowers the slot's due time, never raises it. Returns the due time set.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = tonumber(ARGV[3])
if ARGV[2] == 'rel' then due = now + due end
due = string.format('%d', due)
redis.call('ZADD', KEYS[1], 'LT', due, ARGV[1])
if ARGV[2] == 'rel' then redis.call('HINCRBY', KEYS[2], ARGV[1], 1) end
return due
