-- Acquire: take ARGV[5] file for ARGV[6] user (store.Store.Acquire).
-- KEYS, ARGV[1..4]: see lib.lua. KEYS[9] is the file's lock key.
-- ARGV[5] file  ARGV[6] user  ARGV[7] ttl ms  ARGV[8] '1' to release the user's previous lock
-- Returns {code, lock, next_due[, released lock]}, code one of
--   ok (new lock), renewed, file_locked (lock = the holder's), user_has_lock (lock = the user's other lock).
local file, user, ttl, relprev = ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1'

local cur = live_lock(file)
if cur and cur.u == user then
  cur.x, cur.l = NOW + ttl, ttl
  put_lock(cur)
  return {'renewed', lock_reply(cur), next_due()}
end
if cur then
  return {'file_locked', lock_reply(cur), next_due()}
end

local released
local other = user_lock(user)
if other then
  local mine = live_lock(other)
  if mine then
    if not relprev then
      return {'user_has_lock', lock_reply(mine), next_due()}
    end
    release(mine, 'switched')
    released = mine
  else
    redis.call('HDEL', K_USERS, user) -- stale entry
  end
end

local l = {f = file, u = user, a = NOW, x = NOW + ttl, l = ttl}
local seq, prev = next_seq()
l.k = seq
put_lock(l)
emit({t = 'lock_acquired', f = file, u = user, k = I(l.k), a = I(l.a), x = I(l.x), l = I(ttl)}, seq, prev)
if released then
  return {'ok', lock_reply(l), next_due(), lock_reply(released)}
end
return {'ok', lock_reply(l), next_due()}
