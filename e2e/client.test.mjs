// filelock.js (web/filelock.js) in Node against a real filelockd, over each
// transport with the real client libraries (ws, eventsource,
// socket.io-client). Each `issue 10.N` test is a scenario of issue 10 that
// the client got wrong.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHTTP } from "node:http";
import { createServer as createTCP } from "node:net";
import { randomBytes } from "node:crypto";

import { freePort, getStatus, postJSON, startServer, waitFor } from "./lib/server.mjs";
import { mintJWT } from "./lib/jwt.mjs";
import { startProxy } from "./lib/proxy.mjs";
import { ERROR_CODES, FileLockError, TRANSPORTS, nodeClient, once, record, until } from "./lib/client.mjs";

let seq = 0;
const pid = (tag) => `js-${tag}-${process.pid}-${++seq}`;
const GRACE_MS = 2000;

let srv; // grace 2 s, min ttl 1 s
let proxy; // in front of srv
const clients = [];
const client = (o) => { const c = nodeClient({ baseUrl: srv.baseUrl, ...o }); clients.push(c); return c; };

before(async () => {
  srv = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: `${GRACE_MS / 1000}s`, FILELOCK_LOCK_MIN_TTL: "1s" } });
  proxy = await startProxy(srv.addr);
});
after(async () => {
  for (const c of clients) c.close();
  await proxy?.close();
  await srv?.stop();
});

const serverLock = async (project, file) => (await getStatus(srv.baseUrl, project)).locks.find((l) => l.file === file);

describe("basics", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: lock, events of others, release`, async () => {
      const project = pid(`basic-${transport}`);
      const alice = client({ userId: "alice", transport });
      const p = alice.project(project);
      await until(p, "open");
      assert.equal(alice.connection, "open");
      const h = await p.lock("images/a.jpg");
      assert.equal(h.file, "images/a.jpg");
      assert.equal(h.user, "alice");
      assert.equal(h.state, "held");
      assert.ok(h.expiresAt instanceof Date && h.expiresAt > Date.now());
      assert.equal(p.myLock()?.token, h.token);
      const again = await p.lock("images/a.jpg");
      assert.equal(again, h, "a renewed lock is the same handle");
      assert.equal(again.renewed, true);

      const res = await postJSON(srv.baseUrl, "/lock", { project_id: project, file: "images/b.jpg", user_id: "bob" });
      assert.equal(res.status, 200, res.text);
      await waitFor(() => p.lockOf("images/b.jpg")?.user === "bob", { what: "bob's lock in alice's map" });

      const refused = await p.lock("images/b.jpg").catch((e) => e);
      assert.ok(refused instanceof FileLockError);
      assert.equal(refused.code, "file_locked");
      assert.equal(refused.lock?.user, "bob");

      assert.equal(await h.release(), true);
      assert.equal(h.state, "released");
      assert.equal(p.myLock(), null);
      assert.equal(await serverLock(project, "images/a.jpg"), undefined);
    });
  }

  test("the documented client error codes", () => {
    for (const code of ["timeout", "aborted", "closed", "disconnected", "network_error", "token_error", "lock_lost"]) {
      assert.equal(typeof ERROR_CODES[code], "string", code);
    }
  });
});

describe("issue 10.1: a lock with a TTL under 30 s stays alive while connected", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: ttlSeconds 3 outlives three of its TTLs`, async () => {
      const project = pid(`ttl3-${transport}`);
      const c = client({ userId: "alice", transport, ttlSeconds: 3 });
      const p = c.project(project);
      const r = record(p);
      await until(p, "open");
      const h = await p.lock("f.jpg");
      assert.ok(h.heartbeatIntervalSeconds > 0 && h.heartbeatIntervalSeconds <= 1, `interval ${h.heartbeatIntervalSeconds}`);
      const firstExpiry = h.expiresAt.getTime();
      await waitFor(async () => Date.now() > firstExpiry + 6000, { timeoutMs: 15000, what: "two TTLs past the first expiry" });
      const l = await serverLock(project, "f.jpg");
      assert.equal(l?.token, h.token, "the lock expired");
      assert.deepEqual(r.lost, []);
      assert.equal(h.state, "held");
    });
  }

  // A server that answers the old fixed interval: the client must still
  // heartbeat from expires_at.
  test("scheduled from expires_at when the server says 30 s", async () => {
    const fake = await fakeServer({ ttlMs: 3000, interval: 30 });
    try {
      const c = nodeClient({ baseUrl: fake.baseUrl, userId: "alice", transport: "sse", autoConnect: false });
      clients.push(c);
      const h = await c.project("p").lock("f.jpg");
      await waitFor(() => fake.beats.length >= 4, { timeoutMs: 10000, what: "four heartbeats" });
      assert.equal(fake.expiredAt, null, `the lock expired at ${fake.expiredAt}`);
      assert.equal(h.state, "held");
      c.close();
    } finally { await fake.close(); }
  });
});

