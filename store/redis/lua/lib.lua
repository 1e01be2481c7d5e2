-- Prelude of every project script: the Go side prepends it to the script's
-- own file. Every key of a project carries the hash tag {<project_id>}.
--
-- KEYS[1] meta      hash   seq (last event's seq)
-- KEYS[2] events    stream of events, id <seq>-0, field e = event JSON (with p,
--                   the seq of the event before it);
--                   also the name of the project's Pub/Sub channel
-- KEYS[3] users     hash   user -> "<token>:<file>" of the lock the user holds
-- KEYS[4] expiry    zset   file -> expires_at ms
-- KEYS[5] conns     zset   connID -> lease deadline ms
-- KEYS[6] connuser  hash   connID -> user
-- KEYS[7] present   hash   user -> number of live connections
-- KEYS[8] grace     zset   user -> deadline ms of the disconnect release
-- KEYS[9] lock      hash   the request's lock key (scripts without a file pass lock-key prefix)
-- ARGV[1] lock-key prefix: lock key = ARGV[1] .. file; hash user, token, acq, exp, ttl (ms)
-- ARGV[2] history (events kept in the stream)
-- ARGV[3] disconnect grace ms
-- ARGV[4] lock-key backstop margin ms (a lock key expires at exp + margin)
-- The script's own arguments start at ARGV[5].
--
-- Numbers are passed to Redis as strings formatted with %d: Lua's default
-- number formatting (%.14g) would round seqs and tokens.

local K_META, K_EVENTS, K_USERS, K_EXPIRY = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_CONNS, K_CONNUSER, K_PRESENT, K_GRACE = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local LOCKP, HISTORY = ARGV[1], ARGV[2]
local GRACE, MARGIN = tonumber(ARGV[3]), tonumber(ARGV[4])

local function I(n) return string.format('%d', n) end

local NOW
do
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- next_seq allocates the next event seq, hybrid-logical-clock style: above
-- the project's last seq and at least the Redis time in ms * 1000. So seqs
-- keep growing when Redis loses writes (a restart from an older snapshot, a
-- failover to a lagging replica, a flush), as long as the clock is not
-- behind the time of the lost writes. Below 2^53 until the year 2255, so
-- Lua's doubles and JavaScript read them exactly. It returns the seq and
-- the seq of the project's previous event (0: none known).
local function next_seq()
  local last = tonumber(redis.call('HGET', K_META, 'seq') or '0')
  if last == 0 then
    -- No counter (new project, or lost): never go below the stream's top.
    local top = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)[1]
    if top then last = tonumber(string.match(top[1], '^%d+')) end
  end
  local seq = math.max(last + 1, NOW * 1000)
  redis.call('HSET', K_META, 'seq', I(seq))
  return seq, last
end

-- emit appends the event (a table of string fields, t = type) with a new seq
-- (or seq, prev from next_seq) to the stream and publishes it; it returns
-- the seq. The event carries p, the seq of the event before it, so readers
-- see gaps although seqs jump.
-- The counter and the history of a project expire a day after its last
-- event (IDLE_MS), so Redis forgets idle projects. That is safe: the next
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

-- user_lock returns the file and token of the lock the users hash records for u.
local function user_lock(u)
  local v = redis.call('HGET', K_USERS, u)
  if not v then return nil end
  local i = string.find(v, ':', 1, true)
  return string.sub(v, i + 1), tonumber(string.sub(v, 1, i - 1))
end

-- get_lock reads the lock of file without changing anything. A lock whose
-- key is gone while the expiry index still lists it (the key's Redis TTL
-- fired while no instance ran) comes back as an orphan, expired long ago.
local function get_lock(file)
  local v = redis.call('HMGET', LOCKP .. file, 'user', 'token', 'acq', 'exp', 'ttl')
  if v[1] then
    return {f = file, u = v[1], k = tonumber(v[2]), a = tonumber(v[3]), x = tonumber(v[4]), l = tonumber(v[5])}
  end
  if not redis.call('ZSCORE', K_EXPIRY, file) then return nil end
  local l = {f = file, k = 0, a = 0, x = 0, l = 0, orphan = true}
  local all = redis.call('HGETALL', K_USERS)
  for i = 1, #all, 2 do
    local j = string.find(all[i + 1], ':', 1, true)
    if string.sub(all[i + 1], j + 1) == file then
      l.u, l.k = all[i], tonumber(string.sub(all[i + 1], 1, j - 1))
    end
  end
  return l
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
end

-- release removes the lock and appends its lock_released event.
local function release(l, reason)
  redis.call('DEL', LOCKP .. l.f)
  redis.call('ZREM', K_EXPIRY, l.f)
  if not l.u then return end -- a dangling index entry: nothing was held
  if user_lock(l.u) == l.f then redis.call('HDEL', K_USERS, l.u) end
  emit({t = 'lock_released', f = l.f, u = l.u, k = I(l.k), r = reason})
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

-- next_due is the project's earliest lock expiry, lease deadline or grace
-- deadline in ms, or -1 when it has none.
local function next_due()
  local best
  for _, k in ipairs({K_EXPIRY, K_CONNS, K_GRACE}) do
    local r = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if r[2] then
      local s = tonumber(r[2])
      if not best or s < best then best = s end
    end
  end
  if best then return I(best) end
  return '-1'
end

-- connect leases connection conn of user until dl (ms, formatted); a
-- connection not yet recorded is recorded, cancels the user's pending
-- disconnect release and, as the user's first, appends user_joined. It
-- returns true when the connection was new.
local function connect(conn, user, dl)
  redis.call('ZADD', K_CONNS, dl, conn)
  if redis.call('HEXISTS', K_CONNUSER, conn) == 1 then return false end
  redis.call('HSET', K_CONNUSER, conn, user)
  redis.call('ZREM', K_GRACE, user)
  if redis.call('HINCRBY', K_PRESENT, user, 1) == 1 then
    emit({t = 'user_joined', u = user})
  end
  return true
end

-- ---- the script's own body follows ----
