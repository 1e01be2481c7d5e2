-- Heartbeat: extend ARGV[5] user's lock to now + its ttl (store.Store.Heartbeat).
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] user
-- Returns {code[, lock]}, code ok or not_locked.
local user = ARGV[5]

local file = user_lock(user)
local l = file and live_lock(file)
if not l or l.u ~= user then
  -- Nothing live, or a stale index entry (the key was evicted or deleted
  -- and the file taken since): never extend someone else's lock.
  if file then redis.call('HDEL', K_USERS, user) end
  return {'not_locked'}
end
l.x = NOW + l.l
put_lock(l)
return {'ok', lock_reply(l)}
