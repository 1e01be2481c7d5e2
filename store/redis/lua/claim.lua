-- Claim: take the first of ARGV[8..] files that is free or already ARGV[6]
-- user's, as Acquire with release_previous (store.Store.Claim). An expired
-- lock counts as free (released expired first).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] user  ARGV[7] ttl ms  ARGV[8..] the files, in the caller's order
-- Returns {code, lock[, released lock]}, code one of
--   ok (new lock; released = the user's previous lock, switched), renewed
--   (the user's own listed file), none_free (every file held by another
--   user; nothing changed).
local user, ttl = ARGV[6], ARGV[7]
for i = 8, #ARGV do
  local l = live_lock(ARGV[i])
  if not l or l[U] == user then
    local r = acquire(ARGV[i], user, ttl, true)
    return with_released(r)
  end
end
return with_released({'none_free'})