describe("issue 10.2: the fallback interval does not grow", () => {
  test("without heartbeat_interval_seconds, heartbeats keep a steady pace from expires_at", async () => {
    const fake = await fakeServer({ ttlMs: 6000, interval: 0 });
    try {
      const c = nodeClient({ baseUrl: fake.baseUrl, userId: "alice", transport: "sse", autoConnect: false });
      clients.push(c);
      await c.project("p").lock("f.jpg");
      await waitFor(() => fake.beats.length >= 5, { timeoutMs: 20000, what: "five heartbeats" });
      const gaps = fake.beats.map((t, i) => t - (i ? fake.beats[i - 1] : fake.lockedAt));
      assert.equal(fake.expiredAt, null, `the lock expired; gaps ${gaps}`);
      for (const g of gaps) assert.ok(g < 3000, `a gap of ${g} ms (gaps ${gaps})`);
      assert.ok(Math.max(...gaps) - Math.min(...gaps) < 1000, `gaps grow: ${gaps}`);
      c.close();
    } finally { await fake.close(); }
  });
});

describe("issue 10.3: a rejoin snapshot keeps other users' locks", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: alice cut off past the grace, bob takes her file; alice's map says bob`, async () => {
      const project = pid(`rejoin-${transport}`);
      const file = "images/x.jpg";
      const alice = nodeClient({ baseUrl: proxy.baseUrl, userId: "alice", transport });
      clients.push(alice);
      const p = alice.project(project);
      const r = record(p);
      await until(p, "open");
      const h = await p.lock(file);
      proxy.cut();
      try {
        await waitFor(async () => !(await serverLock(project, file)), { timeoutMs: GRACE_MS + 8000, what: "alice's lock released after the grace" });
        const res = await postJSON(srv.baseUrl, "/lock", { project_id: project, file, user_id: "bob" });
        assert.equal(res.status, 200, res.text);
      } finally { proxy.restore(); }
      await waitFor(() => p.connection === "open" && p.lockOf(file)?.user === "bob", { timeoutMs: 15000, what: "bob's lock in alice's map after the rejoin" });
      await waitFor(() => r.lost.length === 1, { timeoutMs: 5000, what: "alice's lockLost" });
      assert.equal(r.lost[0].file, file);
      assert.equal(r.lost[0].lock.token, h.token);
      assert.equal(h.state, "lost");
      // Another event later: still bob, still one loss.
      await postJSON(srv.baseUrl, "/lock", { project_id: project, file: "images/y.jpg", user_id: "carol" });
      await waitFor(() => p.lockOf("images/y.jpg")?.user === "carol", { what: "carol's lock" });
      assert.equal(p.lockOf(file)?.user, "bob");
      assert.equal(r.lost.length, 1);
      alice.close();
    });
  }
});

