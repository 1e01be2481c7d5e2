-- Lock: the live lock of file ARGV[6] (store.Store.Lock). Changes nothing.
-- KEYS, ARGV[1..5]: see project.lua (KEYS[10] the file's lock key).
-- Returns {'ok', lock}, or {'not_locked'} when nobody holds the file or its
-- expires_at has passed (by the Redis clock), reaped or not.
local l = get_lock(ARGV[6])
if not l or not l[U] or tonumber(l[X]) <= NOW then return {'not_locked'} end
return {'ok', l}
