-- Disconnect: remove connection ARGV[6] (store.Store.Disconnect).
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] connID
-- Returns {'ok'}.
disconnect(ARGV[6])
return {'ok'}
