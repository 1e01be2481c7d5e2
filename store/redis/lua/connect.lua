-- Connect: record live connection ARGV[6] of ARGV[5] user, leased for
-- ARGV[7] ms (store.Store.Connect).
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] user  ARGV[6] connID  ARGV[7] lease ms
-- Returns {'ok', next_due}.
connect(ARGV[6], ARGV[5], I(NOW + tonumber(ARGV[7])))
return {'ok', next_due()}
