-- Status: the project's locks, present users and last event seq, read in one
-- atomic step, and the Redis time (store.Store.Status). Changes nothing.
-- KEYS, ARGV[1..5]: see project.lua.
-- Returns {seq ('0' when the project has had no event), {lock...}, {user...}, now ms}.
-- A lock whose expires_at has passed but which is not reaped yet is listed.
local locks = {}
for _, f in ipairs(redis.call('ZRANGE', K_EXPIRY, 0, -1)) do
  local l = get_lock(f)
  if l and l[U] then locks[#locks + 1] = l end
end
local seq = redis.call('HGET', K_META, 'seq')
if not seq then -- no counter (never an event, or evicted): the stream's top
  local top = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)[1]
  seq = top and string.match(top[1], '^%d+') or '0'
end
return {seq, locks, redis.call('HKEYS', K_PRESENT), I(NOW)}