describe("issue 10.3: a rejoin snapshot (history gone) keeps other users' locks", () => {
  let small; // events.history 3: a resume after a handful of events gets a snapshot
  let px;
  before(async () => {
    small = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: `${GRACE_MS / 1000}s`, FILELOCK_EVENTS_HISTORY: "3" } });
    px = await startProxy(small.addr);
  });
  after(async () => { await px?.close(); await small?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`${transport}: the resume falls back to a snapshot; bob's lock stays, alice's loss is told once`, async () => {
      const project = pid(`snap-${transport}`);
      const file = "images/x.jpg";
      const alice = nodeClient({ baseUrl: px.baseUrl, userId: "alice", transport });
      clients.push(alice);
      const p = alice.project(project);
      const r = record(p);
      await until(p, "open");
      const h = await p.lock(file);
      px.cut();
      try {
        await waitFor(async () => !(await getStatus(small.baseUrl, project)).locks.some((l) => l.user === "alice"),
          { timeoutMs: GRACE_MS + 8000, what: "alice's lock released after the grace" });
        assert.equal((await postJSON(small.baseUrl, "/lock", { project_id: project, file, user_id: "bob" })).status, 200);
        for (let i = 0; i < 4; i++) { // push alice's last event out of the history
          assert.equal((await postJSON(small.baseUrl, "/lock", { project_id: project, file: `f${i}.jpg`, user_id: `u${i}` })).status, 200);
        }
      } finally { px.restore(); }
      await waitFor(() => r.events.filter((e) => e.name === "snapshot").length === 2, { timeoutMs: 15000, what: "the rejoin's snapshot" });
      assert.equal(p.lockOf(file)?.user, "bob", "the snapshot's lock of bob was dropped");
      assert.deepEqual([...p.locks.keys()].sort(), ["f0.jpg", "f1.jpg", "f2.jpg", "f3.jpg", file].sort());
      await waitFor(() => r.lost.length === 1, { timeoutMs: 5000, what: "alice's lockLost" });
      assert.equal(r.lost[0].lock.token, h.token);
      assert.equal(h.state, "lost");
      await postJSON(small.baseUrl, "/lock", { project_id: project, file: "later.jpg", user_id: "carol" });
      await waitFor(() => p.lockOf("later.jpg")?.user === "carol", { what: "a later event" });
      assert.equal(p.lockOf(file)?.user, "bob");
      assert.equal(r.lost.length, 1);
      alice.close();
    });
  }
});

describe("issue 10.4: refused connections fail with their code", () => {
  const secret = randomBytes(24).toString("hex");
  let jwtSrv;
  before(async () => {
    jwtSrv = await startServer({ env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: secret } });
  });
  after(async () => { await jwtSrv?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`${transport}: a token without the project → project failed (forbidden); lock() rejects forbidden`, async () => {
      const token = mintJWT(secret, { sub: "alice", projects: ["other"] });
      const c = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "alice", transport, token });
      clients.push(c);
      const p = c.project("secret-project");
      const r = record(p);
      await until(p, "failed", 8000);
      assert.equal(p.error?.code, "forbidden");
      const started = Date.now();
      const err = await p.lock("a.jpg").catch((e) => e);
      assert.equal(err.code, "forbidden");
      assert.ok(Date.now() - started < 3000, `lock() took ${Date.now() - started} ms`);
      assert.ok(r.errors.includes("forbidden"));
      // It stays failed (no retry loop).
      await new Promise((res) => setTimeout(res, 1500)); // nothing may happen meanwhile
      assert.equal(p.connection, "failed");
      c.close();
    });

    test(`${transport}: a refused token → client failed (unauthorized), the process lives on`, async () => {
      const c = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "alice", transport, token: "not-a-jwt" });
      clients.push(c);
      const p = c.project("p1");
      await until(p, "failed", 8000);
      assert.equal(p.error?.code, "unauthorized");
      const err = await p.lock("a.jpg").catch((e) => e);
      assert.equal(err.code, "unauthorized");
      c.close();
    });
  }

  for (const transport of TRANSPORTS) {
    test(`${transport}: a refused first token, two projects: one fresh token serves both`, async () => {
      let calls = 0;
      const token = () => (++calls === 1 ? mintJWT("another-secret-that-is-long-enough-32b", { sub: "alice", projects: ["*"] })
        : mintJWT(secret, { sub: "alice", projects: ["*"] }));
      const c = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "alice", transport, token });
      clients.push(c);
      const [a, b] = [c.project("two-a"), c.project("two-b")];
      await until(a, "open", 8000);
      await until(b, "open", 8000);
      assert.equal(calls, 2);
      c.close();
    });
  }

  test("a token function whose fresh token is refused too fails after one retry", async () => {
    let calls = 0;
    const c = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "alice", transport: "ws", token: () => { calls++; return "bad.token.here"; } });
    clients.push(c);
    const p = c.project("p1");
    await until(p, "failed", 8000);
    assert.equal(p.error?.code, "unauthorized");
    assert.equal(calls, 2);
    c.close();
  });
});

