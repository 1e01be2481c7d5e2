-- Refresh: renew the leases of live connections to now + ARGV[6] ms
-- (store.Store.Refresh); a connection not recorded (its lease lapsed, or
-- Redis came back empty) is recorded again as Connect does. Re-registers
-- the project's due time, and restarts the idle time of its counter and
-- history.
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] lease ms  ARGV[7..] pairs connID, user
-- Returns {'ok'}.
local lease = tonumber(ARGV[6])
local dl = lease > 0 and NOW + lease or nil -- <= 0: no lease
for i = 7, #ARGV - 1, 2 do
  connect(ARGV[i], ARGV[i + 1], dl)
end
reindex()
touch()
return {'ok'}
