-- Refresh: renew the leases of live connections ARGV[6..] to now + ARGV[5]
-- ms (store.Store.Refresh); unknown connections are left alone.
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] lease ms  ARGV[6..] connIDs
-- Returns {'ok', next_due}.
local dl = I(NOW + tonumber(ARGV[5]))
for i = 6, #ARGV do
  redis.call('ZADD', K_CONNS, 'XX', dl, ARGV[i])
end
return {'ok', next_due()}
