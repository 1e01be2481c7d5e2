-- Acquire: take ARGV[6] file for ARGV[7] user (store.Store.Acquire).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] file  ARGV[7] user  ARGV[8] ttl ms  ARGV[9] '1' to release the user's previous lock
-- Returns {code, lock[, released lock]}, code one of
--   ok (new lock), renewed, file_locked (lock = the holder's), user_has_lock (lock = the user's other lock).
local r = acquire(ARGV[6], ARGV[7], ARGV[8], ARGV[9] == '1')
return with_released(r)
