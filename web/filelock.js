// filelock.js — browser client of a filelock server (ES module, no build step).
//
//   import { FileLockClient } from "/filelock.js";
//   const fl = new FileLockClient({ projectId: "p1", userId: "alice", transport: "sse" });
//   fl.onChange(({ locks, users, connection, myLock, lost }) => render(...));
//   await fl.lock("images/a.jpg", { releasePrevious: true });
//
// Transports: "sse" (EventSource for events, REST for commands; the default),
// "ws" (WebSocket /ws) and "socketio" (needs the Socket.IO client: pass
// `io` or load it so that `window.io` exists).
//
// The client keeps the project's lock map and the users present (replaced on
// every snapshot, then kept by the events), heartbeats its own lock while it
// holds one, reconnects with backoff (SSE resumes from the last event id;
// WebSocket and Socket.IO rejoin and get a fresh snapshot) and reports a lock
// it lost (expired, forced, disconnected) through `lost` in the change state.
// Commands reject with a FileLockError carrying the server's error code,
// message, field and the lock in the way.
//
// auth.mode jwt: `token` is the JWT, or a function (sync or async) that
// returns a fresh one, e.g. `token: () => fetch("/my/token").then((r) => r.text())`.
// The function's token is kept until the server refuses it (401, the SSE
// stream or WebSocket ended by its expiry, Socket.IO's "token expired"); the
// next connection or command then asks the function again. The lock is kept
// across such a reconnect (it is shorter than the server's disconnect grace).

/** Error of a refused command: the server's error object plus the lock in the way. */
export class FileLockError extends Error {
  constructor({ code, message, field } = {}, lock = null, status = 0) {
    super(message || code || "request failed");
    this.name = "FileLockError";
    this.code = code || "unknown";
    this.field = field;
    this.lock = lock || null;
    this.status = status;
  }
}

const EVENTS = ["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"];
const LOST_REASONS = new Set(["expired", "forced", "disconnected"]);
const COMMAND_TIMEOUT_MS = 10000;

/** Connection states reported in the change state. */
export const Connection = Object.freeze({
  CONNECTING: "connecting", // first connection, no snapshot yet
  OPEN: "open", // live: snapshot received, events flowing
  RECONNECTING: "reconnecting", // lost the connection, trying again
  CLOSED: "closed", // close() was called
});

export class FileLockClient {
  /**
   * @param {object} o
   * @param {string} [o.baseUrl] server origin (default: the page's origin)
   * @param {string} o.projectId
   * @param {string} o.userId
   * @param {"sse"|"ws"|"socketio"} [o.transport]
   * @param {string|(() => string|Promise<string>)} [o.token] JWT for auth.mode
   *   jwt, or a function returning a fresh one (called again after a refusal)
   * @param {number} [o.ttlSeconds] TTL asked for on lock (server default if absent)
   * @param {Function} [o.io] the Socket.IO client's io() (default window.io)
   * @param {boolean} [o.autoConnect] connect at once (default true)
   */
  constructor(o = {}) {
    if (!o.projectId) throw new TypeError("projectId is required");
    if (!o.userId) throw new TypeError("userId is required");
    const origin = typeof location !== "undefined" ? location.origin : "";
    this.baseUrl = String(o.baseUrl || origin).replace(/\/+$/, "");
    this.projectId = String(o.projectId);
    this.userId = String(o.userId);
    this.transport = o.transport || "sse";
    if (!["sse", "ws", "socketio"].includes(this.transport)) {
      throw new TypeError(`unknown transport ${this.transport}`);
    }
    this._tokenSource = typeof o.token === "function" ? o.token : null;
    this.token = this._tokenSource ? "" : String(o.token || ""); // the token in use ("" = none yet)
    this._tokenPromise = null; // a call of the token function under way
    this._suspect = false; // a connection ended for a reason that may be the token's expiry
    this._gen = 0; // connection attempts (a newer one cancels an older one's token wait)
    this.ttlSeconds = o.ttlSeconds;
    this._io = o.io || (typeof window !== "undefined" ? window.io : undefined);

    this.locks = new Map(); // file → Lock
    this.users = new Set();
    this.connection = Connection.CONNECTING;
    this.lastEventId = "";
    this.lost = null; // {file, reason, lock, at} of the last lock lost
    this.lastError = null; // last error event (ws/socketio without ref)
    this.heartbeatSeconds = 0; // from the last lock reply
    this.clockSkewMs = 0; // server time − local time, estimated

    this._listeners = new Set();
    this._eventListeners = new Set();
    this._released = new Map(); // file → highest token seen released (stale-reply guard)
    this._everOpen = false;
    this._attempt = 0;
    this._closed = false;
    this._hbTimer = null;
    this._retryTimer = null;
    this._ready = null; // {promise, resolve} until joined/open
    this._pending = new Map(); // ws ref → {resolve, reject, timer}
    this._ref = 0;
    this._resetReady();
    if (o.autoConnect !== false) this.connect();
  }

