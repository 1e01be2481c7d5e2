-- Sweep: the earliest due time ms in a slot's due index, '' when it is empty
-- (store.Store.Run hints the slot with it).
-- KEYS[1] the slot's due index (K_DUE, lib.lua)
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return r[2] or ''