describe("issue 10.5: a late reply does not clear a loss", () => {
  test("sse: /lock answered after the admin's force-unlock → lock_lost, lockLost once, no lock shown", async () => {
    const project = pid("late");
    const file = "images/late.jpg";
    let release;
    const held = new Promise((res) => { release = res; });
    const slowFetch = async (url, init) => {
      const res = await fetch(url, init);
      if (String(url).endsWith("/lock")) await held; // the reply waits until the force-unlock was seen
      return res;
    };
    const c = client({ userId: "alice", transport: "sse", fetch: slowFetch });
    const p = c.project(project);
    const r = record(p);
    await until(p, "open");
    const pending = p.lock(file).catch((e) => e);
    await waitFor(async () => (await serverLock(project, file))?.user === "alice", { what: "the lock on the server" });
    const res = await postJSON(srv.baseUrl, "/unlock", { project_id: project, file, user_id: "admin", force: true });
    assert.equal(res.status, 200, res.text);
    await waitFor(() => r.events.some((e) => e.name === "lock_released" && e.reason === "forced"), { what: "the forced release event" });
    release();
    const err = await pending;
    assert.ok(err instanceof FileLockError, `lock() resolved: ${JSON.stringify(err && err.lock)}`);
    assert.equal(err.code, "lock_lost");
    assert.equal(err.reason, "forced");
    assert.equal(p.myLock(), null);
    assert.equal(p.handle, null);
    assert.equal(r.lost.length, 1);
    assert.equal(r.lost[0].reason, "forced");
    assert.equal(p.lost?.reason, "forced");
  });
});

describe("issue 10.6: heartbeats get through a network cut", () => {
  let srv10; // default grace (10 s): a 4.6 s cut keeps the connection's lock
  let px;
  before(async () => {
    srv10 = await startServer({ env: { FILELOCK_LOCK_MIN_TTL: "1s" } });
    px = await startProxy(srv10.addr);
  });
  after(async () => { await px?.close(); await srv10?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`${transport}: TTL 6 s, 4.6 s without network, the lock survives`, async () => {
      const project = pid(`cut-${transport}`);
      const c = nodeClient({ baseUrl: px.baseUrl, userId: "alice", transport, ttlSeconds: 6 });
      clients.push(c);
      const p = c.project(project);
      const r = record(p);
      await until(p, "open");
      const h = await p.lock("f.jpg");
      const first = h.expiresAt.getTime();
      await waitFor(() => h.expiresAt.getTime() > first, { timeoutMs: 5000, what: "a first heartbeat" });
      px.cut();
      await new Promise((res) => setTimeout(res, 4600)); // the cut itself
      px.restore();
      const back = Date.now();
      await waitFor(() => Date.now() > back + 8000, { timeoutMs: 12000, what: "8 s after the network came back" });
      const l = (await getStatus(srv10.baseUrl, project)).locks[0];
      assert.equal(l?.token, h.token, "the lock was lost");
      assert.equal(h.state, "held");
      assert.deepEqual(r.lost, []);
      c.close();
    });
  }
});