  // ---- public API ----

  /** Subscribe to state changes; returns an unsubscribe function. Called at once. */
  onChange(cb) {
    this._listeners.add(cb);
    try { cb(this.state()); } catch (e) { console.error(e); }
    return () => this._listeners.delete(cb);
  }

  /** Subscribe to raw events: cb(name, data). Returns an unsubscribe function. */
  onEvent(cb) {
    this._eventListeners.add(cb);
    return () => this._eventListeners.delete(cb);
  }

  /** The current state: locks sorted by file, users sorted, connection, myLock, lost. */
  state() {
    const locks = [...this.locks.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    return {
      projectId: this.projectId,
      userId: this.userId,
      transport: this.transport,
      locks,
      users: [...this.users].sort(),
      connection: this.connection,
      myLock: this.myLock(),
      lost: this.lost,
      lastEventId: this.lastEventId,
      lastError: this.lastError,
    };
  }

  /** The lock this user holds in the project, or null. */
  myLock() {
    for (const l of this.locks.values()) if (l.user === this.userId) return l;
    return null;
  }

  /** The lock on file, or null. */
  lockOf(file) { return this.locks.get(file) || null; }

  /** The server's clock, as well as it can be estimated (ms since epoch). */
  serverNow() { return Date.now() + this.clockSkewMs; }

  /**
   * Lock file. Resolves with the server's reply ({acquired, renewed, lock,
   * released?, heartbeat_interval_seconds}); rejects with a FileLockError
   * (file_locked / user_has_lock carry the lock in the way).
   */
  async lock(file, { releasePrevious = false, ttlSeconds = this.ttlSeconds } = {}) {
    const body = { project_id: this.projectId, file, release_previous: !!releasePrevious };
    if (ttlSeconds) body.ttl_seconds = ttlSeconds;
    const reply = await this._command("lock", body);
    if (reply.released) this._applyReleased(reply.released);
    if (reply.lock) this._applyLock(reply.lock);
    if (reply.heartbeat_interval_seconds > 0) this.heartbeatSeconds = reply.heartbeat_interval_seconds;
    this.lost = null;
    this._scheduleHeartbeat();
    this._emit();
    return reply;
  }

  /** Unlock file (only your own; `force` releases anyone's where allowed). */
  async unlock(file, { token, force } = {}) {
    const body = { project_id: this.projectId, file };
    if (token !== undefined) body.token = token;
    if (force) body.force = true;
    const reply = await this._command("unlock", body);
    if (reply.lock) this._applyReleased(reply.lock);
    this._scheduleHeartbeat();
    this._emit();
    return reply;
  }

  /** Extend this user's lock now. Resolves with the renewed lock (null if none). */
  async heartbeat() {
    try {
      const reply = await this._command("heartbeat", { project_id: this.projectId });
      if (reply && reply.lock) { this._applyLock(reply.lock); this._emit(); }
      return reply && reply.lock ? reply.lock : null;
    } catch (err) {
      if (err.code === "not_locked") {
        const mine = this.myLock();
        if (mine) this._loseLock(mine, "expired");
        return null;
      }
      throw err;
    }
  }

  /** Close the connection for good; the server releases the lock after its grace. */
  close() {
    this._closed = true;
    clearTimeout(this._hbTimer);
    clearTimeout(this._retryTimer);
    this._teardown();
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(new FileLockError({ code: "closed", message: "client closed" })); }
    this._pending.clear();
    this._setConnection(Connection.CLOSED);
  }

