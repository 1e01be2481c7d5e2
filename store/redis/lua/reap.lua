-- Reap: carry out what is due in the project (store.Store.Run): release
-- expired locks (reason expired), disconnect connections whose lease lapsed,
-- release the locks of users whose disconnect grace ran out while absent
-- (reason disconnected). Atomic, so concurrent reapers do each thing once.
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] batch: at most this many of each kind per call
-- Returns {'ok', next_due} (next_due <= now when a batch was cut short).
local batch = ARGV[5]

for _, f in ipairs(redis.call('ZRANGEBYSCORE', K_EXPIRY, '-inf', I(NOW), 'LIMIT', 0, batch)) do
  live_lock(f)
end
for _, c in ipairs(redis.call('ZRANGEBYSCORE', K_CONNS, '-inf', I(NOW), 'LIMIT', 0, batch)) do
  disconnect(c)
end
for _, u in ipairs(redis.call('ZRANGEBYSCORE', K_GRACE, '-inf', I(NOW), 'LIMIT', 0, batch)) do
  redis.call('ZREM', K_GRACE, u)
  if redis.call('HEXISTS', K_PRESENT, u) == 0 then
    local file = user_lock(u)
    local l = file and live_lock(file)
    if l then release(l, 'disconnected') end
  end
end
return {'ok', next_due()}
