-- Take: claim up to ARGV[1] slots of a hint shard whose due time has come,
-- for ARGV[2] ms: their due time becomes now + ARGV[2], so other reapers
-- leave them alone meanwhile (and come back to them should this one die).
-- KEYS[1] shard  KEYS[2] ver  (see hint.lua)
-- Returns {wait, slot, version, slot, version, ...}: wait is how many ms
-- from now the shard's earliest due time is after the claims ('-1': none).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = string.format('%d', now + tonumber(ARGV[2]))
local out = {'-1'}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0, ARGV[1])) do
  redis.call('ZADD', KEYS[1], until_, s)
  out[#out + 1] = s
  out[#out + 1] = redis.call('HGET', KEYS[2], s) or '0'
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = string.format('%d', math.max(tonumber(first[2]) - now, 0)) end
return out