  /** Open the connection (called by the constructor unless autoConnect is false). */
  connect() {
    if (this._closed) return;
    this._teardown();
    clearTimeout(this._retryTimer);
    if (this.transport === "socketio") {
      if (this._sio) { // socket.io-client reconnects by itself unless the server or we ended it
        if (!this._sio.active) this._sio.connect();
        return;
      }
      const io = this._io || (typeof window !== "undefined" ? window.io : undefined);
      if (typeof io !== "function") throw new Error("transport socketio needs the Socket.IO client (window.io)");
    }
    const gen = ++this._gen;
    this._prepare().then((token) => {
      if (gen !== this._gen || this._closed) return;
      this._estimateClock();
      if (this.transport === "sse") this._connectSSE(token);
      else if (this.transport === "ws") this._connectWS(token);
      else this._connectSocketIO();
    }, (err) => {
      if (gen !== this._gen || this._closed) return;
      this.lastError = { code: err.code || "token_error", message: err.message };
      this._down();
    });
  }

  // ---- state from events ----

  _handle(name, data) {
    if (!data || (data.project_id && data.project_id !== this.projectId)) return;
    if (name !== "snapshot" && data.event_id && this.lastEventId && !isAfter(data.event_id, this.lastEventId)) {
      return; // already applied (resume overlap)
    }
    switch (name) {
      case "snapshot": {
        const before = this.myLock();
        this.locks = new Map((data.locks || []).map((l) => [l.file, pickLock(l, this.projectId)]));
        this.users = new Set(data.users || []);
        this._released.clear(); // tokens start over if the server's store did
        const after = this.myLock();
        if (before && (!after || after.token !== before.token) && this._everOpen) {
          // Gone while we were not listening: the reason is not known.
          this._loseLock(before, "released", true);
        }
        this._opened();
        break;
      }
      case "lock_acquired":
        this._applyLock(data);
        break;
      case "lock_released": {
        const mine = this.locks.get(data.file);
        const wasMine = data.user === this.userId && (!mine || mine.token === data.token);
        this._applyReleased(data);
        if (wasMine && LOST_REASONS.has(data.reason)) this._loseLock(data, data.reason, true);
        break;
      }
      case "user_joined":
        this.users.add(data.user);
        break;
      case "user_left":
        this.users.delete(data.user);
        break;
      default:
        return;
    }
    if (data.event_id) this.lastEventId = String(data.event_id);
    this._scheduleHeartbeat();
    for (const cb of this._eventListeners) { try { cb(name, data); } catch (e) { console.error(e); } }
    this._emit();
  }

  _applyLock(l) {
    const lock = pickLock(l, this.projectId);
    const released = this._released.get(lock.file);
    if (released !== undefined && lock.token <= released) return; // a reply older than a release
    const cur = this.locks.get(lock.file);
    if (cur && cur.token > lock.token) return;
    this.locks.set(lock.file, lock);
  }

  _applyReleased(l) {
    const cur = this.locks.get(l.file);
    if (!cur || l.token === undefined || cur.token <= l.token) this.locks.delete(l.file);
    const prev = this._released.get(l.file);
    if (l.token !== undefined && (prev === undefined || l.token > prev)) this._released.set(l.file, l.token);
    if (this._released.size > 5000) this._released.clear();
  }

  _loseLock(lock, reason, quiet) {
    this.locks.delete(lock.file);
    this.lost = { file: lock.file, reason, lock, at: new Date().toISOString() };
    this._scheduleHeartbeat();
    if (!quiet) this._emit();
  }

  _opened() {
    this._everOpen = true;
    this._attempt = 0;
    this.connection = Connection.OPEN;
    this._ready.resolve();
  }

  _setConnection(c) {
    if (this.connection === c) return;
    this.connection = c;
    this._emit();
  }

  _emit() {
    const s = this.state();
    for (const cb of this._listeners) { try { cb(s); } catch (e) { console.error(e); } }
  }

  _resetReady() {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    this._ready = { promise, resolve };
  }

