-- Library of every script: the Go side prepends it to the script's own file
-- (for a project script, with project.lua in between). It defines no
-- globals of Redis's; it reads no KEYS or ARGV itself: a script calls
-- init, then use for each project it works on.
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
--   K_DUE           zset   project -> the project's earliest due time ms
--                   (lock expiry, lease, disconnect release); every script
--                   that changes a project's due times updates it (reindex)
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
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- init sets the key prefix, the history length, the disconnect grace ms and
-- the lock-key margin ms (how long past expires_at a lock key lives).
local function init(prefix, history, grace, margin)
  P, HISTORY, GRACE, MARGIN = prefix, history, tonumber(grace), tonumber(margin)
end

-- use makes project p the one the functions below work on.
local function use(p)
  local tag = '{' .. p .. '}'
  PROJECT, LOCKP = p, P .. 'lock:' .. tag .. ':'
  K_META, K_EVENTS, K_USERS = P .. 'meta:' .. tag, P .. 'events:' .. tag, P .. 'users:' .. tag
  K_HOLDERS, K_EXPIRY = P .. 'holders:' .. tag, P .. 'expiry:' .. tag
  K_CONNS, K_CONNUSER = P .. 'conns:' .. tag, P .. 'connuser:' .. tag
  K_PRESENT, K_GRACE = P .. 'present:' .. tag, P .. 'grace:' .. tag
end

-- next_seq allocates the next event seq, hybrid-logical-clock style: above
-- the project's last seq and at least the Redis time in µs. So seqs keep
-- growing when Redis loses writes (a restart from an older snapshot, a
-- failover to a lagging replica, a flush), as long as the clock is not
-- behind the time of the lost writes (each script runs in a microsecond of
-- its own: TIME moves on between two scripts). Below 2^53 until the year 2255, so
-- Lua's doubles and JavaScript read them exactly. It returns the seq and
-- the seq of the project's previous event (0: none known).
local function next_seq()
  local last = tonumber(redis.call('HGET', K_META, 'seq') or '0')
  if last == 0 then
    -- No counter (new project, or lost): never go below the stream's top.
    local top = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)[1]
    if top then last = tonumber(string.match(top[1], '^%d+')) end
  end
  local seq = math.max(last + 1, NOW_US)
  redis.call('HSET', K_META, 'seq', I(seq))
  return seq, last
end

-- emit appends the event (a table of string fields, t = type) with a new seq
-- (or seq, prev from next_seq) to the stream and publishes it; it returns
-- the seq. The event carries p, the seq of the event before it, so readers
-- see gaps although seqs jump.
-- The counter and the history of a project expire a day after its last
-- event, lock write or connection refresh (IDLE_MS, see touch), so Redis
-- forgets idle projects. That is safe: the next
-- event takes its seq from the clock again, above every earlier token
-- and id, and streams resuming from an old id get a snapshot. Locks and
-- presence keep keys of their own, which empty out by themselves.
local IDLE_MS = 86400000

local function emit(ev, seq, prev)
  if not seq then seq, prev = next_seq() end
  ev.s, ev.p = I(seq), I(prev)
  local js = cjson.encode(ev)
  redis.call('XADD', K_EVENTS, 'MAXLEN', HISTORY, I(seq) .. '-0', 'e', js)
  redis.call('PUBLISH', K_EVENTS, js)
  redis.call('PEXPIRE', K_META, IDLE_MS)
  redis.call('PEXPIRE', K_EVENTS, IDLE_MS)
  return seq
end

-- touch restarts the idle time of the project's counter and history (a day
-- from now): called wherever a lock is written and on Refresh, so they
-- expire only once the project is idle indeed (no lock kept alive, no
-- connection), not a day after its last event.
local function touch()
  redis.call('PEXPIRE', K_META, IDLE_MS)
  redis.call('PEXPIRE', K_EVENTS, IDLE_MS)
end

-- user_lock returns the file and token of the lock the users hash records for u.
local function user_lock(u)
  local v = redis.call('HGET', K_USERS, u)
  if not v then return nil end
  local i = string.find(v, ':', 1, true)
  return string.sub(v, i + 1), tonumber(string.sub(v, 1, i - 1))
end

-- get_lock reads the lock of file without changing anything. A lock whose
-- key is gone while the expiry index still lists it (evicted, or its Redis
-- TTL fired while no instance ran) is rebuilt from the holders hash, with
-- the index's expires_at: it is released when that time has come, not
-- before. An index entry without a holder comes back as a lock of nobody
-- (l.u nil), expired.
local function get_lock(file)
  local v = redis.call('HMGET', LOCKP .. file, 'user', 'token', 'acq', 'exp', 'ttl')
  if v[1] then
    return {f = file, u = v[1], k = tonumber(v[2]), a = tonumber(v[3]), x = tonumber(v[4]), l = tonumber(v[5])}
  end
  local x = redis.call('ZSCORE', K_EXPIRY, file)
  if not x then return nil end
  local h = redis.call('HGET', K_HOLDERS, file)
  if not h then return {f = file, k = 0, a = 0, x = 0, l = 0} end
  local k, a, l, u = string.match(h, '^(%d+):(%d+):(%d+):(.*)$')
  return {f = file, u = u, k = tonumber(k), a = tonumber(a), x = tonumber(x), l = tonumber(l)}
end

local function lock_reply(l)
  return {l.f, l.u, I(l.k), I(l.a), I(l.x), I(l.l)}
end

