-- Reap: carry out what is due in the projects of one slot (store.Store.Run),
-- earliest first, at most ARGV[5] items in all: release expired locks
-- (reason expired), disconnect connections whose lease lapsed, release the
-- locks of users whose disconnect grace ran out while absent (reason
-- disconnected). Atomic, so concurrent reapers do each thing once; its work
-- is proportional to what is due, not to what the slot holds.
-- KEYS[1] the slot's due index (K_DUE, lib.lua); the projects' own keys,
--   in the same slot, are named from it.
-- ARGV[1] key prefix  ARGV[2] history  ARGV[3] disconnect grace ms
-- ARGV[4] lock-key margin ms  ARGV[5] budget
-- Returns {the slot's next due time ms ('-1': none; <= now when the budget
-- ran out before everything due was done), locks released expired, locks
-- released disconnected}.

-- reap carries out at most budget due items of the project: expired locks
-- (reason expired), connections whose lease lapsed, users whose disconnect
-- grace ran out while absent (their lock: reason disconnected). It returns
-- the budget left.
local function reap(budget)
  for _, f in ipairs(redis.call('ZRANGEBYSCORE', K_EXPIRY, '-inf', I(NOW), 'LIMIT', 0, budget)) do
    live_lock(f)
    budget = budget - 1
  end
  if budget <= 0 then return 0 end
  for _, c in ipairs(redis.call('ZRANGEBYSCORE', K_CONNS, '-inf', I(NOW), 'LIMIT', 0, budget)) do
    disconnect(c)
    budget = budget - 1
  end
  if budget <= 0 then return 0 end
  for _, u in ipairs(redis.call('ZRANGEBYSCORE', K_GRACE, '-inf', I(NOW), 'LIMIT', 0, budget)) do
    redis.call('ZREM', K_GRACE, u)
    if redis.call('HEXISTS', K_PRESENT, u) == 0 then
      local l = held(u)
      if l then release(l, 'disconnected') end
    end
    budget = budget - 1
  end
  return budget
end

init(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
K_DUE = KEYS[1]
local budget = tonumber(ARGV[5])
for _, p in ipairs(redis.call('ZRANGEBYSCORE', K_DUE, '-inf', I(NOW), 'LIMIT', 0, budget)) do
  if budget <= 0 then break end
  use(p)
  budget = reap(budget)
  reindex()
end
local r = redis.call('ZRANGE', K_DUE, 0, 0, 'WITHSCORES')
return {r[2] or '-1', EXPIRED, DISCONNECTED}