  // The connection dropped (not by close()): report it and try again with backoff.
  _down() {
    if (this._closed) return;
    this._teardown();
    this._gen++; // a token wait under way is for a connection not to be opened now
    if (this.connection === Connection.OPEN) this._resetReady();
    this._setConnection(this._everOpen ? Connection.RECONNECTING : Connection.CONNECTING);
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this.connect(), this._backoff());
  }

  // The next reconnect delay: 0.5 s doubling up to 5 s, ±25 %; reset when live.
  _backoff() {
    const delay = Math.min(5000, 500 * 2 ** this._attempt) * (0.75 + Math.random() * 0.5);
    this._attempt++;
    return delay;
  }

  // ---- tokens ----

  // The token to send: the string given, or the token function's last
  // result, asking the function when there is none (one call at a time).
  // Rejects with a FileLockError token_error when the function fails.
  _getToken() {
    if (!this._tokenSource || this.token) return Promise.resolve(this.token);
    if (!this._tokenPromise) {
      this._tokenPromise = Promise.resolve()
        .then(() => this._tokenSource())
        .then((t) => {
          t = t == null ? "" : String(t).trim();
          if (!t) throw new Error("the token function returned no token");
          if (this._tokenSource) this.token = t;
          return t;
        })
        .catch((e) => {
          throw e instanceof FileLockError ? e
            : new FileLockError({ code: "token_error", message: `cannot get a token: ${e && e.message}` });
        })
        .finally(() => { this._tokenPromise = null; });
    }
    return this._tokenPromise;
  }

  // The server refused token (or said it expired): forget it, so that the
  // next connection or command asks the token function for a fresh one. A
  // refusal of a token already replaced changes nothing.
  _dropToken(token) {
    if (this._tokenSource && token === this.token) this.token = "";
  }

  // Before a (re)connect: when the last connection ended in a way that
  // hides why (an EventSource error, a WebSocket closed without a code),
  // ask the server whether the token still holds (GET /status answers 401
  // if not) and drop it if not; then get the token to connect with.
  async _prepare() {
    if (this._tokenSource && this._suspect && this.token && typeof fetch === "function") {
      this._suspect = false;
      const used = this.token;
      try {
        const res = await fetch(`${this.baseUrl}/status/${encodeURIComponent(this.projectId)}`,
          { headers: { Authorization: `Bearer ${used}` } });
        if (res.status === 401) this._dropToken(used);
      } catch { /* server unreachable: the connection attempt will fail and retry */ }
    }
    return this._getToken();
  }

  _teardown() {
    if (this._es) { this._es.onerror = null; this._es.close(); this._es = null; }
    if (this._ws) {
      const ws = this._ws; this._ws = null;
      ws.onclose = ws.onerror = ws.onmessage = ws.onopen = null;
      try { ws.close(); } catch { /* already closed */ }
    }
    if (this._sio && this._closed) { this._sio.off(); this._sio.disconnect(); this._sio = null; }
    for (const p of this._pending.values()) { clearTimeout(p.timer); p.reject(new FileLockError({ code: "disconnected", message: "connection lost" })); }
    this._pending.clear();
  }

  // ---- heartbeats ----

  _scheduleHeartbeat() {
    const mine = this.myLock();
    if (!mine || this._closed) { clearTimeout(this._hbTimer); this._hbTimer = null; this._hbFor = null; return; }
    const key = `${mine.file}\u0000${mine.token}\u0000${mine.expires_at}`;
    if (this._hbTimer && this._hbFor === key) return;
    clearTimeout(this._hbTimer);
    this._hbFor = key;
    let secs = this.heartbeatSeconds;
    if (!secs) { // not told (e.g. after a reload): a third of the lock's lifetime, at most 30 s
      const life = (Date.parse(mine.expires_at) - Date.parse(mine.acquired_at)) / 1000;
      secs = Math.max(1, Math.min(30, life > 0 ? life / 3 : 30));
    }
    this._hbTimer = setTimeout(() => {
      this._hbTimer = null;
      this._hbFor = null;
      this.heartbeat().catch(() => { /* retried at the next interval */ })
        .finally(() => this._scheduleHeartbeat());
    }, secs * 1000);
  }

  // ---- commands ----

  async _command(name, body) {
    if (this._closed) throw new FileLockError({ code: "closed", message: "client closed" });
    if (this.transport === "sse") {
      const path = name === "lock" ? "/lock" : name === "unlock" ? "/unlock" : "/heartbeat";
      return this._rest(path, { ...body, user_id: this.userId });
    }
    await withTimeout(this._ready.promise, COMMAND_TIMEOUT_MS, "not connected");
    return this.transport === "ws" ? this._wsCommand(name, body) : this._sioCommand(name, body);
  }

  async _rest(path, body, retried = false) {
    const token = await this._getToken();
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(this.baseUrl + path, { method: "POST", headers, body: JSON.stringify(body) });
    } catch (e) {
      throw new FileLockError({ code: "network_error", message: `cannot reach the server: ${e.message}` });
    }
    let json = null;
    try { json = await res.json(); } catch { /* not JSON */ }
    if (res.status === 401 && this._tokenSource && !retried) {
      // Refused before it ran (the token expired): once more with a fresh token.
      this._dropToken(token);
      return this._rest(path, body, true);
    }
    if (!res.ok) {
      const err = (json && json.error) || { code: "http_" + res.status, message: res.statusText };
      throw new FileLockError(err, json && json.lock, res.status);
    }
    return json || {};
  }

  _replyOf(reply) {
    if (reply && reply.ok) return reply;
    throw new FileLockError((reply && reply.error) || { code: "unknown" }, reply && reply.lock);
  }

  // ---- SSE ----

  _connectSSE(token) {
    const q = new URLSearchParams({ user_id: this.userId });
    if (this.lastEventId) q.set("last_event_id", this.lastEventId);
    if (token) q.set("token", token);
    const es = new EventSource(`${this.baseUrl}/events/${encodeURIComponent(this.projectId)}?${q}`);
    this._es = es;
    for (const name of EVENTS) {
      es.addEventListener(name, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        if (!data.event_id && ev.lastEventId) data.event_id = ev.lastEventId;
        this._handle(name, data);
        // A resume sends no snapshot: the first event (or the open) means live.
        if (this.connection !== Connection.OPEN && this._everOpen) { this._opened(); this._emit(); }
      });
    }
    es.onopen = () => {
      // A resumed stream has no snapshot; the stream being open is enough.
      if (this._everOpen && this.lastEventId) { this._opened(); this._emit(); }
    };
    // The server's retry is honoured by our own backoff: close and reopen with
    // the last event id, so the resume point is always ours. EventSource does
    // not tell why a stream ended (the token's expiry ends it too, and a 401
    // refuses the next one): _prepare asks the server before reopening.
    es.onerror = () => { this._suspect = true; this._down(); };
  }

  // ---- WebSocket ----

  _connectWS(token) {
    const u = new URL(this.baseUrl + "/ws", typeof location !== "undefined" ? location.href : undefined);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (token) u.searchParams.set("token", token);
    const ws = new WebSocket(u);
    this._ws = ws;
    ws.onopen = () => {
      this._wsSend("join_project", { project_id: this.projectId, user_id: this.userId }, true)
        .catch((err) => { this.lastError = err; this._emit(); });
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.event === "reply") {
        const p = this._pending.get(String(msg.ref));
        if (p) { this._pending.delete(String(msg.ref)); clearTimeout(p.timer); p.resolve(msg.data); }
      } else if (msg.event === "error") {
        this.lastError = msg.data || null;
        this._emit();
      } else if (msg.event) {
        this._handle(msg.event, msg.data);
      }
    };
    ws.onclose = (ev) => {
      // 4001: the token expired; reconnect with a fresh one. Other closes
      // (a refused upgrade is a bare 1006) may hide a refused token.
      if (ev && ev.code === 4001) this._dropToken(token);
      else this._suspect = true;
      this._down();
    };
  }

  _wsSend(event, data, raw) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new FileLockError({ code: "disconnected", message: "not connected" }));
    }
    const ref = String(++this._ref);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(ref);
        reject(new FileLockError({ code: "timeout", message: `${event}: no reply` }));
      }, COMMAND_TIMEOUT_MS);
      this._pending.set(ref, { resolve, reject, timer });
      ws.send(JSON.stringify({ event, data, ref }));
    }).then((reply) => (raw ? reply : this._replyOf(reply)));
  }

  _wsCommand(name, body) { return this._wsSend(name, body); }

  // ---- Socket.IO ----

  _connectSocketIO() {
    if (this._sio) return; // socket.io-client reconnects by itself
    const io = this._io || (typeof window !== "undefined" ? window.io : undefined);
    if (typeof io !== "function") throw new Error("transport socketio needs the Socket.IO client (window.io)");
    const opts = { path: "/socket.io/", reconnectionDelayMax: 5000 };
    let used = ""; // the token of the current (or last) handshake
    if (this._tokenSource) {
      // Asked at every handshake, socket.io-client's own reconnects included.
      opts.auth = (cb) => {
        this._getToken().then((t) => { used = t; cb({ token: t }); }, (err) => {
          used = "";
          this.lastError = { code: err.code, message: err.message };
          this._emit();
          cb({}); // refused by the server, then tried again (below)
        });
      };
    } else if (this.token) {
      opts.auth = { token: this.token };
    }
    const sio = io(this.baseUrl || undefined, opts);
    this._sio = sio;
    // After the server ended the socket (the token expired, or it fell too
    // far behind) or refused a handshake, socket.io-client does not retry.
    const retry = () => {
      clearTimeout(this._retryTimer);
      this._retryTimer = setTimeout(() => {
        if (!this._closed && this._sio === sio && !sio.active) sio.connect();
      }, this._backoff());
    };
    for (const name of EVENTS) sio.on(name, (data) => this._handle(name, data));
    sio.on("error", (data) => {
      this.lastError = data || null;
      if (data && data.code === "unauthorized") this._dropToken(used); // "token expired"
      this._emit();
    });
    sio.on("connect", () => {
      sio.timeout(COMMAND_TIMEOUT_MS).emit("join_project",
        { project_id: this.projectId, user_id: this.userId },
        (err, reply) => {
          if (err || !reply || !reply.ok) {
            this.lastError = (reply && reply.error) || { code: "timeout", message: "join_project: no reply" };
            this._emit();
          }
        });
    });
    const down = () => {
      if (this._closed) return;
      if (this.connection === Connection.OPEN) this._resetReady();
      this._setConnection(this._everOpen ? Connection.RECONNECTING : Connection.CONNECTING);
    };
    sio.on("disconnect", (reason) => {
      down();
      if (reason === "io server disconnect" && !this._closed) retry();
    });
    sio.on("connect_error", (err) => {
      down();
      if (!sio.active) { // refused by the server (e.g. jwt)
        const code = (err && err.data && err.data.code) || "unauthorized";
        // A handshake without a token because the token function failed
        // keeps reporting that failure.
        if (used || !this.lastError || this.lastError.code !== "token_error") {
          this.lastError = { code, message: err && err.message };
          this._emit();
        }
        // With a token function an unauthorized handshake is tried again
        // with a fresh token; otherwise a refusal is final.
        if (code === "unauthorized" && this._tokenSource && !this._closed) {
          this._dropToken(used);
          retry();
        }
      }
    });
  }

  _sioCommand(name, body) {
    const sio = this._sio;
    return new Promise((resolve, reject) => {
      sio.timeout(COMMAND_TIMEOUT_MS).emit(name, body, (err, reply) => {
        if (err) reject(new FileLockError({ code: "timeout", message: `${name}: no reply` }));
        else resolve(reply);
      });
    }).then((reply) => this._replyOf(reply));
  }

  // ---- clock ----

  // One GET /status/{project} to learn the server's clock (for countdowns).
  async _estimateClock() {
    if (this._clockDone || typeof fetch !== "function") return;
    this._clockDone = true;
    try {
      const token = await this._getToken();
      const headers = token ? { Authorization: `Bearer ${token}` } : {};
      const t0 = Date.now();
      const res = await fetch(`${this.baseUrl}/status/${encodeURIComponent(this.projectId)}`, { headers });
      const t1 = Date.now();
      const body = await res.json();
      const st = Date.parse(body.server_time);
      const skew = st - (t0 + t1) / 2;
      // Only a skew larger than the measurement's own uncertainty counts.
      if (res.ok && !Number.isNaN(st) && Math.abs(skew) > (t1 - t0) / 2 + 250) this.clockSkewMs = skew;
    } catch { this._clockDone = false; }
  }
}

/** A client with the same options: `createClient({...})` ≡ `new FileLockClient({...})`. */
export function createClient(options) { return new FileLockClient(options); }

function pickLock(l, projectId) {
  return {
    project_id: l.project_id || projectId,
    file: l.file,
    user: l.user,
    token: l.token,
    acquired_at: l.acquired_at,
    expires_at: l.expires_at,
  };
}

// isAfter compares event ids: decimal ids numerically, others as strings of
// equal length (ordered within a project per the contract).
function isAfter(a, b) {
  a = String(a); b = String(b);
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    return a.length !== b.length ? a.length > b.length : a > b;
  }
  return a !== b;
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => { t = setTimeout(() => reject(new FileLockError({ code: "disconnected", message: what })), ms); }),
  ]).finally(() => clearTimeout(t));
}
