-- Connect: record live connection ARGV[7] of ARGV[6] user, leased for
-- ARGV[8] ms (store.Store.Connect).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] user  ARGV[7] connID  ARGV[8] lease ms
-- Returns {'ok'}.
connect(ARGV[7], ARGV[6], I(NOW + tonumber(ARGV[8])))
reindex()
return {'ok'}
