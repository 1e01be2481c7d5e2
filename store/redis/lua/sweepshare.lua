-- SweepShare: hand a reaper its share of the sweep, so that together the
-- reapers sweep every slot once per ARGV[2] ms however many they are.
-- KEYS[1] cursor  string: how many slots have been handed out, counted
--         since the epoch at ARGV[3] slots per ARGV[2] ms
-- ARGV[1] most slots to hand out  ARGV[2] period ms  ARGV[3] slots
-- Returns {first slot, count, now ms (Redis time)}; count 0 when the sweep
-- is up to date. A
-- cursor more than a period behind skips ahead (a slot is then swept a
-- period later than due, never more).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slots = tonumber(ARGV[3])
local target = math.floor(now * slots / tonumber(ARGV[2]))
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < target - slots then cur = target - slots end
if cur >= target then return {0, 0, now} end
local n = math.min(tonumber(ARGV[1]), target - cur)
redis.call('SET', KEYS[1], string.format('%d', cur + n), 'PX', 60000)
return {cur % slots, n, now}
