-- Release: give ARGV[6] file up on behalf of ARGV[7] user (store.Store.Release).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] file  ARGV[7] user  ARGV[8] token ('' = any)  ARGV[9] '1' = force
-- Returns {code[, lock]}, code one of ok (lock = the lock released),
--   not_locked, not_owner (lock = the holder's), stale_token (lock = the current one).
local file, user, token, force = ARGV[6], ARGV[7], ARGV[8], ARGV[9] == '1'

local l = live_lock(file)
if not l then
  return with_released({'not_locked'})
end
if l[U] ~= user and not force then return with_released({'not_owner', l}) end
if token ~= '' and token ~= l[K] then return with_released({'stale_token', l}) end
if force then release(l, 'forced') else release(l, 'unlocked') end
return with_released({'ok', l})
