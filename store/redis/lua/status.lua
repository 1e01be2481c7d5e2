-- Status: the project's locks, present users and last event seq, read in one
-- atomic step (store.Store.Status). Changes nothing.
-- KEYS, ARGV[1..4]: see lib.lua.
-- Returns {seq ('0' when the project has had no event), {lock...}, {user...}}.
local locks = {}
for _, f in ipairs(redis.call('ZRANGE', K_EXPIRY, 0, -1)) do
  local l = get_lock(f)
  if l and not l.orphan then locks[#locks + 1] = lock_reply(l) end
end
local seq = redis.call('HGET', K_META, 'seq') or '0'
return {seq, locks, redis.call('HKEYS', K_PRESENT)}
