-- Settle: after a reap, set the slot's hint to what the reap found next,
-- unless a hint came in since the reaper took version ARGV[2] (then the
-- lower of the two stands). A slot with nothing left is dropped, so the
-- shard holds only slots with something due; versions stay (one per slot
-- at most, so the hash is bounded, and a version never repeats).
-- KEYS[1] shard  KEYS[2] ver  (see hint.lua)
-- ARGV[1] slot  ARGV[2] version read by take.lua  ARGV[3] next due ms, '-1' = none
local same = (redis.call('HGET', KEYS[2], ARGV[1]) or '0') == ARGV[2]
if ARGV[3] == '-1' then
  if same then
    redis.call('ZREM', KEYS[1], ARGV[1])
  end
elseif same then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[1])
end
return 1
