-- Connect: record live connection ARGV[6] of ARGV[5] user, leased for
-- ARGV[7] ms (store.Store.Connect).
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] user  ARGV[6] connID  ARGV[7] lease ms
-- Returns {'ok', next_due}.
local user, conn, lease = ARGV[5], ARGV[6], tonumber(ARGV[7])

local dl = I(NOW + lease)
if redis.call('HEXISTS', K_CONNUSER, conn) == 1 then
  redis.call('ZADD', K_CONNS, dl, conn)
  return {'ok', next_due()}
end
redis.call('HSET', K_CONNUSER, conn, user)
redis.call('ZADD', K_CONNS, dl, conn)
redis.call('ZREM', K_GRACE, user)
if redis.call('HINCRBY', K_PRESENT, user, 1) == 1 then
  emit({t = 'user_joined', u = user})
end
return {'ok', next_due()}