describe("issue 10.7: every command has a deadline", () => {
  let hole; // accepts connections, never answers
  let holeUrl;
  before(async () => {
    const sockets = new Set();
    hole = createTCP((s) => { sockets.add(s); s.on("error", () => {}); });
    hole.sockets = sockets;
    await new Promise((res) => hole.listen(0, "127.0.0.1", res));
    holeUrl = `http://127.0.0.1:${hole.address().port}`;
  });
  after(async () => { for (const s of hole.sockets) s.destroy(); await new Promise((res) => hole.close(res)); });

  test("sse: a REST command with no answer rejects with timeout", async () => {
    const c = nodeClient({ baseUrl: holeUrl, userId: "alice", transport: "sse", autoConnect: false, timeoutMs: 1000 });
    clients.push(c);
    const started = Date.now();
    const err = await c.project("p").lock("a.jpg").catch((e) => e);
    assert.equal(err.code, "timeout");
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
    c.close();
  });

  test("an AbortSignal aborts a command", async () => {
    const c = nodeClient({ baseUrl: holeUrl, userId: "alice", transport: "sse", autoConnect: false });
    clients.push(c);
    const ctl = new AbortController();
    const pending = c.project("p").lock("a.jpg", { signal: ctl.signal }).catch((e) => e);
    setTimeout(() => ctl.abort(), 100);
    assert.equal((await pending).code, "aborted");
    c.close();
  });

  for (const transport of ["ws", "socketio"]) {
    test(`${transport}: a command while the connection never opens rejects with timeout`, async () => {
      const c = nodeClient({ baseUrl: holeUrl, userId: "alice", transport, timeoutMs: 1000 });
      clients.push(c);
      const err = await c.project("p").lock("a.jpg", { timeoutMs: 800 }).catch((e) => e);
      assert.equal(err.code, "timeout");
      c.close();
    });
  }

  test("issue 10.8: close() rejects a waiting command with closed at once", async () => {
    const c = nodeClient({ baseUrl: holeUrl, userId: "alice", transport: "ws" });
    clients.push(c);
    const pending = c.project("p").lock("a.jpg").catch((e) => e);
    await new Promise((res) => setTimeout(res, 200));
    const closedAt = Date.now();
    c.close();
    const err = await pending;
    assert.equal(err.code, "closed");
    assert.ok(Date.now() - closedAt < 500);
    assert.equal(c.connection, "closed");
  });
});

