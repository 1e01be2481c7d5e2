-- Refresh: renew the leases of live connections to now + ARGV[5] ms
-- (store.Store.Refresh); a connection not recorded (its lease lapsed, or
-- Redis came back empty) is recorded again as Connect does.
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] lease ms  ARGV[6..] pairs connID, user
-- Returns {'ok', next_due, recreated}.
local dl = I(NOW + tonumber(ARGV[5]))
local recreated = 0
for i = 6, #ARGV - 1, 2 do
  local conn, user = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', K_CONNUSER, conn) == 1 then
    redis.call('ZADD', K_CONNS, dl, conn)
  else
    recreated = recreated + 1
    redis.call('HSET', K_CONNUSER, conn, user)
    redis.call('ZADD', K_CONNS, dl, conn)
    redis.call('ZREM', K_GRACE, user)
    if redis.call('HINCRBY', K_PRESENT, user, 1) == 1 then
      emit({t = 'user_joined', u = user})
    end
  end
end
return {'ok', next_due(), recreated}
