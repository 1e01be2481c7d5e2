// deploy/nginx in front of two filelockd instances on one private Redis,
// with the real clients: REST (fetch), SSE (eventsource), WebSocket (ws) and
// Socket.IO (socket.io-client, default transports: polling then upgrade).
// One instance is stopped in the middle: its clients reconnect through
// nginx to the other one and keep their locks (same token, no
// lock_released) since they are back within lock.disconnect_grace. Then the
// latency nginx adds per event is measured (a lock over REST → its event at
// an SSE client, direct and through nginx) and reported.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { EventSource } from "eventsource";
import WebSocket from "ws";
import { startServer, postJSON, getStatus, waitFor, freePort } from "./lib/server.mjs";
import { startNginx, startRedis } from "./lib/nginx.mjs";

const GRACE_MS = 8000;

let redis, nginx;
const servers = []; // {name, srv, baseUrl}
const closers = [];

before(async () => {
  redis = await startRedis();
  const prefix = `e2e-nginx-${process.pid}:`;
  for (const name of ["A", "B"]) {
    const port = await freePort();
    const srv = await startServer({
      env: {
        FILELOCK_HTTP_ADDR: `127.0.0.1:${port}`,
        FILELOCK_STORE_BACKEND: "redis",
        FILELOCK_REDIS_ADDRS: redis.addr,
        FILELOCK_REDIS_KEY_PREFIX: prefix,
        FILELOCK_LOCK_DISCONNECT_GRACE: `${GRACE_MS}ms`,
        FILELOCK_HTTP_SHUTDOWN_TIMEOUT: "5s",
      },
    });
    servers.push({ name, srv, baseUrl: srv.baseUrl, addr: `127.0.0.1:${port}` });
  }
  nginx = await startNginx({ upstreams: servers.map((s) => s.addr) });
});

after(async () => {
  for (const c of closers) { try { c(); } catch { /* closing */ } }
  await nginx?.stop();
  for (const s of servers) await s.srv.stop();
  await redis?.stop();
});

let seq = 0;
const project = () => `e2e-nginx-${process.pid}-${++seq}`;

/** The instance's live connections of transport, from its own /metrics. */
async function connections(server, transport) {
  const res = await fetch(server.baseUrl + "/metrics").catch(() => null);
  if (!res || !res.ok) return 0;
  const m = (await res.text()).match(new RegExp(`^filelock_connections\\{transport="${transport}"\\} (\\d+)`, "m"));
  return m ? Number(m[1]) : 0;
}

/** Which instance a new connection of transport landed on: opens it with open() and watches the counts. */
async function openCounted(transport, open) {
  const before = await Promise.all(servers.map((s) => connections(s, transport)));
  const client = await open();
  const on = await waitFor(async () => {
    const now = await Promise.all(servers.map((s) => connections(s, transport)));
    const i = now.findIndex((n, k) => n > before[k]);
    return i >= 0 ? servers[i] : null;
  }, { timeoutMs: 10000, what: `${transport} connection counted` });
  return { client, on };
}

/** An SSE client (eventsource reconnects by itself with Last-Event-ID). */
function openSSE(url) {
  const es = new EventSource(url);
  closers.push(() => es.close());
  const events = [];
  let opens = 0;
  es.addEventListener("open", () => { opens++; });
  for (const name of ["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"]) {
    es.addEventListener(name, (e) => events.push({ name, data: JSON.parse(e.data), at: performance.now() }));
  }
  return { es, events, opens: () => opens };
}

/**
 * A WebSocket client that does what filelock.js does: on close it
 * reconnects and joins again from the last event id it saw.
 */
