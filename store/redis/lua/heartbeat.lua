-- Heartbeat: extend ARGV[6] user's lock to now + its ttl (store.Store.Heartbeat).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] user
-- Returns {code[, lock]}, code ok or not_locked. Never extends another
-- user's lock (a stale users entry is dropped). Sets the project's due
-- index entry exactly (reindex): the due time put off is not left early,
-- so a kept-alive lock never sends a reaper to the project for nothing.
local l = held(ARGV[6])
if l then
  local e = NOW + l[L]
  l[X] = I(e)
  put_lock(l, e)
  touch()
end
reindex()
if not l then return with_released({'not_locked'}) end
return with_released({'ok', l})
