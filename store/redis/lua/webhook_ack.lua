-- AckDelivery (store.Deliveries): record a receiver's acknowledged position,
-- only while the caller holds the lease with its fence.
-- KEYS[1] lease; KEYS[2] positions hash url -> event id
-- ARGV[1] owner, ARGV[2] fence, ARGV[3] url, ARGV[4] event id, ARGV[5] positions ttl ms
-- Returns 1, or 0 (lost lease, nothing changed).
if redis.call('GET', KEYS[1]) ~= ARGV[2] .. ' ' .. ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