function openWS(baseUrl, projectId, userId) {
  const url = baseUrl.replace(/^http/, "ws") + "/ws";
  const state = { events: [], joins: 0, lastEventId: undefined, ws: null, closed: false, pending: new Map(), ref: 0 };
  const connect = () => new Promise((resolve) => {
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.on("message", (buf) => {
      const f = JSON.parse(String(buf));
      if (f.event === "reply") {
        state.pending.get(f.ref)?.(f.data);
        state.pending.delete(f.ref);
        return;
      }
      if (f.data?.event_id) state.lastEventId = f.data.event_id;
      state.events.push({ name: f.event, data: f.data });
    });
    ws.on("open", async () => {
      const r = await call("join_project", { project_id: projectId, user_id: userId, last_event_id: state.lastEventId });
      if (r.ok) state.joins++;
      resolve();
    });
    ws.on("error", () => {});
    ws.on("close", () => {
      if (!state.closed) setTimeout(() => connect(), 200);
      resolve();
    });
  });
  const call = (event, data) => new Promise((res) => {
    const ref = String(++state.ref);
    state.pending.set(ref, res);
    state.ws.send(JSON.stringify({ event, data, ref }));
  });
  state.call = call;
  state.close = () => { state.closed = true; state.ws?.close(); };
  closers.push(state.close);
  return connect().then(() => state);
}

/** A Socket.IO client with default options; it joins again on every (re)connect. */
function openSIO(baseUrl, projectId, userId) {
  const socket = io(baseUrl);
  closers.push(() => socket.close());
  const state = { socket, joins: 0, upgrades: 0, events: [] };
  // The manager's open comes before the engine probes for the upgrade.
  socket.io.on("open", () => { socket.io.engine.once("upgrade", () => { state.upgrades++; }); });
  socket.on("connect", () => {
    socket.emit("join_project", { project_id: projectId, user_id: userId }, (r) => { if (r.ok) state.joins++; });
  });
  for (const name of ["snapshot", "lock_acquired", "lock_released"]) socket.on(name, (d) => state.events.push({ name, data: d }));
  return state;
}

/** One request through nginx, so that the next one goes to the other instance of the round robin. */
async function shiftRoundRobin() {
  const res = await fetch(nginx.baseUrl + "/healthz");
  await res.text();
}

const call = (socket, name, data) => new Promise((res) => socket.emit(name, data, res));

