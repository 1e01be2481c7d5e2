-- Events: the events after ARGV[6] (store.Store.Events). Changes nothing.
-- KEYS, ARGV[1..5]: see project.lua.
-- ARGV[6] the seq to read after ('0': from the project's first event)
-- Returns {'ok', {event JSON...}}, or {'gone'} when the stream does not hold
-- that seq nor starts right after it: an unknown seq, one of another life of
-- the store (lost writes), or one fallen out of the history window. From
-- '0' with no history at all, the project has had no event only if it has
-- no lock and no connection either; else its history was lost (expired or
-- evicted while a lock or a connection lived on): gone.
local after = ARGV[6]
local first = redis.call('XRANGE', K_EVENTS, '-', '+', 'COUNT', 1)[1]
if not first then
  if after == '0' and redis.call('EXISTS', K_META, K_HOLDERS, K_EXPIRY, K_USERS, K_CONNS, K_PRESENT, K_GRACE) == 0 then
    return {'ok', {}}
  end
  return {'gone'}
end
local r
if cjson.decode(first[2][2]).p == after then
  r = redis.call('XRANGE', K_EVENTS, '-', '+')
elseif after ~= '0' and redis.call('XRANGE', K_EVENTS, after .. '-0', after .. '-0')[1] then
  r = redis.call('XRANGE', K_EVENTS, '(' .. after .. '-0', '+')
else
  return {'gone'}
end
local out = {}
for i, e in ipairs(r) do out[i] = e[2][2] end
return {'ok', out}
