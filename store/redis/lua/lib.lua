-- Library of every script: the Go side prepends it to the script's own file,
-- followed by the library parts the script uses (lib_locks.lua,
-- lib_presence.lua, lib_index.lua, in this order) and, for a project
-- script, project.lua. A script carries only the parts it uses, as Redis
-- creates every function of a script anew each time it runs it. The
-- library defines no globals of Redis's; it reads no KEYS or ARGV itself:
-- a script calls init, then use for each project it works on.
--
-- The keys of project p, P being the key prefix (every one carries the hash
-- tag {p}, so they share p's slot):
--   P meta:{p}      hash   seq (the last event's seq)
--   P events:{p}    stream of events, id <seq>-0, field e = event JSON (with
--                   p, the seq of the event before it); also the name of
--                   the project's Pub/Sub channel
--   P users:{p}     hash   user -> "<token>:<file>" of the lock the user holds
--   P holders:{p}   hash   file -> "<token>:<acq>:<ttl>:<user>" of its lock
--                   (no Redis TTL: a lock whose key was evicted or vanished is
--                   still known, and released at its time)
--   P expiry:{p}    zset   file -> expires_at ms
--   P conns:{p}     zset   connID -> lease deadline ms
--   P connuser:{p}  hash   connID -> user
--   P present:{p}   hash   user -> number of live connections
--   P grace:{p}     zset   user -> deadline ms of the disconnect release
--   P lock:{p}:<f>  hash   user, token, acq, exp, ttl (ms) of file f; Redis
--                   TTL exp + margin, so it vanishes even if no instance runs
-- and, shared by the projects of one Redis Cluster slot (its key names a tag
-- of that slot, chosen by the Go side):
--   K_DUE           zset   project -> a due time ms never later than the
--                   project's earliest (lock expiry, lease, disconnect
--                   release): every due time written lowers it (due); one
--                   removed or put off leaves it early, and the reaper's
--                   visit then, finding nothing due, sets it right (reindex)
--
-- Numbers are passed to Redis as strings formatted with %d: Lua's default
-- number formatting (%.14g) would round seqs and tokens.

local P, HISTORY, GRACE, MARGIN
local PROJECT, LOCKP, K_DUE
local K_META, K_EVENTS, K_USERS, K_HOLDERS, K_EXPIRY
local K_CONNS, K_CONNUSER, K_PRESENT, K_GRACE

local function I(n) return string.format('%d', n) end

local NOW, NOW_US -- the Redis time in ms and in µs
do
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  NOW, NOW_US = s * 1000 + math.floor(us / 1000), s * 1000000 + us
end

-- init sets the key prefix, the history length, the disconnect grace ms and
-- the lock-key margin ms (how long past expires_at a lock key lives); the
-- numbers as strings of digits (Lua converts them where they are added).
local function init(prefix, history, grace, margin)
  P, HISTORY, GRACE, MARGIN = prefix, history, grace, margin
end

-- LOWERED is the lowest due time this script lowered the project's K_DUE
-- entry to (nil: none yet).
local LOWERED

-- use makes project p the one the functions below work on; keys, when
-- given, are its meta, events, users, holders, expiry, conns, connuser,
-- present and grace keys (project.lua's KEYS), else they are named here.
local function use(p, keys)
  PROJECT, LOCKP, LOWERED = p, P .. 'lock:{' .. p .. '}:', nil
  if keys then
    K_META, K_EVENTS, K_USERS, K_HOLDERS, K_EXPIRY, K_CONNS, K_CONNUSER, K_PRESENT, K_GRACE = unpack(keys, 1, 9)
    return
  end
  local tag = '{' .. p .. '}'
  K_META, K_EVENTS, K_USERS = P .. 'meta:' .. tag, P .. 'events:' .. tag, P .. 'users:' .. tag
  K_HOLDERS, K_EXPIRY = P .. 'holders:' .. tag, P .. 'expiry:' .. tag
  K_CONNS, K_CONNUSER = P .. 'conns:' .. tag, P .. 'connuser:' .. tag
  K_PRESENT, K_GRACE = P .. 'present:' .. tag, P .. 'grace:' .. tag
end

-- due records that the project has something due at x (ms): its K_DUE
-- entry becomes x unless it is already no later (ZADD LT; added if absent).
-- Called wherever a due time is written, so the entry is never later than
-- the project's earliest due time.
local function due(x, formatted)
  if LOWERED and x >= LOWERED then return end
  LOWERED = x
  redis.call('ZADD', K_DUE, 'LT', formatted or I(x), PROJECT)
end

-- next_seq allocates the next event seq, hybrid-logical-clock style: above
-- the project's last seq and at least the Redis time in µs. So seqs keep
-- growing when Redis loses writes (a restart from an older snapshot, a
-- failover to a lagging replica, a flush), as long as the clock is not
-- behind the time of the lost writes (each script runs in a microsecond of
-- its own: TIME moves on between two scripts). Below 2^53 until the year 2255, so
-- Lua's doubles and JavaScript read them exactly. It returns the seq and
-- the seq of the project's previous event ('0': none known), formatted.
local function next_seq()
  local prev = redis.call('HGET', K_META, 'seq') or '0'
  if prev == '0' then
    -- No counter (new project, or lost): never go below the stream's top.
    local top = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)[1]
    if top then prev = string.match(top[1], '^%d+') end
  end
  local seq = I(math.max(tonumber(prev) + 1, NOW_US))
  redis.call('HSET', K_META, 'seq', seq)
  return seq, prev
end

local q = cjson.encode -- q(v): string v as a JSON string

-- emit appends the event with a new seq (or seq, prev from next_seq) to
-- the stream and publishes it. The event is given as the JSON members
-- before s and p (t = type first; see codec.go's wireEvent). The event
-- carries p, the seq of the event before it, so readers see gaps although
-- seqs jump.
-- The counter and the history of a project expire a day after its last
-- event, lock write or connection refresh (IDLE_MS, see touch), so Redis
-- forgets idle projects. That is safe: the next
-- event takes its seq from the clock again, above every earlier token
-- and id, and streams resuming from an old id get a snapshot. Locks and
-- presence keep keys of their own, which empty out by themselves.
local IDLE_MS = '86400000'

local function emit(members, seq, prev)
  if not seq then seq, prev = next_seq() end
  local js = '{' .. members .. ',"s":"' .. seq .. '","p":"' .. prev .. '"}'
  redis.call('XADD', K_EVENTS, 'MAXLEN', HISTORY, seq .. '-0', 'e', js)
  redis.call('PUBLISH', K_EVENTS, js)
  redis.call('PEXPIRE', K_META, IDLE_MS)
  redis.call('PEXPIRE', K_EVENTS, IDLE_MS)
end

-- touch restarts the idle time of the project's counter and history (a day
-- from now): called wherever a lock is written (by emit, when an event
-- comes with it) and on Refresh, so they expire only once the project is
-- idle indeed (no lock kept alive, no connection), not a day after its last
-- event.
local function touch()
  redis.call('PEXPIRE', K_META, IDLE_MS)
  redis.call('PEXPIRE', K_EVENTS, IDLE_MS)
end

-- user_lock returns the file of the lock the users hash records for u.
local function user_lock(u)
  local v = redis.call('HGET', K_USERS, u)
  if not v then return nil end
  return string.sub(v, string.find(v, ':', 1, true) + 1)
end

-- A lock is the array {file, user, token, acquired_at ms, expires_at ms,
-- ttl ms}, the numbers formatted (as stored, and as a script replies a
-- lock: codec.go's decodeLock); user is nil for a lock of nobody (see
-- get_lock). Its indexes:
local F, U, K, A, X, L = 1, 2, 3, 4, 5, 6

-- get_lock reads the lock of file without changing anything. A lock whose
-- key is gone while the expiry index still lists it (evicted, or its Redis
-- TTL fired while no instance ran) is rebuilt from the holders hash, with
-- the index's expires_at: it is released when that time has come, not
-- before. An index entry without a holder comes back as a lock of nobody
-- (user nil), expired.
local function get_lock(file)
  local v = redis.call('HMGET', LOCKP .. file, 'user', 'token', 'acq', 'exp', 'ttl')
  if v[1] then
    return {file, v[1], v[2], v[3], v[4], v[5]}
  end
  local x = redis.call('ZSCORE', K_EXPIRY, file)
  if not x then return nil end
  local h = redis.call('HGET', K_HOLDERS, file)
  if not h then return {file, nil, '0', '0', '0', '0'} end
  local k, a, l, u = string.match(h, '^(%d+):(%d+):(%d+):(.*)$')
  return {file, u, k, a, I(tonumber(x)), l}
end

-- EXPIRED, DISCONNECTED count the releases of reason expired and
-- disconnected this script carried out (see with_released).
local EXPIRED, DISCONNECTED = 0, 0

-- release removes the lock and appends its lock_released event.
local function release(l, reason)
  local f, u = l[F], l[U]
  redis.call('DEL', LOCKP .. f)
  redis.call('ZREM', K_EXPIRY, f)
  redis.call('HDEL', K_HOLDERS, f)
  if not u then return end -- a dangling index entry: nothing was held
  if user_lock(u) == f then redis.call('HDEL', K_USERS, u) end
  emit('"t":"lock_released","f":' .. q(f) .. ',"u":' .. q(u) .. ',"k":"' .. l[K] .. '","r":"' .. reason .. '"')
  if reason == 'expired' then
    EXPIRED = EXPIRED + 1
  elseif reason == 'disconnected' then
    DISCONNECTED = DISCONNECTED + 1
  end
end

-- with_released returns the reply r of a {code, ...} script with, when it
-- released locks with reason expired or disconnected, one more element
-- {'#released', expired, disconnected} (the Go side strips it and counts).
local function with_released(r)
  if EXPIRED > 0 or DISCONNECTED > 0 then
    r[#r + 1] = {'#released', EXPIRED, DISCONNECTED}
  end
  return r
end

-- live_lock returns the lock of file, first releasing it (reason expired)
-- when its expires_at has passed.
local function live_lock(file)
  local l = get_lock(file)
  if l and tonumber(l[X]) <= NOW then
    release(l, 'expired')
    return nil
  end
  return l
end
