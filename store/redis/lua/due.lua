-- Due: the projects whose due time has come, with their versions (reaper slot).
-- KEYS[1] due  KEYS[2] ver  (see register.lua)
-- ARGV[1] batch: at most this many projects
-- Returns {project, version, project, version, ...}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, p in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0, ARGV[1])) do
  out[#out + 1] = p
  out[#out + 1] = redis.call('HGET', KEYS[2], p) or '0'
end
return out