local function put_lock(l)
  local key = LOCKP .. l.f
  redis.call('HSET', key, 'user', l.u, 'token', I(l.k), 'acq', I(l.a), 'exp', I(l.x), 'ttl', I(l.l))
  redis.call('PEXPIREAT', key, I(l.x + MARGIN))
  redis.call('ZADD', K_EXPIRY, I(l.x), l.f)
  redis.call('HSET', K_USERS, l.u, I(l.k) .. ':' .. l.f)
  redis.call('HSET', K_HOLDERS, l.f, I(l.k) .. ':' .. I(l.a) .. ':' .. I(l.l) .. ':' .. l.u)
  touch()
end

-- RELEASED counts the releases of reason expired and disconnected this
-- script carried out (see with_released).
local RELEASED = {expired = 0, disconnected = 0}

-- release removes the lock and appends its lock_released event.
local function release(l, reason)
  redis.call('DEL', LOCKP .. l.f)
  redis.call('ZREM', K_EXPIRY, l.f)
  redis.call('HDEL', K_HOLDERS, l.f)
  if not l.u then return end -- a dangling index entry: nothing was held
  if user_lock(l.u) == l.f then redis.call('HDEL', K_USERS, l.u) end
  emit({t = 'lock_released', f = l.f, u = l.u, k = I(l.k), r = reason})
  if RELEASED[reason] then RELEASED[reason] = RELEASED[reason] + 1 end
end

-- with_released returns the reply r of a {code, ...} script with, when it
-- released locks with reason expired or disconnected, one more element
-- {'#released', expired, disconnected} (the Go side strips it and counts).
local function with_released(r)
  if RELEASED.expired > 0 or RELEASED.disconnected > 0 then
    r[#r + 1] = {'#released', RELEASED.expired, RELEASED.disconnected}
  end
  return r
end

-- live_lock returns the lock of file, first releasing it (reason expired)
-- when its expires_at has passed.
local function live_lock(file)
  local l = get_lock(file)
  if l and l.x <= NOW then
    release(l, 'expired')
    return nil
  end
  return l
end

-- held returns the live lock user holds in the project, checked against
-- the lock itself: a users entry whose lock is gone or held by another
-- (stale: the lock vanished and the file was taken since) is dropped.
local function held(user)
  local file = user_lock(user)
  if not file then return nil end
  local l = live_lock(file)
  if l and l.u == user then return l end
  if user_lock(user) == file then redis.call('HDEL', K_USERS, user) end
  return nil
end

-- acquire takes file for user with ttl ms (store.Store.Acquire's rules).
-- It returns the script reply {code, lock[, released lock]}, code one of
--   ok (new lock), renewed, file_locked (lock = the holder's),
--   user_has_lock (lock = the user's other lock).
local function acquire(file, user, ttl, relprev)
  local cur = live_lock(file)
  if cur and cur.u == user then
    cur.x, cur.l = NOW + ttl, ttl
    put_lock(cur)
    return {'renewed', lock_reply(cur)}
  end
  if cur then
    return {'file_locked', lock_reply(cur)}
  end
  local released
  local mine = held(user)
  if mine then
    if not relprev then
      return {'user_has_lock', lock_reply(mine)}
    end
    release(mine, 'switched')
    released = mine
  end
  local seq, prev = next_seq()
  local l = {f = file, u = user, k = seq, a = NOW, x = NOW + ttl, l = ttl}
  put_lock(l)
  emit({t = 'lock_acquired', f = file, u = user, k = I(l.k), a = I(l.a), x = I(l.x), l = I(ttl)}, seq, prev)
  if released then
    return {'ok', lock_reply(l), lock_reply(released)}
  end
  return {'ok', lock_reply(l)}
end

-- disconnect removes a connection; the user's last one appends user_left
-- and, when the user holds a lock, schedules its disconnect release.
local function disconnect(conn)
  local u = redis.call('HGET', K_CONNUSER, conn)
  redis.call('ZREM', K_CONNS, conn)
  if not u then return end
  redis.call('HDEL', K_CONNUSER, conn)
  if redis.call('HINCRBY', K_PRESENT, u, -1) > 0 then return end
  redis.call('HDEL', K_PRESENT, u)
  emit({t = 'user_left', u = u})
  if redis.call('HEXISTS', K_USERS, u) == 1 then
    redis.call('ZADD', K_GRACE, I(NOW + GRACE), u)
  end
end

-- connect leases connection conn of user until dl (ms, formatted; nil: no
-- lease, it lives until disconnected); a connection not yet recorded is
-- recorded, cancels the user's pending disconnect release and, as the
-- user's first, appends user_joined. A live conn of another user is
-- disconnected first. It returns true when the connection was new.
local function connect(conn, user, dl)
  local cur = redis.call('HGET', K_CONNUSER, conn)
  if cur and cur ~= user then
    disconnect(conn)
    cur = nil
  end
  if dl then
    redis.call('ZADD', K_CONNS, dl, conn)
  else
    redis.call('ZREM', K_CONNS, conn)
  end
  if cur then return false end
  redis.call('HSET', K_CONNUSER, conn, user)
  redis.call('ZREM', K_GRACE, user)
  if redis.call('HINCRBY', K_PRESENT, user, 1) == 1 then
    emit({t = 'user_joined', u = user})
  end
  return true
end

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

-- reindex records the project's earliest lock expiry, lease deadline or
-- grace deadline in K_DUE (or removes the project when it has none) and
-- returns it (ms), or nil.
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

-- ---- the script's own body follows ----
