// filelock.js — client of a filelock server for browsers and Node (ES module, no build step).
//
//   import { FileLockClient } from "/filelock.js";
//   const client = new FileLockClient({ userId: "alice", transport: "ws" });
//   const project = client.project("p1"); // joins p1; many projects share one connection
//   project.on("change", (view) => render(view));
//   const lock = await project.lock("images/a.jpg", { releasePrevious: true });
//   lock.lost.then(({ reason }) => stopEditing(reason));
//   await lock.release();
//
// Transports, one class each behind one interface (Transport below):
// "sse" (an EventSource per project for events, REST for commands; the
// default), "ws" (one WebSocket /ws for every project) and "socketio" (one
// Socket.IO socket; pass `io` or load the client so that `window.io` exists).
// In Node pass `WebSocket` (the ws package) or `EventSource` (the eventsource
// package) where the runtime has none.
//
// What the client guarantees (web/README.md has the whole API):
// - A project's lock map is the server's: replaced by every snapshot, kept by
//   every event after it, never touched by a reply older than an event.
// - A lock you hold is a LockHandle: it heartbeats itself (from its
//   expires_at and the server's heartbeat_interval_seconds, retried on a short
//   backoff, at once on reconnect, `online` and a page becoming visible), and
//   reports its loss exactly once: `lockLost` event, `handle.lost` promise.
// - Every command settles: with the server's reply, the server's error code,
//   or a client code (ERROR_CODES) — `timeout` by its deadline at the latest.
// - A refusal that cannot heal (forbidden, a refused fresh token, …) puts the
//   client or the project in the terminal state `failed` with that error.
// - Tokens given as a function are refreshed ahead of their `exp` (at 80 % of
//   their life); the new connection is made before the old one is closed, so
//   an expiring token never drops the connection.

/** Error of a command or connection: the server's error object, or a client code (ERROR_CODES). */
export class FileLockError extends Error {
  constructor({ code, message, field } = {}, lock = null, status = 0, extra = {}) {
    super(message || code || "request failed");
    this.name = "FileLockError";
    this.code = code || "unknown";
    this.field = field;
    this.lock = lock || null;
    this.status = status;
    Object.assign(this, extra);
  }
}

/** The error codes the client itself produces (the server's are in SPEC §3). */
export const ERROR_CODES = Object.freeze({
  timeout: "no answer within the command's timeout (the command may have run)",
  aborted: "the caller's AbortSignal aborted the command",
  closed: "close() was called (or the project was closed) before the command settled",
  disconnected: "the connection dropped while the command was under way (it may have run)",
  network_error: "the server could not be reached",
  token_error: "the token function threw or returned nothing",
  lock_lost: "the lock was taken and lost again before the reply arrived (err.reason, err.lock)",
  protocol_error: "the server answered something that is not the protocol",
});

/** Connection states (client and project). */
export const Connection = Object.freeze({
  IDLE: "idle", // not connected yet (autoConnect: false)
  CONNECTING: "connecting", // first connection or join, not live yet
  OPEN: "open", // live: joined, events flowing
  RECONNECTING: "reconnecting", // was live, trying again
  FAILED: "failed", // refused for good; `error` says why; connect() tries again
  CLOSED: "closed", // close() was called
});

const EVENTS = new Set(["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"]);
const DEFAULT_TIMEOUT_MS = 10000;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5000;
const TOKEN_REFRESH_AT = 0.8; // of a token's life
const HEARTBEAT_RETRY_MS = [250, 500, 1000, 2000, 4000];
// Refusals that trying again cannot fix: the client (or project) fails with them.
const FATAL = new Set(["forbidden", "user_mismatch", "invalid_request", "not_found", "payload_too_large"]);

// ---------------------------------------------------------------------------
// Small pieces: an event emitter, timers that survive hidden tabs, deadlines.

class Emitter {
  constructor() { this._on = new Map(); }
  /** Subscribes cb to name; returns the function that unsubscribes it. */
  on(name, cb) {
    if (typeof cb !== "function") throw new TypeError("on(name, cb): cb must be a function");
    let set = this._on.get(name);
    if (!set) this._on.set(name, (set = new Set()));
    const entry = { cb };
    set.add(entry);
    return () => { set.delete(entry); };
  }
  _emit(name, ...args) {
    const set = this._on.get(name);
    if (!set) return;
    for (const { cb } of [...set]) {
      try { cb(...args); } catch (e) { console.error(e); }
    }
  }
}

// A page's timers are throttled when its tab is hidden (Chrome: to once a
// minute after five minutes). A dedicated worker's timers are not, so in a
// browser the heartbeat and token timers run in a small worker; elsewhere, or
// when a worker cannot be made (CSP), they are plain timers.
const WORKER_SRC = "const t=new Map();onmessage=(e)=>{const d=e.data;if(d.clear){clearTimeout(t.get(d.id));t.delete(d.id);return}" +
  "t.set(d.id,setTimeout(()=>{t.delete(d.id);postMessage(d.id)},d.ms))}";

class Timers {
  constructor(useWorker) {
    this._n = 0;
    this._cbs = new Map(); // id → {fn, due, plain}
    this._worker = null;
    if (useWorker && typeof Worker === "function" && typeof Blob === "function" && typeof URL !== "undefined" && URL.createObjectURL) {
      try {
        const url = URL.createObjectURL(new Blob([WORKER_SRC], { type: "text/javascript" }));
        this._worker = new Worker(url);
        this._url = url;
        this._worker.onmessage = (e) => this._fire(e.data);
        this._worker.onerror = () => this._fallback();
      } catch { this._worker = null; }
    }
  }
  set(fn, ms) {
    const id = ++this._n;
    ms = Math.min(Math.max(0, ms), 2147483647); // timers take 32-bit delays
    const entry = { fn, due: Date.now() + ms, plain: null };
    this._cbs.set(id, entry);
    if (this._worker) this._worker.postMessage({ id, ms });
    else entry.plain = setTimeout(() => this._fire(id), ms);
    return id;
  }
  clear(id) {
    const e = this._cbs.get(id);
    if (!e) return;
    this._cbs.delete(id);
    if (e.plain) clearTimeout(e.plain);
    else if (this._worker) this._worker.postMessage({ id, clear: true });
  }
  _fire(id) {
    const e = this._cbs.get(id);
    if (!e) return;
    this._cbs.delete(id);
    e.fn();
  }
  _fallback() {
    const w = this._worker;
    this._worker = null;
    if (w) w.terminate();
    for (const [id, e] of this._cbs) if (!e.plain) e.plain = setTimeout(() => this._fire(id), Math.max(0, e.due - Date.now()));
  }
  stop() {
    for (const id of [...this._cbs.keys()]) this.clear(id);
    if (this._worker) this._worker.terminate();
    this._worker = null;
    if (this._url) URL.revokeObjectURL(this._url);
    this._url = null;
  }
}

