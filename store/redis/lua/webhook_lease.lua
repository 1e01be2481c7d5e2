-- LeaseDelivery (store.Deliveries): take or renew a project's webhook
-- delivery lease.
-- KEYS[1] lease   string "<fence> <owner>", Redis TTL = the lease
-- KEYS[2] fence   string the project's last fence (only grows)
-- ARGV[1] owner, ARGV[2] fence (0: take), ARGV[3] ttl ms, ARGV[4] fence key ttl ms
-- Returns the fence; 0 when another owner holds the lease; -1 when the
-- lease named by a fence is no longer held with it.
local owner, fence, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local cur = redis.call('GET', KEYS[1])
if cur then
  local f, o = string.match(cur, '^(%d+) (.*)$')
  if o == owner and (fence == '0' or fence == f) then
    redis.call('PEXPIRE', KEYS[1], ttl)
    return tonumber(f)
  end
  if fence ~= '0' then return -1 end
  return 0
end
if fence ~= '0' then return -1 end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, now_us)
local s = string.format('%d', next)
redis.call('SET', KEYS[2], s, 'PX', ARGV[4])
redis.call('SET', KEYS[1], s .. ' ' .. owner, 'PX', ttl)
return next
