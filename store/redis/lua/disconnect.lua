-- Disconnect: remove connection ARGV[5] (store.Store.Disconnect).
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] connID
-- Returns {'ok', next_due}.
disconnect(ARGV[5])
return {'ok', next_due()}
