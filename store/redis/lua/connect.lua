-- Connect: record live connection ARGV[7] of ARGV[6] user, leased for
-- ARGV[8] ms (store.Store.Connect; <= 0: no lease).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] user  ARGV[7] connID  ARGV[8] lease ms
-- Returns {'ok'}.
local lease = tonumber(ARGV[8])
connect(ARGV[7], ARGV[6], lease > 0 and NOW + lease or nil)
return {'ok'}