describe("issue 10.8: the smaller ones", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: a forced release is reported once with the whole lock`, async () => {
      const project = pid(`forced-${transport}`);
      const c = client({ userId: "alice", transport });
      const p = c.project(project);
      const r = record(p);
      const fromClient = [];
      c.on("lockLost", (info) => fromClient.push(info));
      await until(p, "open");
      const h = await p.lock("f.jpg");
      const res = await postJSON(srv.baseUrl, "/unlock", { project_id: project, file: "f.jpg", user_id: "admin", force: true });
      assert.equal(res.status, 200, res.text);
      const info = await h.lost;
      assert.equal(info.reason, "forced");
      assert.equal(info.lock.token, h.token);
      assert.equal(info.lock.acquired_at, h.lock.acquired_at);
      assert.ok(info.lock.expires_at, "lost.lock has expires_at");
      assert.equal(info.projectId, project);
      assert.equal(r.lost.length, 1);
      assert.equal(fromClient.length, 1);
      assert.equal(p.myLock(), null);
      assert.equal(h.state, "lost");
    });

    test(`${transport}: a switch made by another tab of the same user is reported as switched`, async () => {
      const project = pid(`switch-${transport}`);
      const tab1 = client({ userId: "alice", transport });
      const tab2 = client({ userId: "alice", transport });
      const p1 = tab1.project(project);
      const p2 = tab2.project(project);
      await until(p1, "open");
      await until(p2, "open");
      const h1 = await p1.lock("one.jpg");
      const r1 = record(p1);
      const r2 = record(p2);
      await waitFor(() => p2.lockOf("one.jpg")?.user === "alice", { what: "tab 2 sees the lock" });
      const h2 = await p2.lock("two.jpg", { releasePrevious: true });
      assert.equal(h2.released?.file, "one.jpg");
      const info = await h1.lost;
      assert.equal(info.reason, "switched");
      assert.equal(r1.lost.length, 1);
      // The tab that switched lost nothing; both maps show the new lock.
      assert.equal(h2.state, "held");
      assert.deepEqual(r2.lost, []);
      await waitFor(() => p1.myLock()?.file === "two.jpg", { what: "tab 1's map" });
      assert.equal(p2.myLock()?.file, "two.jpg");
    });

    test(`${transport}: release_previous from this client is not a loss`, async () => {
      const project = pid(`own-switch-${transport}`);
      const c = client({ userId: "alice", transport });
      const p = c.project(project);
      const r = record(p);
      await until(p, "open");
      const a = await p.lock("a.jpg");
      const b = await p.lock("b.jpg", { releasePrevious: true });
      assert.equal(a.state, "released");
      assert.equal(b.released?.token, a.token);
      await waitFor(() => r.events.some((e) => e.name === "lock_acquired" && e.file === "b.jpg"), { what: "the new lock's event" });
      assert.deepEqual(r.lost, []);
    });
  }

  test("a heartbeat answered not_locked after a server restart says unknown, not expired", async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    let s = await startServer({ env: { FILELOCK_HTTP_ADDR: addr } });
    try {
      const c = nodeClient({ baseUrl: s.baseUrl, userId: "alice", transport: "sse", autoConnect: false, autoHeartbeat: false });
      clients.push(c);
      const p = c.project("restart");
      const h = await p.lock("f.jpg", { ttlSeconds: 60 });
      await s.stop();
      s = await startServer({ env: { FILELOCK_HTTP_ADDR: addr } });
      const err = await h.heartbeat().catch((e) => e);
      assert.equal(err.code, "not_locked");
      const info = await h.lost;
      assert.equal(info.reason, "unknown");
      c.close();
    } finally { await s.stop(); }
  });
});

describe("tokens refreshed ahead of exp", () => {
  const secret = randomBytes(24).toString("hex");
  let jwtSrv;
  before(async () => {
    jwtSrv = await startServer({
      env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: secret, FILELOCK_AUTH_JWT_LEEWAY: "1s" },
    });
  });
  after(async () => { await jwtSrv?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`${transport}: 4 s tokens, 10 s connected: no drop, no user_left, same lock`, async () => {
      const project = pid(`refresh-${transport}`);
      const minted = [];
      const token = () => {
        const t = mintJWT(secret, { sub: "alice", projects: [project], iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 4 });
        minted.push(t);
        return t;
      };
      const watcher = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "watcher", transport: "sse", token: mintJWT(secret, { sub: "watcher", projects: [project] }) });
      clients.push(watcher);
      const w = record(watcher.project(project));
      await until(watcher.project(project), "open");
      const c = nodeClient({ baseUrl: jwtSrv.baseUrl, userId: "alice", transport, token });
      clients.push(c);
      const p = c.project(project);
      const r = record(p);
      const states = [];
      c.on("state", (s) => states.push(s));
      await until(p, "open");
      const h = await p.lock("f.jpg");
      await waitFor(() => minted.length >= 4, { timeoutMs: 15000, what: "three refreshes" });
      assert.deepEqual(states.filter((s) => s !== "open"), [], "the connection dropped");
      assert.deepEqual(r.states.filter((s) => s !== "open"), [], "the project dropped");
      assert.deepEqual(w.events.filter((e) => e.name === "user_left" && e.user === "alice"), []);
      assert.equal(h.state, "held");
      // Still live: a command and an event on the refreshed connection.
      await p.heartbeat();
      const res = await postJSON(jwtSrv.baseUrl, "/lock", { project_id: project, file: "g.jpg", user_id: "bob" },
        { Authorization: `Bearer ${mintJWT(secret, { sub: "bob", projects: [project] })}` });
      assert.equal(res.status, 200, res.text);
      await waitFor(() => p.lockOf("g.jpg")?.user === "bob", { what: "bob's lock after the refreshes" });
      c.close();
      watcher.close();
    });
  }
});

describe("API keys", () => {
  const key = "k-" + randomBytes(12).toString("hex");
  let keySrv;
  before(async () => {
    keySrv = await startServer({
      env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: randomBytes(24).toString("hex"), FILELOCK_AUTH_API_KEYS: key },
    });
  });
  after(async () => { await keySrv?.stop(); });

  for (const transport of TRANSPORTS) {
    test(`${transport}: headers carry X-API-Key`, async () => {
      const c = nodeClient({ baseUrl: keySrv.baseUrl, userId: "backend", transport, headers: { "X-API-Key": key } });
      clients.push(c);
      const p = c.project(pid(`key-${transport}`));
      await until(p, "open");
      const h = await p.lock("f.jpg");
      assert.equal(h.user, "backend");
      await h.release();
      c.close();
    });
  }
});

describe("one connection for many projects", () => {
  for (const transport of ["ws", "socketio"]) {
    test(`${transport}: two projects, one connection, each its own map`, async () => {
      const a = pid(`multi-a-${transport}`);
      const b = pid(`multi-b-${transport}`);
      const c = client({ userId: "alice", transport });
      const pa = c.project(a);
      const pb = c.project(b);
      assert.equal(c.project(a), pa, "project(id) is one subscription per id");
      await until(pa, "open");
      await until(pb, "open");
      const ha = await pa.lock("f.jpg");
      const hb = await pb.lock("f.jpg");
      assert.equal(ha.projectId, a);
      assert.equal(hb.projectId, b);
      await postJSON(srv.baseUrl, "/lock", { project_id: b, file: "g.jpg", user_id: "bob" });
      await waitFor(() => pb.lockOf("g.jpg")?.user === "bob", { what: "bob in project b" });
      assert.equal(pa.lockOf("g.jpg"), null);
      assert.deepEqual([...pa.locks.keys()], ["f.jpg"]);
      pb.close();
      assert.equal(pb.connection, "closed");
      await waitFor(async () => !(await getStatus(srv.baseUrl, b)).users.includes("alice"), { what: "alice to leave b" });
      assert.ok((await getStatus(srv.baseUrl, a)).users.includes("alice"));
    });
  }
});

// ---- a fake server for the scheduling tests (an older server's answers) ----

/**
 * An HTTP server answering /lock and /heartbeat as a server would that says
 * heartbeat_interval_seconds = interval (0: not at all) and never moves
 * acquired_at. beats: the times of the heartbeats; expiredAt: when a
 * heartbeat came after the lock's expiry (null while it never did).
 */
async function fakeServer({ ttlMs, interval }) {
  const state = { beats: [], lockedAt: 0, expiresAt: 0, expiredAt: null };
  const lock = () => ({
    project_id: "p", file: "f.jpg", user: "alice", token: 7,
    acquired_at: new Date(state.lockedAt).toISOString(), expires_at: new Date(state.expiresAt).toISOString(),
  });
  const server = createHTTP((req, res) => {
    let body = "";
    req.on("data", (c) => { body += c; });
    req.on("end", () => {
      const now = Date.now();
      const send = (status, obj) => { res.writeHead(status, { "Content-Type": "application/json" }); res.end(JSON.stringify(obj)); };
      const extra = interval ? { heartbeat_interval_seconds: interval } : {};
      if (req.url === "/lock") {
        state.lockedAt = now; state.expiresAt = now + ttlMs;
        send(200, { acquired: true, renewed: false, lock: lock(), ...extra });
      } else if (req.url === "/heartbeat") {
        if (now > state.expiresAt) { state.expiredAt ??= now; send(404, { error: { code: "not_locked", message: "no lock" } }); return; }
        state.beats.push(now);
        state.expiresAt = now + ttlMs;
        send(200, { lock: lock(), ...extra });
      } else send(404, { error: { code: "not_found", message: "no route" } });
    });
  });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((res) => { server.closeAllConnections?.(); server.close(() => res()); }),
  });
}

describe("claim", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: the first free file of the list, renewed when asked again, none_free when all are held`, async () => {
      const project = pid(`claim-${transport}`);
      const files = ["images/1.jpg", "images/2.jpg", "images/3.jpg"];
      const c = client({ userId: "alice", transport });
      const p = c.project(project);
      const r = record(p);
      await until(p, "open");
      assert.equal((await postJSON(srv.baseUrl, "/lock", { project_id: project, file: files[0], user_id: "bob" })).status, 200);
      const h = await p.claim(files);
      assert.equal(h.file, files[1]);
      assert.equal(h.state, "held");
      assert.equal(p.myLock()?.file, files[1]);
      const again = await p.claim(files);
      assert.equal(again, h);
      assert.equal(again.renewed, true);
      // Next image: bob's and alice's files taken, the third is next; alice's previous one is switched, not lost.
      assert.equal((await postJSON(srv.baseUrl, "/lock", { project_id: project, file: files[2], user_id: "carol" })).status, 200);
      const none = await p.claim([files[0], files[2]]).catch((e) => e);
      assert.equal(none.code, "none_free");
      assert.equal(h.state, "held", "none_free changes nothing");
      const next = await p.claim([files[0], "images/4.jpg"]);
      assert.equal(next.file, "images/4.jpg");
      assert.equal(next.released?.file, files[1]);
      assert.equal(h.state, "released");
      await waitFor(() => r.events.some((e) => e.name === "lock_acquired" && e.file === "images/4.jpg"), { what: "the claim's event" });
      assert.deepEqual(r.lost, []);
    });
  }
});

