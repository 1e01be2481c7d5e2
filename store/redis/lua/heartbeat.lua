-- Heartbeat: extend ARGV[6] user's lock to now + its ttl (store.Store.Heartbeat).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] user
-- Returns {code[, lock]}, code ok or not_locked. Never extends another
-- user's lock (a stale users entry is dropped). Re-registers the project's
-- due time.
local l = held(ARGV[6])
if l then
  l.x = NOW + l.l
  put_lock(l)
end
reindex()
if not l then return with_released({'not_locked'}) end
return with_released({'ok', lock_reply(l)})
