-- Reschedule: after a reap, set the project's due time to what the reap
-- found next, unless a registration came in since the reaper read version
-- ARGV[2] (then the registration's time stands). Reaper slot.
-- KEYS[1] due  KEYS[2] ver  (see register.lua)
-- ARGV[1] project  ARGV[2] version read by due.lua  ARGV[3] next due ms, '-1' = none
-- Returns 1 when set, 0 when a registration won.
if (redis.call('HGET', KEYS[2], ARGV[1]) or '0') ~= ARGV[2] then return 0 end
if ARGV[3] == '-1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
