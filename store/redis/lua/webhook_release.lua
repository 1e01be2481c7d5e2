-- ReleaseDelivery (store.Deliveries): drop the lease if it is still held
-- with this fence by this owner.
-- KEYS[1] lease; ARGV[1] owner, ARGV[2] fence
if redis.call('GET', KEYS[1]) == ARGV[2] .. ' ' .. ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