test("REST through nginx: answers, request ids passed and echoed", async () => {
  const p = project();
  const res = await fetch(nginx.baseUrl + "/lock", {
    method: "POST", headers: { "Content-Type": "application/json", "X-Request-ID": "e2e-nginx-req-1" },
    body: JSON.stringify({ project_id: p, file: "images/이미지 1.jpg", user_id: "rest-user" }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-request-id"), "e2e-nginx-req-1");
  const body = await res.json();
  assert.equal(body.lock.file, "images/이미지 1.jpg");
  // Without one, nginx makes the id ($request_id) and filelock uses it.
  const st = await fetch(`${nginx.baseUrl}/status/${p}`);
  assert.equal(st.status, 200);
  assert.match(st.headers.get("x-request-id"), /^[0-9a-f]{32}$/);
  await waitFor(() => servers.some((s) => s.srv.logs().includes("request_id=e2e-nginx-req-1")), { what: "the request id in a filelockd log" });
  // The file name with its slash, space and Hangul survives the proxy.
  const status = await st.json();
  assert.deepEqual(status.locks.map((l) => [l.file, l.user]), [["images/이미지 1.jpg", "rest-user"]]);
  const unknown = await fetch(nginx.baseUrl + "/no/such/route");
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, "not_found");
});

test("SSE, WebSocket and Socket.IO through nginx survive an instance stopping", { timeout: 120000 }, async (t) => {
  const p = project();
  const watcher = openSSE(`${nginx.baseUrl}/events/${p}`); // names no user: a pure observer
  await waitFor(() => watcher.events.find((e) => e.name === "snapshot"), { what: "watcher snapshot" });

  // Socket.IO: polling, then the upgrade to WebSocket, on one sticky instance.
  const { client: sio, on: sioOn } = await openCounted("socketio", async () => {
    const s = openSIO(nginx.baseUrl, p, "sio-user");
    await waitFor(() => s.joins === 1 && s.upgrades === 1, { what: "socket.io joined and upgraded", timeoutMs: 10000 });
    return s;
  });
  const victim = sioOn;
  const survivor = servers.find((s) => s !== victim);
  t.diagnostic(`socket.io sticky on ${victim.name}; stopping it later`);
  const sioLock = await call(sio.socket, "lock", { project_id: p, file: "sio.jpg" });
  assert.equal(sioLock.ok, true, JSON.stringify(sioLock));

  // SSE streams and WebSockets until one of each is on the victim (round robin).
  const users = []; // {user, file, token, client, kind}
  for (let i = 0; i < 6 && !users.some((u) => u.kind === "sse" && u.on === victim); i++) {
    const user = `sse-user-${i}`;
    const { client, on } = await openCounted("sse", async () => {
      const c = openSSE(`${nginx.baseUrl}/events/${p}?user_id=${user}`);
      await waitFor(() => c.events.find((e) => e.name === "snapshot"), { what: `${user} snapshot` });
      return c;
    });
    const r = await postJSON(nginx.baseUrl, "/lock", { project_id: p, file: `${user}.jpg`, user_id: user });
    assert.equal(r.status, 200, r.text);
    users.push({ user, file: `${user}.jpg`, token: r.body.lock.token, client, on, kind: "sse" });
    if (on !== victim) await shiftRoundRobin();
  }
  for (let i = 0; i < 6 && !users.some((u) => u.kind === "ws" && u.on === victim); i++) {
    const user = `ws-user-${i}`;
    const { client, on } = await openCounted("ws", () => openWS(nginx.baseUrl, p, user));
    const r = await client.call("lock", { project_id: p, file: `${user}.jpg` });
    assert.equal(r.ok, true, JSON.stringify(r));
    users.push({ user, file: `${user}.jpg`, token: r.lock.token, client, on, kind: "ws" });
    if (on !== victim) await shiftRoundRobin();
  }
  users.push({ user: "sio-user", file: "sio.jpg", token: sioLock.lock.token, client: sio, on: victim, kind: "socketio" });
  for (const kind of ["sse", "ws", "socketio"]) {
    assert.ok(users.some((u) => u.kind === kind && u.on === victim), `no ${kind} client landed on ${victim.name}`);
  }
  const before = await getStatus(nginx.baseUrl, p);
  assert.equal(before.locks.length, users.length);

  // Stop the victim (SIGTERM: graceful).
  const stoppedAt = Date.now();
  await victim.srv.stop();
  t.diagnostic(`${victim.name} stopped in ${Date.now() - stoppedAt} ms`);

  // REST goes on through nginx at once, on the survivor.
  const rest = await postJSON(nginx.baseUrl, "/lock", { project_id: p, file: "after-stop.jpg", user_id: "rest-after" });
  assert.equal(rest.status, 200, rest.text);

  // Every client is back, on the survivor.
  await waitFor(async () => {
    const sse = users.filter((u) => u.kind === "sse" && u.on === victim).every((u) => u.client.opens() >= 2);
    const ws = users.filter((u) => u.kind === "ws" && u.on === victim).every((u) => u.client.joins >= 2);
    return sse && ws && sio.joins >= 2 && sio.upgrades >= 2 && sio.socket.io.engine.transport.name === "websocket";
  }, { timeoutMs: GRACE_MS - 1000, what: "clients of the stopped instance reconnected through nginx" });
  const reconnectedIn = Date.now() - stoppedAt;
  t.diagnostic(`clients reconnected ${reconnectedIn} ms after the stop began`);
  assert.equal(await connections(survivor, "socketio"), 1);

  // Past the grace: every lock is still held, with its token; nothing was released.
  await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + GRACE_MS + 1500 - Date.now()))); // the grace itself must pass
  const st = await getStatus(nginx.baseUrl, p);
  for (const u of users) {
    const l = st.locks.find((x) => x.file === u.file);
    assert.ok(l, `${u.kind} ${u.user} lost ${u.file}`);
    assert.equal(l.user, u.user);
    assert.equal(l.token, u.token, `${u.user}'s token changed`);
  }
  const released = watcher.events.filter((e) => e.name === "lock_released");
  assert.deepEqual(released, [], "no lock may be released");

  // Events still reach everyone, across the proxy: a new lock is seen by
  // the watcher, the reconnected SSE and WebSocket clients and Socket.IO.
  const r = await postJSON(nginx.baseUrl, "/lock", { project_id: p, file: "final.jpg", user_id: "final-user" });
  assert.equal(r.status, 200);
  const seen = (events) => events.some((e) => e.name === "lock_acquired" && e.data.file === "final.jpg");
  await waitFor(() => seen(watcher.events) && seen(sio.events) && users.filter((u) => u.kind !== "socketio").every((u) => seen(u.client.events)),
    { what: "final lock_acquired at every client" });
  // No client missed or repeated an event across the reconnection.
  for (const u of users.filter((x) => x.kind === "sse")) {
    const ids = u.client.events.filter((e) => e.name !== "snapshot").map((e) => BigInt(e.data.event_id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${u.user} saw event ids out of order`);
  }
});

/** p-th percentile (0..100) of sorted numbers. */
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

test("latency nginx adds per event: REST lock → SSE event, direct vs through nginx", { timeout: 120000 }, async (t) => {
  // Both streams on one instance (the one nginx picked), so that they
  // differ only by the proxy.
  const p = project();
  const { client: proxied, on: server } = await openCounted("sse", async () => {
    const c = openSSE(`${nginx.baseUrl}/events/${p}`);
    await waitFor(() => c.events.length > 0, { what: "proxied snapshot" });
    return c;
  });
  const direct = openSSE(`${server.baseUrl}/events/${p}`);
  await waitFor(() => direct.events.length > 0, { what: "direct snapshot" });

  const N = 300;
  const d = [], n = [], diff = [], restDirect = [], restProxied = [], restStatusDirect = [];
  for (let i = 0; i < N; i++) {
    const file = `f${i % 2}.jpg`;
    const t0 = performance.now();
    const r = await postJSON(server.baseUrl, "/lock", { project_id: p, file, user_id: "lat", release_previous: true });
    restDirect.push(performance.now() - t0);
    assert.equal(r.status, 200);
    const token = r.body.lock.token;
    const find = (c) => c.events.find((e) => e.name === "lock_acquired" && e.data.token === token);
    const [a, b] = await waitFor(() => { const a = find(direct), b = find(proxied); return a && b ? [a, b] : null; }, { what: `event ${i}` });
    d.push(a.at - t0);
    n.push(b.at - t0);
    diff.push(b.at - a.at);
    // A REST round trip (GET /status) through nginx and direct, in turn.
    for (const [base, out] of [[nginx.baseUrl, restProxied], [server.baseUrl, restStatusDirect]]) {
      const t1 = performance.now();
      const s = await fetch(`${base}/status/${p}`);
      await s.text();
      out.push(performance.now() - t1);
    }
  }
  const sort = (xs) => [...xs].sort((x, y) => x - y);
  const fmt = (xs) => { const s = sort(xs); return { p50: +pct(s, 50).toFixed(3), p99: +pct(s, 99).toFixed(3) }; };
  const report = {
    events: N,
    lock_to_event_direct_ms: fmt(d),
    lock_to_event_via_nginx_ms: fmt(n),
    added_by_nginx_per_event_ms: fmt(diff),
    status_round_trip_direct_ms: fmt(restStatusDirect),
    status_round_trip_via_nginx_ms: fmt(restProxied),
  };
  t.diagnostic(`nginx latency: ${JSON.stringify(report)}`);
  console.log("nginx latency report:", JSON.stringify(report, null, 2));
  // Bounds for a loaded CI machine: the proxy must not buffer the stream.
  assert.ok(report.added_by_nginx_per_event_ms.p50 < 50, `nginx adds ${report.added_by_nginx_per_event_ms.p50} ms per event at p50`);
});
