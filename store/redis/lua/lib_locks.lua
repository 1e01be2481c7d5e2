-- Library part (after lib.lua) of the scripts that write locks: lock
-- writes, the lock a user holds, acquire.

-- put_lock writes lock l, which expires at e (ms); the caller touches the
-- project (or emits).
local function put_lock(l, e)
  local key, f, k = LOCKP .. l[F], l[F], l[K]
  redis.call('HSET', key, 'user', l[U], 'token', k, 'acq', l[A], 'exp', l[X], 'ttl', l[L])
  redis.call('PEXPIREAT', key, I(e + MARGIN))
  redis.call('ZADD', K_EXPIRY, l[X], f)
  due(e, l[X])
  redis.call('HSET', K_USERS, l[U], k .. ':' .. f)
  redis.call('HSET', K_HOLDERS, f, k .. ':' .. l[A] .. ':' .. l[L] .. ':' .. l[U])
end

-- held returns the live lock user holds in the project, checked against
-- the lock itself: a users entry whose lock is gone or held by another
-- (stale: the lock vanished and the file was taken since) is dropped.
local function held(user)
  local file = user_lock(user)
  if not file then return nil end
  local l = live_lock(file)
  if l and l[U] == user then return l end
  if user_lock(user) == file then redis.call('HDEL', K_USERS, user) end
  return nil
end

-- acquire takes file for user with ttl ms (a string of digits), the rules
-- of store.Store.Acquire. A file the holders hash does not list is free
-- (an expiry index entry without a holder is nobody's lock, expired; the
-- new lock's entry replaces it). It returns the script reply
-- {code, lock[, released lock]}, code one of ok (new lock), renewed,
-- file_locked (lock = the holder's), user_has_lock (lock = the user's
-- other lock).
local function acquire(file, user, ttl, relprev)
  local cur
  if redis.call('HEXISTS', K_HOLDERS, file) == 1 then cur = live_lock(file) end
  local e = NOW + ttl
  if cur and cur[U] == user then
    cur[X], cur[L] = I(e), ttl
    put_lock(cur, e)
    touch()
    return {'renewed', cur}
  end
  if cur then
    return {'file_locked', cur}
  end
  local released
  local mine = held(user)
  if mine then
    if not relprev then
      return {'user_has_lock', mine}
    end
    release(mine, 'switched')
    released = mine
  end
  local seq, prev = next_seq()
  local l = {file, user, seq, I(NOW), I(e), ttl}
  put_lock(l, e)
  emit('"t":"lock_acquired","f":' .. q(file) .. ',"u":' .. q(user) .. ',"k":"' .. seq .. '","a":"' .. l[A] ..
    '","x":"' .. l[X] .. '","l":"' .. ttl .. '"', seq, prev)
  if released then
    return {'ok', l, released}
  end
  return {'ok', l}
end