/** Rejects with `timeout` after ms and with `aborted` when signal aborts; cleanup() ends both. */
function deadline(ms, signal, what) {
  let timer = null;
  let onAbort = null;
  const promise = new Promise((_, reject) => {
    if (ms > 0 && Number.isFinite(ms)) {
      timer = setTimeout(() => reject(new FileLockError({ code: "timeout", message: `${what}: no answer within ${ms} ms` })), ms);
    }
    if (signal) {
      onAbort = () => reject(new FileLockError({ code: "aborted", message: `${what}: aborted` }));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  promise.catch(() => {});
  return {
    promise,
    cleanup() { clearTimeout(timer); if (signal && onAbort) signal.removeEventListener("abort", onAbort); },
  };
}

async function race(work, ms, signal, what) {
  const d = deadline(ms, signal, what);
  try { return await Promise.race([work, d.promise]); } finally { d.cleanup(); }
}

function backoff(attempt) {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt);
  return base / 2 + Math.random() * base / 2;
}

function pickLock(l, projectId) {
  return {
    project_id: l.project_id || projectId, file: l.file, user: l.user, token: l.token,
    acquired_at: l.acquired_at, expires_at: l.expires_at,
  };
}

// isAfter compares event ids: decimal ids numerically, others as strings.
function isAfter(a, b) {
  a = String(a); b = String(b);
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length !== b.length ? a.length > b.length : a > b;
  return a > b;
}

/** The payload of a JWT ({} when it is not one). */
function jwtClaims(token) {
  try {
    const part = String(token).split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const text = typeof atob === "function" ? atob(b64) : Buffer.from(b64, "base64").toString("binary");
    return JSON.parse(decodeURIComponent(escape(text)));
  } catch { return {}; }
}

// A refusal's classification: what the client does about it.
function verdict(err) {
  if (!err) return "retry";
  if (err.code === "unauthorized") return "token";
  if (FATAL.has(err.code)) return "fatal";
  return "retry";
}

// ---------------------------------------------------------------------------
// Transports. Each instance is one connection (one token); the client makes a
// new one to reconnect or to change tokens. The interface:
//
//   open(): Promise<void>                  connected (SSE: at once)
//   join(projectId, lastEventId): Promise<{resumed}>  subscribed; resumed:
//                                          no snapshot follows (replay or live)
//   leave(projectId)
//   send(name, body, timeoutMs, signal): Promise<reply data>  a command
//   close(err)                             pending commands reject with err
//   retire()                               close once the pending commands are answered
//
// and it calls back the client: _onEvent(t, name, data), _onDown(t, info)
// (the connection is gone), _onProjectDown(t, projectId, info) (one project's
// stream is gone: SSE), _onServerError(t, err) (an error event).

class SocketTransport {
  constructor(client, token) {
    this.c = client;
    this.token = token;
    this.pending = new Map(); // ref → {resolve, reject, cleanup}
    this.opened = false;
    this.dead = false;
    this.tokenExpired = false;
  }
  get multiplexed() { return true; }
  async join(projectId, lastEventId) {
    const body = { project_id: projectId, user_id: this.c.userId };
    if (lastEventId) body.last_event_id = lastEventId;
    const reply = await this.send("join_project", body, this.c.timeoutMs);
    return { resumed: !!reply.resumed };
  }
  leave(projectId) {
    if (this.opened && !this.dead) this.send("leave_project", { project_id: projectId }, this.c.timeoutMs).catch(() => {});
  }
  _settle(reply) {
    if (reply && reply.ok) return reply;
    if (!reply || typeof reply !== "object") throw new FileLockError({ code: "protocol_error", message: "unreadable reply" });
    throw new FileLockError(reply.error || { code: "unknown" }, reply.lock);
  }
  _track(name, timeoutMs, signal, sendIt) {
    if (this.dead || !this.opened) return Promise.reject(new FileLockError({ code: "disconnected", message: `${name}: not connected` }));
    return new Promise((resolve, reject) => {
      const key = {};
      const d = deadline(timeoutMs, signal, name);
      const p = { resolve, reject, cleanup: () => { d.cleanup(); this.pending.delete(key); this._drained(); } };
      this.pending.set(key, p);
      d.promise.catch((err) => { p.cleanup(); reject(err); });
      sendIt((reply) => { p.cleanup(); try { resolve(this._settle(reply)); } catch (e) { reject(e); } });
    });
  }
  _failPending(err) {
    for (const p of [...this.pending.values()]) { p.cleanup(); p.reject(err); }
    this.pending.clear();
  }
  retire() { this._retiring = true; this._drained(); setTimeout(() => this.close(), this.c.timeoutMs); }
  _drained() { if (this._retiring && this.pending.size === 0) this.close(); }
  _gone(info) {
    if (this.dead) return;
    this.dead = true;
    this._failPending(new FileLockError({ code: "disconnected", message: "connection lost" }));
    if (this.opened) this.c._onDown(this, info);
  }
}

class WebSocketTransport extends SocketTransport {
  open() {
    const c = this.c;
    return new Promise((resolve, reject) => {
      const u = new URL(c.baseUrl + "/ws", c.pageHref);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      if (this.token) u.searchParams.set("token", this.token);
      const WS = c.WebSocket;
      if (typeof WS !== "function") { reject(new FileLockError({ code: "protocol_error", message: "no WebSocket: pass the `WebSocket` option" })); return; }
      let ws;
      try {
        ws = Object.keys(c.headers).length ? new WS(u.href, { headers: c.headers }) : new WS(u.href);
      } catch (e) { reject(new FileLockError({ code: "network_error", message: e.message })); return; }
      this.ws = ws;
      ws.onopen = () => { this.opened = true; resolve(); };
      ws.onerror = () => { /* the close that follows tells */ };
      ws.onmessage = (m) => this._message(m.data);
      ws.onclose = (ev) => {
        const code = ev && ev.code;
        if (code === 4001) this.tokenExpired = true;
        const info = { code, reason: ev && ev.reason, tokenExpired: this.tokenExpired };
        if (!this.opened) { this.dead = true; reject(new FileLockError({ code: "disconnected", message: `WebSocket refused (${code})` }, null, 0, { probe: true })); return; }
        this._gone(info);
      };
    });
  }
  _message(raw) {
    let msg;
    try { msg = JSON.parse(typeof raw === "string" ? raw : String(raw)); } catch { return; }
    if (!msg || typeof msg !== "object") return;
    if (msg.event === "reply") {
      const p = this._byRef && this._byRef.get(String(msg.ref));
      if (p) { this._byRef.delete(String(msg.ref)); p(msg.data); }
    } else if (msg.event === "error") {
      this.c._onServerError(this, new FileLockError(msg.data || { code: "unknown" }));
    } else if (EVENTS.has(msg.event)) {
      this.c._onEvent(this, msg.event, msg.data);
    }
  }
  send(name, body, timeoutMs, signal) {
    this._byRef = this._byRef || new Map();
    return this._track(name, timeoutMs, signal, (done) => {
      const ref = String((this._ref = (this._ref || 0) + 1));
      this._byRef.set(ref, done);
      try { this.ws.send(JSON.stringify({ event: name, data: body, ref })); } catch { /* the close follows */ }
    });
  }
  close(err) {
    if (this.ws) {
      const ws = this.ws;
      ws.onclose = ws.onmessage = ws.onopen = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this.dead = true;
    this._failPending(err || new FileLockError({ code: "closed", message: "connection closed" }));
  }
}

class SocketIOTransport extends SocketTransport {
  open() {
    const c = this.c;
    const io = c.io;
    return new Promise((resolve, reject) => {
      if (typeof io !== "function") { reject(new FileLockError({ code: "protocol_error", message: "transport socketio needs the Socket.IO client: pass `io` or set window.io" })); return; }
      const opts = { path: "/socket.io/", forceNew: true, reconnection: false, timeout: c.timeoutMs };
      if (this.token) opts.auth = { token: this.token };
      if (Object.keys(c.headers).length) opts.extraHeaders = c.headers;
      const sock = io(c.baseUrl || undefined, opts);
      this.sock = sock;
      sock.on("connect", () => { this.opened = true; resolve(); });
      sock.on("connect_error", (err) => {
        const data = err && err.data;
        const e = new FileLockError(data && data.code ? data : { code: "network_error", message: err && err.message });
        if (!this.opened) { this.dead = true; sock.close(); reject(e); return; }
        this._gone({ error: e, tokenExpired: this.tokenExpired });
      });
      sock.on("error", (data) => {
        if (data && data.code === "unauthorized") this.tokenExpired = true;
        this.c._onServerError(this, new FileLockError(data || { code: "unknown" }));
      });
      sock.on("disconnect", (reason) => {
        if (reason === "io client disconnect") return;
        this._gone({ reason, tokenExpired: this.tokenExpired });
      });
      sock.onAny((name, data) => { if (EVENTS.has(name)) this.c._onEvent(this, name, data); });
    });
  }
  send(name, body, timeoutMs, signal) {
    return this._track(name, timeoutMs, signal, (done) => {
      this.sock.emit(name, body, (reply) => done(reply));
    });
  }
  close(err) {
    if (this.sock) { this.sock.off(); this.sock.offAny(); this.sock.close(); }
    this.dead = true;
    this._failPending(err || new FileLockError({ code: "closed", message: "connection closed" }));
  }
}

const REST_PATHS = { lock: "/lock", claim: "/claim", unlock: "/unlock", heartbeat: "/heartbeat" };

class SSETransport {
  constructor(client, token) {
    this.c = client;
    this.token = token;
    this.streams = new Map(); // projectId → EventSource
    this.dead = false;
  }
  get multiplexed() { return false; }
  open() { return Promise.resolve(); }
  async join(projectId, lastEventId) {
    const c = this.c;
    const token = await c._getToken(); // per stream: a stream reopened after a refusal takes the fresh token
    return new Promise((resolve, reject) => {
      const ES = c.EventSource;
      if (typeof ES !== "function") { reject(new FileLockError({ code: "protocol_error", message: "no EventSource: pass the `EventSource` option" })); return; }
      this._closeStream(projectId);
      const q = new URLSearchParams({ user_id: c.userId });
      if (lastEventId) q.set("last_event_id", lastEventId);
      if (token) q.set("token", token);
      const url = `${c.baseUrl}/events/${encodeURIComponent(projectId)}?${q}`;
      const headers = c.headers;
      const init = Object.keys(headers).length && c.fetch
        ? { fetch: (input, o = {}) => c.fetch(input, { ...o, headers: { ...(o.headers || {}), ...headers } }) }
        : undefined;
      let es;
      try { es = init ? new ES(url, init) : new ES(url); } catch (e) { reject(new FileLockError({ code: "network_error", message: e.message })); return; }
      this.streams.set(projectId, es);
      let opened = false;
      es.onopen = () => { opened = true; resolve({ resumed: !!lastEventId }); };
      for (const name of EVENTS) {
        es.addEventListener(name, (ev) => {
          let data;
          try { data = JSON.parse(ev.data); } catch { return; }
          if (data && !data.event_id && ev.lastEventId) data.event_id = ev.lastEventId;
          if (this.streams.get(projectId) === es) c._onEvent(this, name, data);
        });
      }
      // The client reconnects with its own backoff and resume point: an
      // EventSource's own retry is stopped at its first error.
      es.onerror = (ev) => {
        es.onerror = null;
        es.close();
        if (this.streams.get(projectId) === es) this.streams.delete(projectId);
        else return;
        const status = ev && typeof ev.code === "number" ? ev.code : 0;
        const err = new FileLockError({ code: "disconnected", message: `event stream ended${status ? ` (${status})` : ""}` },
          null, status, { probe: !status || status >= 400, usedToken: token });
        if (!opened) reject(err);
        else if (!this.dead) c._onProjectDown(this, projectId, { error: err });
      };
    });
  }
  _closeStream(projectId) {
    const es = this.streams.get(projectId);
    if (es) { es.onerror = null; es.close(); this.streams.delete(projectId); }
  }
  leave(projectId) { this._closeStream(projectId); }
  send(name, body, timeoutMs, signal) {
    return this.c._rest(REST_PATHS[name], { ...body, user_id: this.c.userId }, timeoutMs, signal);
  }
  retire() { this.close(); }
  close() {
    this.dead = true;
    for (const id of [...this.streams.keys()]) this._closeStream(id);
  }
}

const TRANSPORTS = { sse: SSETransport, ws: WebSocketTransport, socketio: SocketIOTransport };

// ---------------------------------------------------------------------------
// A lock you hold.

/**
 * A lock held by this client: what lock() and claim() resolve to. It keeps
 * itself alive with heartbeats (unless autoHeartbeat is false) and reports
 * its loss once, through `lost` and the project's `lockLost` event.
 */
export class LockHandle {
  constructor(project, lock, autoHeartbeat) {
    this.project = project;
    this.projectId = project.id;
    this.file = lock.file;
    this.user = lock.user;
    this.token = lock.token;
    this.lock = pickLock(lock, project.id);
    this.acquiredAt = new Date(lock.acquired_at);
    this.expiresAt = new Date(lock.expires_at);
    this.renewed = false;
    this.released = null; // the lock given up by release_previous / claim
    this.heartbeatIntervalSeconds = 0;
    this.autoHeartbeat = autoHeartbeat;
    /** "held" · "released" (given up by this client) · "lost" (taken away). */
    this.state = "held";
    this._timer = null;
    this._failures = 0;
    this._inflight = null;
    this.lost = new Promise((resolve) => { this._resolveLost = resolve; });
  }

  /** Gives the lock up. Resolves true when released now, false when it was no longer held. */
  async release({ timeoutMs, signal } = {}) {
    if (this.state !== "held") return false;
    try {
      await this.project.unlock(this.file, { token: this.token, timeoutMs, signal });
      return true;
    } catch (err) {
      if (["not_locked", "not_owner", "stale_token"].includes(err.code)) { this._end("lost_before_release"); return false; }
      throw err;
    }
  }

  /** Extends the lock now; resolves with the renewed Lock. Rejects as the command does (not_locked: it is lost). */
  heartbeat(opts = {}) { return this.project._heartbeatFor(this, opts); }

  /** ms until expiresAt on the server's clock. */
  remainingMs() { return this.expiresAt.getTime() - this.project.client.serverNow(); }

  _update(lock, intervalSeconds) {
    this.lock = pickLock(lock, this.projectId);
    this.expiresAt = new Date(lock.expires_at);
    this.acquiredAt = new Date(lock.acquired_at);
    if (intervalSeconds > 0) this.heartbeatIntervalSeconds = intervalSeconds;
  }

  // Next heartbeat: the server's interval, but never later than half the time left.
  _schedule(delay) {
    const timers = this.project.client._timers;
    if (this._timer) timers.clear(this._timer);
    this._timer = null;
    if (this.state !== "held" || !this.autoHeartbeat || this.project.client._closed) return;
    if (delay === undefined) {
      const left = this.remainingMs();
      const every = this.heartbeatIntervalSeconds > 0 ? this.heartbeatIntervalSeconds * 1000 : Math.min(30000, left / 3);
      delay = Math.min(every, left / 2);
    }
    this._timer = timers.set(() => { this._timer = null; this._beat(); }, Math.max(100, delay));
  }

  _beat() {
    if (this.state !== "held" || this._inflight) return;
    this._inflight = this.heartbeat({ background: true }).then(() => {
      this._failures = 0;
      this._schedule();
    }, (err) => {
      if (this.state !== "held") return;
      // A heartbeat that did not get through is retried soon, sooner as the end nears.
      const step = HEARTBEAT_RETRY_MS[Math.min(this._failures++, HEARTBEAT_RETRY_MS.length - 1)];
      this._schedule(Math.min(step, Math.max(100, this.remainingMs() / 4)));
      if (this._failures === 1) this.project._error(err);
    }).finally(() => { this._inflight = null; });
  }

  /** Heartbeat now (reconnect, online, page visible), unless one is under way. */
  _kick() { if (this.state === "held" && this.autoHeartbeat && !this._inflight) this._beat(); }

  _end(state) {
    if (this.state !== "held") return false;
    this.state = state === "lost" ? "lost" : "released";
    if (this._timer) this.project.client._timers.clear(this._timer);
    this._timer = null;
    this.project._handles.delete(this.token);
    return true;
  }
}

// ---------------------------------------------------------------------------
// One project: its lock map, users present, and the locks you hold in it.

export class Project extends Emitter {
  constructor(client, id) {
    super();
    this.client = client;
    this.id = id;
    this.locks = new Map(); // file → Lock
    this.users = new Set();
    this.lastEventId = "";
    this.connection = Connection.IDLE;
    this.error = null; // the error of a failed project
    this.lost = null; // {projectId, file, reason, lock, at} of the last lock lost
    this.lastError = null;
    this._handles = new Map(); // token → LockHandle
    this._released = new Map(); // file → {token, reason} highest release seen
    this._lostTokens = new Set(); // tokens whose loss was reported
    this._switching = 0; // own commands that may release a lock with reason switched
    this._everOpen = false;
    this._joinedOn = null; // the transport the project is joined on
    this._attempt = 0;
    this._retry = null;
    this._waiters = new Set(); // commands waiting for the project to be open
  }

  /** The user's lock in this project (from the lock map), or null. */
  myLock() {
    for (const l of this.locks.values()) if (l.user === this.client.userId) return l;
    return null;
  }

  /** The current LockHandle of this project, or null. */
  get handle() {
    for (const h of this._handles.values()) if (h.state === "held") return h;
    return null;
  }

  /** The lock on file, or null. */
  lockOf(file) { return this.locks.get(file) || null; }

  /** A plain view of the state: what `change` listeners get. */
  state() {
    const locks = [...this.locks.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    return {
      projectId: this.id, userId: this.client.userId, transport: this.client.transport,
      locks, users: [...this.users].sort(), connection: this.connection, error: this.error,
      myLock: this.myLock(), lost: this.lost, lastEventId: this.lastEventId, lastError: this.lastError,
    };
  }

  /**
   * Locks file. Resolves with a LockHandle; rejects with a FileLockError
   * (file_locked / user_has_lock carry the lock in the way; lock_lost when the
   * lock was taken away before the reply arrived).
   */
  lock(file, { releasePrevious = false, ttlSeconds = this.client.ttlSeconds, timeoutMs, signal, autoHeartbeat } = {}) {
    const body = { project_id: this.id, file, release_previous: !!releasePrevious };
    if (ttlSeconds) body.ttl_seconds = ttlSeconds;
    return this._acquire("lock", body, releasePrevious, { timeoutMs, signal, autoHeartbeat });
  }

  /** Takes the first of files that is free or already yours (POST /claim); none_free when all are held. */
  claim(files, { ttlSeconds = this.client.ttlSeconds, timeoutMs, signal, autoHeartbeat } = {}) {
    const body = { project_id: this.id, files: [...files] };
    if (ttlSeconds) body.ttl_seconds = ttlSeconds;
    return this._acquire("claim", body, true, { timeoutMs, signal, autoHeartbeat });
  }

  async _acquire(name, body, switching, { timeoutMs, signal, autoHeartbeat }) {
    if (switching) this._switching++;
    let reply;
    try {
      reply = await this.client._command(this, name, body, timeoutMs, signal);
    } finally {
      if (switching) this._switching--;
      if (switching) this._settleSwitches(reply && reply.released);
    }
    if (reply.released) {
      this._applyReleased(reply.released, "switched");
      const prev = this._handles.get(reply.released.token);
      if (prev) prev._end("released"); // given up by this very command: not lost
    }
    const lock = pickLock(reply.lock, this.id);
    const gone = this._released.get(lock.file);
    if (gone && gone.token >= lock.token) {
      // Taken away before this reply came: it is not held, and it was lost.
      const h = this._handles.get(lock.token);
      if (h) this._lose(h, gone.reason);
      else if (!this._lostTokens.has(lock.token)) this._reportLost(lock, gone.reason, null);
      this._changed();
      throw new FileLockError({ code: "lock_lost", message: `${lock.file} was lost (${gone.reason}) before the reply arrived` },
        lock, 0, { reason: gone.reason });
    }
    this._applyLock(lock);
    const h = this._handleFor(lock, autoHeartbeat);
    h._update(lock, reply.heartbeat_interval_seconds);
    h.renewed = !!reply.renewed;
    h.released = reply.released ? pickLock(reply.released, this.id) : null;
    if (autoHeartbeat !== undefined) h.autoHeartbeat = autoHeartbeat;
    h._schedule();
    this.lost = null;
    this._changed();
    return h;
  }

  /** Unlocks file (your own; `force` releases anyone's where allowed). Resolves with the server's reply. */
  async unlock(file, { token, force, timeoutMs, signal } = {}) {
    const body = { project_id: this.id, file };
    if (token !== undefined) body.token = token;
    if (force) body.force = true;
    const mine = [...this._handles.values()].filter((h) => h.file === file && (token === undefined || h.token === token));
    for (const h of mine) h._releasing = (h._releasing || 0) + 1;
    try {
      const reply = await this.client._command(this, "unlock", body, timeoutMs, signal);
      if (reply.lock) {
        this._applyReleased(reply.lock, "unlocked");
        const h = this._handles.get(reply.lock.token);
        if (h) h._end("released");
      }
      this._changed();
      return reply;
    } finally {
      for (const h of mine) h._releasing--;
    }
  }

  /** Extends your lock in this project now. Resolves with the renewed Lock, or null when you hold none. */
  async heartbeat(opts = {}) {
    const h = this.handle;
    if (h) return this._heartbeatFor(h, opts);
    try {
      const reply = await this.client._command(this, "heartbeat", { project_id: this.id }, opts.timeoutMs, opts.signal);
      if (reply.lock) { this._applyLock(reply.lock); this._changed(); }
      return reply.lock || null;
    } catch (err) {
      if (err.code === "not_locked") return null;
      throw err;
    }
  }

  async _heartbeatFor(h, { timeoutMs, signal } = {}) {
    let reply;
    try {
      reply = await this.client._command(this, "heartbeat", { project_id: this.id }, timeoutMs, signal);
    } catch (err) {
      if (err.code === "not_locked" && h.state === "held") {
        // Gone on the server: expired if its time has passed, else not known
        // (a server restart, a lost store); a release event may have said more.
        const seen = this._released.get(h.file);
        const reason = seen && seen.token >= h.token ? seen.reason : h.remainingMs() <= 0 ? "expired" : "unknown";
        this._lose(h, reason);
        this._changed();
      }
      throw err;
    }
    const lock = reply.lock;
    if (h.state !== "held") return lock;
    if (lock && lock.file === h.file && lock.token === h.token) {
      h._update(lock, reply.heartbeat_interval_seconds);
      this._applyLock(lock);
    } else if (lock) {
      // The user's lock in the project is another one now (another tab switched).
      this._applyLock(lock);
      this._lose(h, "switched");
    }
    this._changed();
    return lock;
  }

  /** Stops following the project (leave_project, or its stream closed). */
  close() {
    if (this.connection === Connection.CLOSED) return;
    this.client._leave(this);
    this._setConnection(Connection.CLOSED, null);
    const err = new FileLockError({ code: "closed", message: "project closed" });
    for (const w of [...this._waiters]) w.reject(err);
    for (const h of [...this._handles.values()]) h._end("released");
  }

  // ---- events ----

  _event(name, data, fromCurrent) {
    if (!data || typeof data !== "object") return;
    if (name === "snapshot") {
      // During a token change the old connection may still deliver; a
      // snapshot older than what is applied is stale.
      if (!fromCurrent && data.event_id && this.lastEventId && isAfter(this.lastEventId, data.event_id)) return;
      this._snapshot(data);
    } else {
      if (data.event_id && this.lastEventId && !isAfter(data.event_id, this.lastEventId)) return; // seen already
      switch (name) {
        case "lock_acquired": {
          this._applyLock(data);
          if (data.user === this.client.userId && !this._handles.has(data.token)) this._adopt(data);
          break;
        }
        case "lock_released": {
          this._applyReleased(data, data.reason);
          const h = this._handles.get(data.token);
          if (h && h.file === data.file && h.state === "held") {
            if (data.reason === "unlocked" && h._releasing) h._end("released");
            else if (data.reason === "switched" && this._switching > 0) h._pendingSwitch = true;
            else this._lose(h, data.reason);
          }
          break;
        }
        case "user_joined": this.users.add(data.user); break;
        case "user_left": this.users.delete(data.user); break;
        default: return;
      }
    }
    if (data.event_id) this.lastEventId = String(data.event_id);
    this._emit("event", name, data);
    this.client._emit("event", name, data);
    if (name === "snapshot") this._opened();
    this._changed();
  }

  _snapshot(data) {
    const me = this.client.userId;
    this.locks = new Map((data.locks || []).map((l) => [l.file, pickLock(l, this.id)]));
    this.users = new Set(data.users || []);
    this._released.clear();
    for (const h of [...this._handles.values()]) {
      const cur = this.locks.get(h.file);
      if (cur && cur.token === h.token && cur.user === me) { h._update(cur); continue; }
      if (cur) { this._lose(h, this.myLockOtherThan(h) ? "switched" : "unknown"); continue; }
      // Not in the snapshot: the snapshot may be older than our lock (a
      // stream opened while lock() was under way); one heartbeat asks the server.
      if (!h._inflight) h._beat();
    }
    const mine = this.myLock();
    if (mine && !this._handles.has(mine.token)) this._adopt(mine);
  }

  myLockOtherThan(h) {
    for (const l of this.locks.values()) if (l.user === this.client.userId && l.token !== h.token) return l;
    return null;
  }

  // A lock of this user that this client did not take (a page reload, another tab): kept alive too.
  _adopt(lock) {
    const h = this._handleFor(lock, this.client.autoHeartbeat);
    h._schedule();
  }

  _handleFor(lock, autoHeartbeat) {
    let h = this._handles.get(lock.token);
    if (!h || h.state !== "held") {
      h = new LockHandle(this, lock, autoHeartbeat === undefined ? this.client.autoHeartbeat : autoHeartbeat);
      this._handles.set(lock.token, h);
    }
    return h;
  }

  _settleSwitches(released) {
    for (const h of [...this._handles.values()]) {
      if (!h._pendingSwitch) continue;
      h._pendingSwitch = false;
      if (released && released.token === h.token) h._end("released");
      else if (h.state === "held" && this._switching === 0) this._lose(h, "switched");
    }
  }

  _applyLock(l) {
    const lock = pickLock(l, this.id);
    const gone = this._released.get(lock.file);
    if (gone && lock.token <= gone.token) return; // a reply older than a release
    const cur = this.locks.get(lock.file);
    if (cur && cur.token > lock.token) return;
    this.locks.set(lock.file, lock);
  }

  _applyReleased(l, reason) {
    const cur = this.locks.get(l.file);
    if (cur && (l.token === undefined || cur.token <= l.token)) this.locks.delete(l.file);
    const prev = this._released.get(l.file);
    if (l.token !== undefined && (!prev || l.token > prev.token)) this._released.set(l.file, { token: l.token, reason: reason || l.reason });
    if (this._released.size > 5000) this._released.clear();
  }

  _lose(h, reason) {
    const lock = h.lock;
    if (!h._end("lost")) return;
    this._reportLost(lock, reason, h);
  }

  _reportLost(lock, reason, handle) {
    this._lostTokens.add(lock.token);
    if (this._lostTokens.size > 1000) this._lostTokens.clear();
    const info = { projectId: this.id, file: lock.file, reason: reason || "unknown", lock, at: new Date().toISOString() };
    this.lost = info;
    if (handle) handle._resolveLost(info);
    this._emit("lockLost", info);
    this.client._emit("lockLost", info);
  }

  _error(err) {
    this.lastError = err;
    this._emit("error", err);
    this.client._emit("error", err);
    this._changed();
  }

  _changed() {
    if (this._changeQueued) return;
    this._changeQueued = true;
    queueMicrotask(() => {
      this._changeQueued = false;
      const view = this.state();
      this._emit("change", view);
      this.client._emit("change", view);
    });
  }

  _setConnection(c, err) {
    if (this.connection === c && this.error === err) return;
    this.connection = c;
    this.error = err || null;
    this._emit("state", c, this.error);
    this._changed();
  }

  _opened() {
    const was = this._everOpen;
    this._everOpen = true;
    this.client._freshToken = null; // the token was accepted
    this._attempt = 0;
    this._setConnection(Connection.OPEN, null);
    for (const w of [...this._waiters]) w.resolve();
    if (was) for (const h of this._handles.values()) h._kick(); // at once on reconnect
  }

  _down() {
    if (this.connection === Connection.CLOSED || this.connection === Connection.FAILED) return;
    this._joinedOn = null;
    this._setConnection(this._everOpen ? Connection.RECONNECTING : Connection.CONNECTING, null);
  }

  _fail(err) {
    if (this.connection === Connection.CLOSED) return;
    this._joinedOn = null;
    this._setConnection(Connection.FAILED, err);
    for (const w of [...this._waiters]) w.reject(err);
    this._error(err);
  }

  /** Resolves once the project is open; rejects when it fails or closes. */
  _whenOpen() {
    if (this.connection === Connection.OPEN) return Promise.resolve();
    if (this.connection === Connection.FAILED) return Promise.reject(this.error);
    if (this.connection === Connection.CLOSED) return Promise.reject(new FileLockError({ code: "closed", message: "project closed" }));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: () => { this._waiters.delete(w); resolve(); },
        reject: (e) => { this._waiters.delete(w); reject(e); },
      };
      this._waiters.add(w);
    });
  }
}

// ---------------------------------------------------------------------------
// The client: one connection (per transport), its token, its projects.

export class FileLockClient extends Emitter {
  /**
   * @param {object} o
   * @param {string} o.userId
   * @param {string} [o.baseUrl] server origin (default: the page's origin)
   * @param {"sse"|"ws"|"socketio"} [o.transport] default "sse"
   * @param {string|(() => string|Promise<string>)} [o.token] JWT, or a function returning a fresh one
   * @param {Record<string,string>} [o.headers] extra request headers (e.g. X-API-Key)
   * @param {string} [o.projectId] a default project: the client's lock/claim/… act on it
   * @param {number} [o.ttlSeconds] TTL asked for by lock/claim (server default if absent)
   * @param {number} [o.timeoutMs] default timeout of every command (10000)
   * @param {boolean} [o.autoHeartbeat] heartbeat held locks (default true)
   * @param {boolean} [o.autoConnect] connect at once (default true)
   */
  constructor(o = {}) {
    super();
    if (!o.userId) throw new TypeError("userId is required");
    this.transport = o.transport || "sse";
    if (!TRANSPORTS[this.transport]) throw new TypeError(`unknown transport ${this.transport} (sse, ws, socketio)`);
    const g = typeof globalThis !== "undefined" ? globalThis : {};
    this.pageHref = typeof location !== "undefined" ? location.href : undefined;
    const origin = typeof location !== "undefined" ? location.origin : "";
    this.baseUrl = String(o.baseUrl || origin).replace(/\/+$/, "");
    this.userId = String(o.userId);
    this.headers = { ...(o.headers || {}) };
    this.ttlSeconds = o.ttlSeconds;
    this.timeoutMs = o.timeoutMs > 0 ? o.timeoutMs : DEFAULT_TIMEOUT_MS;
    this.autoHeartbeat = o.autoHeartbeat !== false;
    this.io = o.io || g.io;
    this.WebSocket = o.WebSocket || g.WebSocket;
    this.EventSource = o.EventSource || g.EventSource;
    this.fetch = o.fetch || (typeof g.fetch === "function" ? g.fetch.bind(g) : undefined);
    this._tokenSource = typeof o.token === "function" ? o.token : null;
    this._token = this._tokenSource ? "" : String(o.token || "");
    this._freshToken = null; // a token asked for after a refusal, not yet accepted
    this._timers = new Timers(typeof document !== "undefined");
    this.connection = Connection.IDLE;
    this.error = null;
    this.clockSkewMs = 0;
    this.projects = new Map();
    this._t = null; // the current transport
    this._attempt = 0;
    this._everOpen = false;
    this._closed = false;
    this._waiters = new Set();
    this._closing = new Promise((_, reject) => { this._rejectClosing = reject; });
    this._closing.catch(() => {});
    this._listen();
    if (o.projectId) this.defaultProject = this.project(String(o.projectId));
    if (o.autoConnect !== false) this.connect();
  }

  /** The project id's subscription (made and joined on first use; the same object after). */
  project(id) {
    id = String(id);
    let p = this.projects.get(id);
    if (p && p.connection !== Connection.CLOSED) return p;
    p = new Project(this, id);
    this.projects.set(id, p);
    if (this.connection === Connection.FAILED) p._fail(this.error);
    else if (this._t) this._join(p);
    else if (this.connection !== Connection.IDLE) p._setConnection(Connection.CONNECTING, null);
    return p;
  }

  /** The server's clock, as well as it can be estimated (ms since epoch). */
  serverNow() { return Date.now() + this.clockSkewMs; }

  /** Opens the connection (the constructor does unless autoConnect is false); from `failed` (the client's or a project's), tries again. */
  connect() {
    if (this._closed) return;
    if (this.connection === Connection.OPEN && this._t) {
      // Connected: projects that failed alone are joined again.
      for (const p of this.projects.values()) {
        if (p.connection === Connection.FAILED) { p._setConnection(Connection.CONNECTING, null); this._join(p); }
      }
      return;
    }
    if (this._connecting) return;
    this.error = null;
    this._freshToken = null;
    for (const p of this.projects.values()) if (p.connection === Connection.FAILED) p._setConnection(Connection.CONNECTING, null);
    this._connectNow();
  }

  /** Closes for good: pending commands reject with `closed`; the server releases held locks after its grace. */
  close() {
    if (this._closed) return;
    this._closed = true;
    const err = new FileLockError({ code: "closed", message: "client closed" });
    this._rejectClosing(err);
    this._timers.stop();
    clearTimeout(this._retry);
    if (this._t) this._t.close(err);
    if (this._joining) this._joining.close(err);
    this._t = null;
    for (const p of this.projects.values()) {
      clearTimeout(p._retry);
      for (const w of [...p._waiters]) w.reject(err);
      for (const h of [...p._handles.values()]) h._end("released");
      p._setConnection(Connection.CLOSED, null);
    }
    for (const w of [...this._waiters]) w.reject(err);
    if (this._unlisten) this._unlisten();
    this._setConnection(Connection.CLOSED, null);
  }

  // ---- the default project (option projectId) ----

  _default() {
    if (!this.defaultProject) throw new TypeError("no default project: pass projectId, or use client.project(id)");
    return this.defaultProject;
  }
  lock(file, opts) { return this._default().lock(file, opts); }
  claim(files, opts) { return this._default().claim(files, opts); }
  unlock(file, opts) { return this._default().unlock(file, opts); }
  heartbeat(opts) { return this._default().heartbeat(opts); }
  myLock() { return this._default().myLock(); }
  lockOf(file) { return this._default().lockOf(file); }
  state() { return this._default().state(); }
  get projectId() { return this.defaultProject ? this.defaultProject.id : undefined; }
  get locks() { return this._default().locks; }
  get users() { return this._default().users; }
  get lost() { return this._default().lost; }
  get lastError() { return this.defaultProject ? this.defaultProject.lastError : null; }
  get lastEventId() { return this._default().lastEventId; }
  /** Subscribes to the default project's state (called at once); returns an unsubscribe function. */
  onChange(cb) { const p = this._default(); const off = p.on("change", cb); try { cb(p.state()); } catch (e) { console.error(e); } return off; }
  /** Subscribes to the default project's raw events: cb(name, data). */
  onEvent(cb) { return this._default().on("event", cb); }

  // ---- connection ----

  _setConnection(c, err) {
    if (this.connection === c && this.error === err) return;
    this.connection = c;
    this.error = err || null;
    this._emit("state", c, this.error);
  }

  async _connectNow() {
    if (this._closed || this._connecting) return;
    this._connecting = true;
    clearTimeout(this._retry);
    this._setConnection(this._everOpen ? Connection.RECONNECTING : Connection.CONNECTING, null);
    for (const p of this.projects.values()) p._down();
    let t = null;
    try {
      const token = await this._getToken();
      if (this._closed) return;
      t = new TRANSPORTS[this.transport](this, token);
      this._joining = t;
      await t.open();
      this._joining = null;
      if (this._closed) { t.close(); return; }
      this._t = t;
      this._everOpen = true;
      this._attempt = 0;
      if (t.multiplexed) this._freshToken = null; // the handshake accepted the token
      this._setConnection(Connection.OPEN, null);
      for (const w of [...this._waiters]) w.resolve();
      for (const p of this.projects.values()) if (p.connection !== Connection.CLOSED && p.connection !== Connection.FAILED) this._join(p);
    } catch (err) {
      this._joining = null;
      if (t) { t.close(); if (err instanceof FileLockError) err.usedToken = t.token; }
      if (!this._closed) await this._refused(err, null);
    } finally {
      this._connecting = false;
    }
  }

  // What a refusal means: a refused token is asked for again (once), a
  // refusal that cannot heal fails the client (or project), anything else is
  // tried again with backoff.
  async _refused(err, project) {
    if (err && err.probe) err = await this._probe(project, err);
    if (this._closed) return;
    const v = verdict(err);
    const perProject = project && this._t && !this._t.multiplexed;
    if (v === "token") {
      // A token asked for after a refusal and refused too is final.
      if (!this._tokenSource || (err.usedToken !== undefined && err.usedToken === this._freshToken)) { this._failAll(err); return; }
      this._dropToken(err.usedToken);
      if (perProject) this._retryLater(project, 0);
      else this._restart();
      return;
    }
    if (v === "fatal") {
      if (project) project._fail(err);
      else this._failAll(err);
      return;
    }
    if (err && err.code === "token_error") this._error(err);
    this._retryLater(project);
  }

  // Drops the current connection and connects anew.
  _restart() {
    const t = this._t;
    this._t = null;
    if (t) t.close(new FileLockError({ code: "disconnected", message: "reconnecting" }));
    for (const p of this.projects.values()) p._down();
    this._retryLater(null, 0);
  }

  _retryLater(project, delay) {
    if (this._closed) return;
    if (project) {
      clearTimeout(project._retry);
      project._retry = setTimeout(() => this._join(project), delay ?? backoff(project._attempt++));
      return;
    }
    clearTimeout(this._retry);
    this._retry = setTimeout(() => this._connectNow(), delay ?? backoff(this._attempt++));
  }

  _failAll(err) {
    const t = this._t;
    this._t = null;
    if (t) t.close(err);
    this._setConnection(Connection.FAILED, err);
    for (const w of [...this._waiters]) w.reject(err);
    for (const p of this.projects.values()) p._fail(err);
    this._emit("error", err);
  }

  // A connection that failed without saying why (a browser hides the HTTP
  // status of a refused EventSource or WebSocket): GET /status of the project
  // with the same credentials tells (401, 403, …); otherwise it was the network.
  async _probe(project, err) {
    const id = project ? project.id : [...this.projects.keys()][0];
    if (!id || !this.fetch) return err;
    const used = err.usedToken !== undefined ? err.usedToken : this._token;
    try {
      const res = await this._fetch(`/status/${encodeURIComponent(id)}`, { method: "GET" }, this.timeoutMs, null, used);
      if (res.ok) return err;
      const body = await res.json().catch(() => null);
      return new FileLockError((body && body.error) || { code: `http_${res.status}` }, null, res.status, { usedToken: err.usedToken });
    } catch (e) {
      return e instanceof FileLockError ? Object.assign(e, { usedToken: err.usedToken }) : err;
    }
  }

  _onDown(t, info) {
    if (t !== this._t || this._closed) return;
    this._t = null;
    if (info && info.tokenExpired) this._dropToken(t.token);
    for (const p of this.projects.values()) p._down();
    this._setConnection(Connection.RECONNECTING, null);
    this._retryLater(null, info && info.tokenExpired ? 0 : backoff(this._attempt++));
  }

  _onProjectDown(t, projectId, info) {
    if (t !== this._t || this._closed) return;
    const p = this.projects.get(projectId);
    if (!p || p.connection === Connection.CLOSED) return;
    p._down();
    clearTimeout(p._retry);
    p._retry = setTimeout(() => this._join(p), backoff(p._attempt++));
    void info;
  }

  _onEvent(t, name, data) {
    if (!data || typeof data !== "object") return;
    const p = this.projects.get(String(data.project_id || ""));
    if (!p || p.connection === Connection.CLOSED) return;
    if (t !== this._t && t !== this._next) return;
    p._event(name, data, t === this._t && !this._next);
  }

  _onServerError(t, err) {
    if (t !== this._t) return;
    this._error(err);
  }

  _error(err) {
    if (this.defaultProject) this.defaultProject.lastError = err;
    this._emit("error", err);
    if (this.defaultProject) this.defaultProject._changed();
  }

  async _join(p) {
    const t = this._t;
    if (!t || p.connection === Connection.CLOSED || p.connection === Connection.FAILED) return;
    clearTimeout(p._retry);
    this._estimateClock();
    if (p.connection === Connection.IDLE) p._setConnection(Connection.CONNECTING, null);
    const gen = (p._joinGen = (p._joinGen || 0) + 1);
    try {
      const r = await t.join(p.id, p.lastEventId);
      if (gen !== p._joinGen || t !== this._t) return;
      p._joinedOn = t;
      if (r.resumed) p._opened();
    } catch (err) {
      if (gen !== p._joinGen || t !== this._t || this._closed) return;
      if (t.multiplexed && err.code === "disconnected") return; // the connection's own down handles it
      if (t.multiplexed && err.code === "rate_limited") { p._fail(err); return; } // limits.max_projects_per_connection
      if (err.code === "unauthorized" && err.usedToken === undefined) err.usedToken = t.token;
      await this._refused(err, t.multiplexed && err.code === "unauthorized" ? null : p);
    }
  }

  _leave(p) {
    clearTimeout(p._retry);
    p._joinGen = (p._joinGen || 0) + 1;
    if (this._t) this._t.leave(p.id);
    this.projects.delete(p.id);
  }

  // ---- commands ----

  /** Runs a command of project; settles by its deadline at the latest, at once with `closed` on close(). */
  _command(project, name, body, timeoutMs = this.timeoutMs, signal) {
    return Promise.race([this._commandNow(project, name, body, timeoutMs, signal), this._closing]);
  }

  async _commandNow(project, name, body, timeoutMs, signal) {
    if (this._closed) throw new FileLockError({ code: "closed", message: "client closed" });
    if (project.connection === Connection.CLOSED) throw new FileLockError({ code: "closed", message: "project closed" });
    if (this.connection === Connection.FAILED) throw this.error;
    const started = Date.now();
    const left = () => timeoutMs - (Date.now() - started);
    if (this.transport === "sse") return this._rest(REST_PATHS[name], { ...body, user_id: this.userId }, timeoutMs, signal);
    // A heartbeat does not wait for a reconnect: REST carries it meanwhile.
    if (name === "heartbeat" && project.connection !== Connection.OPEN) return this._rest(REST_PATHS[name], { ...body, user_id: this.userId }, timeoutMs, signal);
    if (project.connection !== Connection.OPEN) await race(project._whenOpen(), Math.max(1, left()), signal, name);
    const t = this._t;
    if (!t) throw new FileLockError({ code: "disconnected", message: `${name}: not connected` });
    return t.send(name, { ...body, user_id: this.userId }, Math.max(1, left()), signal);
  }

  _fetch(path, init, timeoutMs, signal, token) {
    const ctl = typeof AbortController === "function" ? new AbortController() : null;
    const d = deadline(timeoutMs, signal, `${init.method} ${path}`);
    d.promise.catch(() => ctl && ctl.abort());
    const headers = { ...this.headers, ...(init.headers || {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    const req = this.fetch(this.baseUrl + path, { ...init, headers, signal: ctl ? ctl.signal : undefined })
      .catch((e) => { throw new FileLockError({ code: "network_error", message: `cannot reach the server: ${e.message}` }); });
    return Promise.race([req, d.promise]).finally(() => d.cleanup());
  }

  async _rest(path, body, timeoutMs = this.timeoutMs, signal, retried = false) {
    if (!this.fetch) throw new FileLockError({ code: "protocol_error", message: "no fetch" });
    const started = Date.now();
    const token = await race(this._getToken(), timeoutMs, signal, path);
    const left = () => Math.max(1, timeoutMs - (Date.now() - started));
    const res = await this._fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) },
      left(), signal, token);
    let json = null;
    try { json = await race(res.json(), left(), signal, path); } catch (e) { if (e.code === "timeout" || e.code === "aborted") throw e; }
    if (res.status === 401 && this._tokenSource && !retried) {
      // Refused before it ran (the token expired): once more with a fresh token.
      this._dropToken(token);
      return this._rest(path, body, left(), signal, true);
    }
    if (!res.ok) {
      const err = (json && json.error) || { code: `http_${res.status}`, message: res.statusText };
      const retryAfter = Number(res.headers && res.headers.get && res.headers.get("Retry-After")) || undefined;
      throw new FileLockError(err, json && json.lock, res.status, retryAfter ? { retryAfter } : {});
    }
    if (!json || typeof json !== "object") throw new FileLockError({ code: "protocol_error", message: `${path}: not JSON` }, null, res.status);
    return json;
  }

  // ---- tokens ----

  async _getToken() {
    if (!this._tokenSource || this._token) return this._token;
    if (!this._tokenPromise) {
      this._tokenPromise = (async () => {
        let t;
        try { t = await this._tokenSource(); } catch (e) {
          throw new FileLockError({ code: "token_error", message: `token function failed: ${e && e.message ? e.message : e}` });
        }
        if (!t) throw new FileLockError({ code: "token_error", message: "token function returned no token" });
        this._token = String(t);
        this._tokenAt = Date.now();
        if (this._nextIsFresh) { this._freshToken = this._token; this._nextIsFresh = false; }
        this._scheduleRefresh();
        return this._token;
      })().finally(() => { this._tokenPromise = null; });
    }
    return this._tokenPromise;
  }

  // Forgets the token refused (unless another one replaced it meanwhile):
  // the next one the function gives is a fresh one.
  _dropToken(refused) {
    if (!this._tokenSource || (refused !== undefined && this._token && this._token !== refused)) return;
    this._token = "";
    this._nextIsFresh = true;
  }

  // At TOKEN_REFRESH_AT of the token's life (by its exp, and iat when it
  // has one), get a fresh token and move the connection over to it.
  _scheduleRefresh() {
    if (!this._tokenSource || !this._token) return;
    if (this._refreshTimer) this._timers.clear(this._refreshTimer);
    this._refreshTimer = null;
    const { exp, iat } = jwtClaims(this._token);
    if (typeof exp !== "number") return;
    const now = this.serverNow();
    const start = typeof iat === "number" && iat * 1000 <= now ? iat * 1000 : Math.min(now, this._tokenAt || now);
    const at = start + TOKEN_REFRESH_AT * (exp * 1000 - start);
    const forToken = this._token;
    this._refreshTimer = this._timers.set(() => { this._refreshTimer = null; this._refresh(forToken); }, Math.max(0, at - now));
  }

  async _refresh(forToken) {
    if (this._closed || this._token !== forToken) return;
    this._token = "";
    let token;
    try { token = await this._getToken(); } catch (err) {
      this._error(err);
      this._refreshTimer = this._timers.set(() => this._refresh(""), 1000);
      return;
    }
    const old = this._t;
    if (!old || this._closed) return;
    // Make before break: a new connection with the fresh token, every project
    // joined on it from its last event id, then the old one is retired.
    const t = new TRANSPORTS[this.transport](this, token);
    this._next = t;
    try {
      await t.open();
      const projects = [...this.projects.values()].filter((p) => p.connection === Connection.OPEN);
      await Promise.all(projects.map((p) => t.join(p.id, p.lastEventId)));
      if (this._closed || this._t !== old) { t.close(); return; }
      this._t = t;
      this._next = null;
      for (const p of projects) p._joinedOn = t;
      old.retire();
      // Projects that were (re)joining on the old connection join on this one.
      for (const p of this.projects.values()) {
        if (!projects.includes(p) && p.connection !== Connection.CLOSED && p.connection !== Connection.FAILED) this._join(p);
      }
    } catch (err) {
      this._next = null;
      t.close();
      if (this._closed) return;
      if (verdict(err) === "token") { this._failAll(err); return; }
      this._refreshTimer = this._timers.set(() => this._refresh(this._token), 1000); // the old connection still holds
    }
  }

  // ---- browser signals ----

  _listen() {
    const g = typeof window !== "undefined" ? window : null;
    if (!g || typeof g.addEventListener !== "function") return;
    const wake = () => {
      if (this._closed) return;
      if (this.connection === Connection.RECONNECTING && !this._connecting) this._retryLater(null, 0);
      for (const p of this.projects.values()) {
        if (p.connection === Connection.RECONNECTING && this._t && !this._t.multiplexed) this._retryLater(p, 0);
        for (const h of p._handles.values()) h._kick();
      }
    };
    const visible = () => { if (typeof document === "undefined" || document.visibilityState === "visible") wake(); };
    g.addEventListener("online", wake);
    if (typeof document !== "undefined") document.addEventListener("visibilitychange", visible);
    this._unlisten = () => {
      g.removeEventListener("online", wake);
      if (typeof document !== "undefined") document.removeEventListener("visibilitychange", visible);
    };
  }

  // One GET /status to learn the server's clock (countdowns, heartbeat timing).
  async _estimateClock() {
    const id = [...this.projects.keys()][0];
    if (this._clockDone || !this.fetch || !id) return;
    this._clockDone = true;
    try {
      const t0 = Date.now();
      const res = await this._fetch(`/status/${encodeURIComponent(id)}`, { method: "GET" }, this.timeoutMs, null, this._token);
      const t1 = Date.now();
      const body = await res.json();
      const st = Date.parse(body.server_time);
      const skew = st - (t0 + t1) / 2;
      // Only a skew larger than the measurement's own uncertainty counts.
      if (res.ok && !Number.isNaN(st) && Math.abs(skew) > (t1 - t0) / 2 + 250) this.clockSkewMs = skew;
    } catch { this._clockDone = false; }
  }
}

/** `createClient(o)` ≡ `new FileLockClient(o)`. */
export function createClient(options) { return new FileLockClient(options); }
