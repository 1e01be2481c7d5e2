-- Register: record that a project may have something due (reaper slot).
-- KEYS[1] due  zset project -> earliest due ms
-- KEYS[2] ver  hash project -> version, bumped by every registration
-- ARGV[1] project  ARGV[2] 'rel' (due = now + ARGV[3] ms) or 'abs' (due = ARGV[3] ms)  ARGV[3] ms
-- Lowers the project's due time, never raises it. Returns the due time set.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = tonumber(ARGV[3])
if ARGV[2] == 'rel' then due = now + due end
due = string.format('%d', due)
redis.call('ZADD', KEYS[1], 'LT', due, ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return due
