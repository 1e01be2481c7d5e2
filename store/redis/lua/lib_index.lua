-- Library part (after lib.lua and the other parts) of the scripts that set
-- the due index exactly.

-- reindex records the project's earliest lock expiry, lease deadline or
-- grace deadline in K_DUE exactly (or removes the project when it has
-- none), setting right an entry left early, and returns it (ms), or nil.
local function reindex()
  local best
  for _, k in ipairs({K_EXPIRY, K_CONNS, K_GRACE}) do
    local r = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if r[2] then
      local s = tonumber(r[2])
      if not best or s < best then best = s end
    end
  end
  if best then
    redis.call('ZADD', K_DUE, I(best), PROJECT)
  else
    redis.call('ZREM', K_DUE, PROJECT)
  end
  return best
end
