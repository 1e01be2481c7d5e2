-- Release: give ARGV[5] file up on behalf of ARGV[6] user (store.Store.Release).
-- KEYS, ARGV[1..4]: see lib.lua. KEYS[9] is the file's lock key.
-- ARGV[5] file  ARGV[6] user  ARGV[7] token ('' = any)  ARGV[8] '1' = force
-- Returns {code[, lock]}, code one of ok (lock = the lock released),
--   not_locked, not_owner (lock = the holder's), stale_token (lock = the current one).
local file, user, token, force = ARGV[5], ARGV[6], ARGV[7], ARGV[8] == '1'

local l = live_lock(file)
if not l then return {'not_locked'} end
if l.u ~= user and not force then return {'not_owner', lock_reply(l)} end
if token ~= '' and token ~= I(l.k) then return {'stale_token', lock_reply(l)} end
if force then release(l, 'forced') else release(l, 'unlocked') end
return {'ok', lock_reply(l)}
