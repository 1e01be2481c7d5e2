-- Events: the events after ARGV[5] (store.Store.Events). Changes nothing.
-- KEYS, ARGV[1..4]: see lib.lua.
-- ARGV[5] the seq to read after ('0': from the project's first event)
-- Returns {'ok', {event JSON...}} or {'gone'} when the events after it are
-- not all in the stream (unknown seq, another life of the store, or fallen
-- out of the history window).
local seq = redis.call('HGET', K_META, 'seq')
if not seq then
  if ARGV[5] == '0' then return {'ok', {}} end
  return {'gone'}
end
local base = tonumber(redis.call('HGET', K_META, 'base'))
local last = tonumber(seq)
local after = tonumber(ARGV[5])
if ARGV[5] == '0' then after = base end
if after < base or after > last then return {'gone'} end
if after == last then return {'ok', {}} end
local first = I(after + 1) .. '-0'
local r = redis.call('XRANGE', K_EVENTS, first, '+')
if not r[1] or r[1][1] ~= first then return {'gone'} end
local out = {}
for i, e in ipairs(r) do out[i] = e[2][2] end
return {'ok', out}
