-- Library part (after lib.lua) of the scripts that record connections.


-- disconnect removes a connection; the user's last one appends user_left
-- and, when the user holds a lock, schedules its disconnect release.
local function disconnect(conn)
  local u = redis.call('HGET', K_CONNUSER, conn)
  redis.call('ZREM', K_CONNS, conn)
  if not u then return end
  redis.call('HDEL', K_CONNUSER, conn)
  if redis.call('HINCRBY', K_PRESENT, u, -1) > 0 then return end
  redis.call('HDEL', K_PRESENT, u)
  emit('"t":"user_left","u":' .. q(u))
  if redis.call('HEXISTS', K_USERS, u) == 1 then
    redis.call('ZADD', K_GRACE, I(NOW + GRACE), u)
    due(NOW + GRACE)
  end
end

-- connect leases connection conn of user until dl (ms; nil: no lease, it
-- lives until disconnected); a connection not yet recorded is
-- recorded, cancels the user's pending disconnect release and, as the
-- user's first, appends user_joined. A live conn of another user is
-- disconnected first. It returns true when the connection was new.
local function connect(conn, user, dl)
  local cur = redis.call('HGET', K_CONNUSER, conn)
  if cur and cur ~= user then
    disconnect(conn)
    cur = nil
  end
  if dl then
    redis.call('ZADD', K_CONNS, I(dl), conn)
    due(dl)
  else
    redis.call('ZREM', K_CONNS, conn)
  end
  if cur then return false end
  redis.call('HSET', K_CONNUSER, conn, user)
  redis.call('ZREM', K_GRACE, user)
  if redis.call('HINCRBY', K_PRESENT, user, 1) == 1 then
    emit('"t":"user_joined","u":' .. q(user))
  end
  return true
end