describe("a reconnect replays instead of snapshotting", () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: a short cut, events missed meanwhile are replayed, no second snapshot`, async () => {
      const project = pid(`resume-${transport}`);
      const alice = nodeClient({ baseUrl: proxy.baseUrl, userId: "alice", transport });
      clients.push(alice);
      const p = alice.project(project);
      const r = record(p);
      await until(p, "open");
      const h = await p.lock("mine.jpg");
      proxy.cut();
      try {
        await waitFor(() => p.connection === "reconnecting", { timeoutMs: 5000, what: "alice to notice the cut" });
        const res = await postJSON(srv.baseUrl, "/lock", { project_id: project, file: "bob.jpg", user_id: "bob" });
        assert.equal(res.status, 200, res.text);
      } finally { proxy.restore(); }
      await until(p, "open", 10000);
      await waitFor(() => p.lockOf("bob.jpg")?.user === "bob", { timeoutMs: 5000, what: "bob's lock replayed" });
      assert.equal(r.events.filter((e) => e.name === "snapshot").length, 1, "a second snapshot was sent on the rejoin");
      assert.ok(r.events.some((e) => e.name === "lock_acquired" && e.user === "bob"));
      assert.equal(h.state, "held");
      assert.equal((await serverLock(project, "mine.jpg"))?.token, h.token);
      alice.close();
    });
  }
});

describe("control", () => {
  test("autoHeartbeat: false sends no heartbeat; the expiry is reported as expired", async () => {
    const project = pid("nohb");
    const c = client({ userId: "alice", transport: "ws", autoHeartbeat: false });
    const p = c.project(project);
    await until(p, "open");
    const h = await p.lock("f.jpg", { ttlSeconds: 2 });
    const expiry = h.expiresAt.getTime();
    const info = await h.lost;
    assert.equal(info.reason, "expired");
    assert.ok(Date.now() >= expiry - 100, "lost before its expiry");
    assert.equal(Date.parse(info.lock.expires_at), expiry, "a heartbeat moved it");
  });

  test("ws: an AbortSignal aborts a command waiting for its reply", async () => {
    const c = client({ userId: "alice", transport: "ws" });
    const p = c.project(pid("abort"));
    await until(p, "open");
    const err = await p.lock("f.jpg", { signal: AbortSignal.abort() }).catch((e) => e);
    assert.equal(err.code, "aborted");
  });

  for (const transport of ["ws", "socketio"]) {
    test(`${transport}: past limits.max_projects_per_connection one project fails (rate_limited), the others live`, async () => {
      const limited = await startServer({ env: { FILELOCK_LIMITS_MAX_PROJECTS_PER_CONNECTION: "2" } });
      try {
        const c = nodeClient({ baseUrl: limited.baseUrl, userId: "alice", transport });
        clients.push(c);
        const [a, b] = [c.project(pid("lim-a")), c.project(pid("lim-b"))];
        await until(a, "open");
        await until(b, "open");
        const third = c.project(pid("lim-c"));
        await until(third, "failed");
        assert.equal(third.error.code, "rate_limited");
        assert.equal((await third.lock("f.jpg").catch((e) => e)).code, "rate_limited");
        const h = await a.lock("f.jpg");
        assert.equal(h.state, "held");
        assert.equal(c.connection, "open");
        // Room again: connect() joins the failed project anew.
        b.close();
        c.connect();
        await until(third, "open");
        c.close();
      } finally { await limited.stop(); }
    });
  }
});
