-- Refresh: renew the leases of live connections to now + ARGV[5] ms
-- (store.Store.Refresh); a connection not recorded (its lease lapsed, or
-- Redis came back empty) is recorded again as Connect does.
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] lease ms  ARGV[6..] pairs connID, user
-- Returns {'ok', next_due, recreated}.
local dl = I(NOW + tonumber(ARGV[5]))
local recreated = 0
for i = 6, #ARGV - 1, 2 do
  if connect(ARGV[i], ARGV[i + 1], dl) then recreated = recreated + 1 end
end
return {'ok', next_due(), recreated}
