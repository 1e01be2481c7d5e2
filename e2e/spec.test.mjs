// Acceptance tests of the public contract (SPEC.md), black box: a real
// filelockd and real clients only — fetch, a raw streaming reader for SSE,
// the eventsource package, a raw WebSocket (`ws`, the WebSocket package
// socket.io-client itself depends on) and socket.io-client 4.x. Each test
// names the SPEC section it checks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import { EventSource } from "eventsource";
import WebSocket from "ws";
import { startServer, buildServer, postJSON, getStatus, waitFor, freePort } from "./lib/server.mjs";

// ---------------------------------------------------------------- helpers

const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LOCK_KEYS = ["acquired_at", "expires_at", "file", "project_id", "token", "user"];
const EVENT_NAMES = ["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"];

let seq = 0;
const project = (tag = "p") => `spec-${tag}-${process.pid}-${++seq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asserts that l is a Lock object of SPEC §1, with exactly its fields. */
function assertLock(l, want = {}) {
  assert.ok(l && typeof l === "object", `lock: ${JSON.stringify(l)}`);
  assert.deepEqual(Object.keys(l).sort(), LOCK_KEYS);
  assert.equal(typeof l.token, "number");
  assert.ok(Number.isSafeInteger(l.token) && l.token > 0, `token ${l.token}`);
  assert.match(l.acquired_at, TIME_RE);
  assert.match(l.expires_at, TIME_RE);
  for (const [k, v] of Object.entries(want)) assert.equal(l[k], v, k);
}

/** Asserts an error response of SPEC §3. */
function assertError(res, status, code, field) {
  assert.equal(res.status, status, `status of ${res.text}`);
  assert.ok(res.body && res.body.error, `error body: ${res.text}`);
  assert.equal(res.body.error.code, code, res.text);
  assert.equal(typeof res.body.error.message, "string");
  assert.ok(res.body.error.message.length > 0);
  if (field !== undefined) assert.equal(res.body.error.field, field, res.text);
}

const lockTTL = (l) => Date.parse(l.expires_at) - Date.parse(l.acquired_at);

/** GETs path; resolves with {status, headers, body, text}. */
async function getJSON(base, path, headers = {}) {
  const res = await fetch(base + path, { headers });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, text };
}

/**
 * Opens a raw SSE stream with fetch and parses it as it arrives.
 * frames: [{id, event, data (parsed)}]; raw(): the text so far.
 */
async function openSSE(url, headers = {}) {
  const ctl = new AbortController();
  const res = await fetch(url, { headers: { Accept: "text/event-stream", ...headers }, signal: ctl.signal });
  const s = { res, frames: [], comments: [], text: "", done: false, close: () => ctl.abort() };
  if (res.status !== 200) {
    s.body = await res.text();
    return s;
  }
  (async () => {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of res.body) {
        const t = dec.decode(chunk, { stream: true });
        s.text += t;
        buf += t;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) { s.comments.push(line); continue; }
            const c = line.indexOf(":");
            const k = c < 0 ? line : line.slice(0, c);
            const v = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
            if (k === "data") f.data = f.data === undefined ? v : f.data + "\n" + v;
            else f[k] = v;
          }
          if (f.data !== undefined) f.data = JSON.parse(f.data);
          if (f.event) s.frames.push(f);
        }
      }
    } catch { /* aborted */ }
    s.done = true;
  })();
  return s;
}

/** A raw WebSocket client: msgs holds every frame received (parsed). */
async function openWS(base, query = "") {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws" + query);
  const c = { ws, msgs: [], refs: 0, closed: null };
  ws.on("message", (d) => c.msgs.push(JSON.parse(d.toString())));
  ws.on("close", (code) => { c.closed = code; });
  await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
  c.send = (event, data, ref) => ws.send(JSON.stringify(ref === undefined ? { event, data } : { event, data, ref }));
  /** Sends with a fresh ref and resolves with the reply's data. */
  c.call = async (event, data) => {
    const ref = `r${++c.refs}`;
    c.send(event, data, ref);
    const m = await waitFor(() => c.msgs.find((x) => x.event === "reply" && x.ref === ref), { what: `reply to ${event}` });
    return m.data;
  };
  c.events = (name) => c.msgs.filter((m) => m.event === name);
  c.close = () => ws.close();
  return c;
}

/** Connects socket.io-client; events records every server event. */
async function openSIO(base, opts = {}) {
  const socket = io(base, { reconnection: false, forceNew: true, ...opts });
  const events = [];
  socket.onAny((name, data) => events.push({ name, data }));
  await new Promise((res, rej) => { socket.once("connect", res); socket.once("connect_error", rej); });
  return { socket, events, call: (name, data) => new Promise((res) => socket.emit(name, data, res)) };
}

/** An HS256 JWT. */
function mintJWT(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

/** Runs filelockd expecting it to refuse to start; resolves with {code, output}. */
async function runExpectingFailure(env, args = []) {
  const bin = await buildServer();
  return new Promise((res) => {
    const child = spawn(bin, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, FILELOCK_HTTP_ADDR: "127.0.0.1:0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => { output += d; });
    child.stderr.on("data", (d) => { output += d; });
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.on("exit", (code, signal) => { clearTimeout(timer); res({ code, signal, output }); });
  });
}

// ---------------------------------------------------- the main server

let srv; // memory store, short disconnect grace, 1 s keepalive
before(async () => {
  srv = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: "500ms", FILELOCK_SSE_KEEPALIVE: "1s" } });
});
after(async () => { await srv?.stop(); });

// ------------------------------------------------------------- §1, §3 REST

test("§3 /lock: acquire, renew keeps token, file_locked, user_has_lock, release_previous", async () => {
  const p = project("lock");
  const a = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "user1" });
  assert.equal(a.status, 200, a.text);
  assert.equal(a.body.acquired, true);
  assert.equal(a.body.renewed, false);
  assert.equal(a.body.heartbeat_interval_seconds, 30);
  assert.equal("released" in a.body, false, "no released without release_previous");
  assertLock(a.body.lock, { project_id: p, file: "a.jpg", user: "user1" });
  assert.equal(lockTTL(a.body.lock), 90_000, "default lock.ttl is 90 s");

  const r = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "user1" });
  assert.equal(r.status, 200);
  assert.equal(r.body.renewed, true);
  assert.equal(r.body.lock.token, a.body.lock.token, "renew keeps the token");
  assert.ok(Date.parse(r.body.lock.expires_at) >= Date.parse(a.body.lock.expires_at));

  const other = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "user2" });
  assertError(other, 409, "file_locked");
  assertLock(other.body.lock, { file: "a.jpg", user: "user1", token: a.body.lock.token });

  const second = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "user1" });
  assertError(second, 409, "user_has_lock");
  assertLock(second.body.lock, { file: "a.jpg", user: "user1" });

  // release_previous onto a file someone else holds: neither happens.
  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "c.jpg", user_id: "user2" });
  const blocked = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "c.jpg", user_id: "user1", release_previous: true });
  assertError(blocked, 409, "file_locked");
  assert.deepEqual((await getStatus(srv.baseUrl, p)).locks.map((l) => [l.file, l.user]), [["a.jpg", "user1"], ["c.jpg", "user2"]]);

  const sw = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "user1", release_previous: true });
  assert.equal(sw.status, 200, sw.text);
  assert.equal(sw.body.renewed, false);
  assertLock(sw.body.lock, { file: "b.jpg", user: "user1" });
  assertLock(sw.body.released, { file: "a.jpg", user: "user1", token: a.body.lock.token });
  assert.ok(sw.body.lock.token > a.body.lock.token, "fencing token strictly increases");

  // Another project's tokens and locks are its own business (I2 is per project).
  const q = await postJSON(srv.baseUrl, "/lock", { project_id: project("lock2"), file: "b.jpg", user_id: "user1" });
  assert.equal(q.status, 200);
});

test("§3 /unlock: not_owner, stale_token, not_locked, token, force; /heartbeat", async () => {
  const p = project("unlock");
  const a = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "f.png", user_id: "u1" });
  const tok = a.body.lock.token;

  assertError(await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "f.png", user_id: "u2" }), 403, "not_owner");
  const no = await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "f.png", user_id: "u2" });
  assertLock(no.body.lock, { user: "u1", token: tok });
  const stale = await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "f.png", user_id: "u1", token: tok - 1 });
  assertError(stale, 409, "stale_token");
  assertError(await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "zz", user_id: "u1" }), 404, "not_locked");

  const hb = await postJSON(srv.baseUrl, "/heartbeat", { project_id: p, user_id: "u1" });
  assert.equal(hb.status, 200, hb.text);
  assert.deepEqual(Object.keys(hb.body).sort(), ["heartbeat_interval_seconds", "lock"]);
  assert.equal(hb.body.heartbeat_interval_seconds, 30);
  assertLock(hb.body.lock, { file: "f.png", token: tok });
  assertError(await postJSON(srv.baseUrl, "/heartbeat", { project_id: p, user_id: "u2" }), 404, "not_locked");

  const ok = await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "f.png", user_id: "u1", token: tok });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.released, true);
  assertLock(ok.body.lock, { file: "f.png", user: "u1", token: tok });

  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "g.png", user_id: "u3" });
  const forced = await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "g.png", user_id: "admin", force: true });
  assert.equal(forced.status, 200, forced.text);
  assert.equal(forced.body.lock.user, "u3");
  assert.deepEqual((await getStatus(srv.baseUrl, p)).locks, []);
});

test("§3 ttl_seconds is clamped to [lock.min_ttl, lock.max_ttl] (5 s, 1 h)", async () => {
  const p = project("ttl");
  const lo = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "lo", user_id: "a", ttl_seconds: 1 });
  assert.equal(lo.status, 200, lo.text);
  assert.equal(lockTTL(lo.body.lock), 5_000);
  const hi = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "hi", user_id: "b", ttl_seconds: 1e6 });
  assert.equal(hi.status, 200, hi.text);
  assert.equal(lockTTL(hi.body.lock), 3_600_000);
  const mid = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "mid", user_id: "c", ttl_seconds: 60 });
  assert.equal(lockTTL(mid.body.lock), 60_000);
});

test("§3 /status: sorted locks and users, last_event_id, server_time", async () => {
  const p = project("status");
  const empty = await getJSON(srv.baseUrl, `/status/${p}`);
  assert.equal(empty.status, 200);
  assert.deepEqual(Object.keys(empty.body).sort(), ["last_event_id", "locks", "project_id", "server_time", "users"]);
  assert.deepEqual(empty.body.locks, []);
  assert.deepEqual(empty.body.users, []);
  assert.equal(empty.body.project_id, p);
  assert.equal(typeof empty.body.last_event_id, "string");
  assert.notEqual(empty.body.last_event_id, "", "never empty");
  assert.match(empty.body.server_time, TIME_RE);
  assert.ok(Math.abs(Date.parse(empty.body.server_time) - Date.now()) < 5000);

  // Presence: two SSE streams that name their users.
  const s1 = await openSSE(`${srv.baseUrl}/events/${p}?user_id=zoe`);
  const s2 = await openSSE(`${srv.baseUrl}/events/${p}?user_id=adam`);
  try {
    for (const [f, u] of [["z.jpg", "u1"], ["B.jpg", "u2"], ["a/b.jpg", "u3"], ["a.jpg", "u4"]]) {
      assert.equal((await postJSON(srv.baseUrl, "/lock", { project_id: p, file: f, user_id: u })).status, 200);
    }
    const st = await getStatus(srv.baseUrl, p);
    assert.deepEqual(st.locks.map((l) => l.file), ["B.jpg", "a.jpg", "a/b.jpg", "z.jpg"]);
    st.locks.forEach((l) => assertLock(l, { project_id: p }));
    assert.deepEqual(st.users, ["adam", "zoe"]);

    // A stream opened with last_event_id misses nothing and repeats nothing.
    const from = await openSSE(`${srv.baseUrl}/events/${p}?last_event_id=${encodeURIComponent(st.last_event_id)}`);
    try {
      await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "z.jpg", user_id: "u1" });
      await waitFor(() => from.frames.length >= 1, { what: "live event" });
      await sleep(100);
      assert.deepEqual(from.frames.map((f) => [f.event, f.data.file]), [["lock_released", "z.jpg"]]);
    } finally { from.close(); }
  } finally { s1.close(); s2.close(); }
});

test("§2 bad input: 400 invalid_request naming the field", async () => {
  const base = { project_id: "p1", file: "a.jpg", user_id: "u" };
  const cases = [
    ["/lock", { ...base, project_id: "" }, "project_id"],
    ["/lock", { ...base, project_id: "a b" }, "project_id"],
    ["/lock", { ...base, project_id: "ä" }, "project_id"],
    ["/lock", { ...base, project_id: "p/1" }, "project_id"],
    ["/lock", { ...base, project_id: "x".repeat(129) }, "project_id"],
    ["/lock", { file: "a", user_id: "u" }, "project_id"],
    ["/lock", { ...base, file: "" }, "file"],
    ["/lock", { ...base, file: "." }, "file"],
    ["/lock", { ...base, file: ".." }, "file"],
    ["/lock", { ...base, file: "a\u0000b" }, "file"],
    ["/lock", { ...base, file: "a\nb" }, "file"],
    ["/lock", { ...base, file: "a\u001fb" }, "file"],
    ["/lock", { ...base, file: "a\u007fb" }, "file"],
    ["/lock", { ...base, file: "x".repeat(1025) }, "file"],
    ["/lock", { ...base, file: "이".repeat(342) }, "file"], // 1026 bytes
    ["/lock", { project_id: "p1", user_id: "u" }, "file"],
    ["/lock", { ...base, user_id: "" }, "user_id"],
    ["/lock", { ...base, user_id: "a\tb" }, "user_id"],
    ["/lock", { ...base, user_id: "u".repeat(257) }, "user_id"],
    ["/lock", { project_id: "p1", file: "a" }, "user_id"],
    ["/lock", { ...base, project_id: 12 }, "project_id"],
    ["/lock", { ...base, file: ["a"] }, "file"],
    ["/lock", { ...base, user_id: { id: 1 } }, "user_id"],
    ["/lock", { ...base, ttl_seconds: "60" }, "ttl_seconds"],
    ["/lock", { ...base, release_previous: "true" }, "release_previous"],
    ["/unlock", { ...base, token: "42" }, "token"],
    ["/unlock", { ...base, force: "yes" }, "force"],
    ["/unlock", { project_id: "p1", user_id: "u" }, "file"],
    ["/heartbeat", { project_id: "p1" }, "user_id"],
    ["/heartbeat", { user_id: "u" }, "project_id"],
  ];
  for (const [path, body, field] of cases) {
    const res = await postJSON(srv.baseUrl, path, body);
    assertError(res, 400, "invalid_request", field);
  }
  for (const raw of ['{"project_id":"p1"', "[1,2]", "null", '"x"', "", "{} {}"]) {
    const res = await fetch(srv.baseUrl + "/lock", { method: "POST", headers: { "Content-Type": "application/json" }, body: raw });
    const text = await res.text();
    assert.equal(res.status, 400, `${raw} → ${text}`);
    assert.equal(JSON.parse(text).error.code, "invalid_request");
  }
  const st = await getJSON(srv.baseUrl, "/status/bad%20id");
  assertError(st, 400, "invalid_request", "project_id");
});

test("§2 identifier limits are accepted at the edge; unknown fields ignored", async () => {
  const p = "A-z_0.9" + "x".repeat(121); // 128 characters
  assert.equal(p.length, 128);
  const long = "이".repeat(341) + "a"; // 1024 bytes
  const res = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: long, user_id: "u".repeat(256), extra: { nested: [1, 2] }, also: null });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.lock.file, long);
  assert.equal(res.body.lock.project_id, p);
});

test("§2 request bodies over limits.max_body_bytes (16 KiB) → 413 payload_too_large", async () => {
  const p = project("big");
  const prefix = JSON.stringify({ project_id: p, file: "a", user_id: "u", pad: "" }).slice(0, -2);
  const make = (n) => prefix + "x".repeat(n - prefix.length - 2) + '"}';
  const fits = make(16384);
  assert.equal(Buffer.byteLength(fits), 16384);
  const r1 = await fetch(srv.baseUrl + "/lock", { method: "POST", headers: { "Content-Type": "application/json" }, body: fits });
  assert.equal(r1.status, 200, await r1.text());
  const over = make(16385);
  const r2 = await fetch(srv.baseUrl + "/lock", { method: "POST", headers: { "Content-Type": "application/json" }, body: over });
  const body = await r2.json();
  assert.equal(r2.status, 413);
  assert.equal(body.error.code, "payload_too_large");
  // Without a Content-Length (chunked) too.
  const stream = new Blob([make(40000)]).stream();
  const r3 = await fetch(srv.baseUrl + "/lock", { method: "POST", headers: { "Content-Type": "application/json" }, body: stream, duplex: "half" });
  assert.equal(r3.status, 413);
  assert.equal((await r3.json()).error.code, "payload_too_large");
});

test("§2 exotic file names round-trip exactly (REST, status, SSE, WebSocket, Socket.IO)", async () => {
  const p = project("names");
  const names = [
    "images/이미지1.jpg", "a b/c d.png", "x:y{z}*?.jpg", "q\"uo'te`s.jpg", "\\back\\slash", "{" + p + "}:evil",
    "lock:{other}:k", "日本語/中文/العربية/עברית.tif", "emoji 🐱‍👤.png", "line\u2028sep\u2029.jpg", "%2F..%2e/", "…/./x",
  ];
  const sse = await openSSE(`${srv.baseUrl}/events/${p}`);
  const ws = await openWS(srv.baseUrl);
  const sio = await openSIO(srv.baseUrl, { transports: ["websocket"] });
  try {
    await ws.call("join_project", { project_id: p, user_id: "watcher-ws" });
    await sio.call("join_project", { project_id: p, user_id: "watcher-sio" });
    for (const [i, name] of names.entries()) {
      const r = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: name, user_id: `user ${i} ☃` });
      assert.equal(r.status, 200, `${name}: ${r.text}`);
      assert.equal(r.body.lock.file, name);
      assert.equal(r.body.lock.user, `user ${i} ☃`);
    }
    const st = await getStatus(srv.baseUrl, p);
    assert.deepEqual(st.locks.map((l) => l.file).sort(), [...names].sort());
    const got = (list) => list.map((d) => d.file).sort();
    await waitFor(() => sse.frames.filter((f) => f.event === "lock_acquired").length === names.length, { what: "SSE events" });
    assert.deepEqual(got(sse.frames.filter((f) => f.event === "lock_acquired").map((f) => f.data)), [...names].sort());
    // Every SSE data line is one line of JSON: no frame was split.
    for (const block of sse.text.split("\n\n").filter((b) => b.includes("data:"))) {
      assert.equal(block.split("\n").filter((l) => l.startsWith("data:")).length, 1);
    }
    await waitFor(() => ws.events("lock_acquired").length === names.length, { what: "WS events" });
    assert.deepEqual(got(ws.events("lock_acquired").map((m) => m.data)), [...names].sort());
    await waitFor(() => sio.events.filter((e) => e.name === "lock_acquired").length === names.length, { what: "SIO events" });
    assert.deepEqual(got(sio.events.filter((e) => e.name === "lock_acquired").map((e) => e.data)), [...names].sort());
    // A project-looking file name does not touch another project.
    assert.deepEqual((await getStatus(srv.baseUrl, "other")).locks, []);
  } finally { sse.close(); ws.close(); sio.socket.close(); }
});

test("§3 /healthz, /readyz, /metrics, /docs, /docs/doc.json", async () => {
  assert.equal((await fetch(srv.baseUrl + "/healthz")).status, 200);
  assert.equal((await fetch(srv.baseUrl + "/readyz")).status, 200);
  const m = await fetch(srv.baseUrl + "/metrics");
  assert.equal(m.status, 200);
  assert.match(m.headers.get("content-type"), /^text\/plain/);
  assert.match(await m.text(), /^# TYPE /m);
  const ui = await fetch(srv.baseUrl + "/docs");
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /swagger/i);
  const doc = await getJSON(srv.baseUrl, "/docs/doc.json");
  assert.equal(doc.status, 200);
  for (const path of ["/lock", "/unlock", "/heartbeat", "/status/{project_id}", "/events/{project_id}"]) {
    assert.ok(doc.body.paths[path], `doc.json documents ${path}`);
  }
});

// ------------------------------------------------------------- §4, §5 SSE

test("§5 SSE: headers, retry first, snapshot first, id/event/data frames, §4 payloads", async () => {
  const p = project("sse");
  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "pre.jpg", user_id: "early" });
  const s = await openSSE(`${srv.baseUrl}/events/${p}`);
  try {
    assert.equal(s.res.status, 200);
    assert.match(s.res.headers.get("content-type"), /^text\/event-stream/);
    assert.equal(s.res.headers.get("cache-control"), "no-cache");
    assert.equal(s.res.headers.get("x-accel-buffering"), "no");
    const snap = await waitFor(() => s.frames[0], { what: "snapshot" });
    assert.ok(s.text.startsWith("retry: 2000\n"), JSON.stringify(s.text.slice(0, 40)));
    assert.equal(snap.event, "snapshot");
    assert.equal(snap.id, snap.data.event_id);
    assert.deepEqual(Object.keys(snap.data).sort(), ["event_id", "locks", "project_id", "users"]);
    assert.equal(snap.data.project_id, p);
    assert.deepEqual(snap.data.locks.map((l) => l.file), ["pre.jpg"]);
    assertLock(snap.data.locks[0]);

    const a = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u1" });
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "u1", release_previous: true });
    await postJSON(srv.baseUrl, "/heartbeat", { project_id: p, user_id: "u1" }); // no event
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "u1" }); // renew: no event
    await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "b.jpg", user_id: "u1" });
    await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "pre.jpg", user_id: "boss", force: true });
    await waitFor(() => s.frames.length >= 6, { what: "5 events" });
    await sleep(150);
    const evs = s.frames.slice(1);
    assert.deepEqual(evs.map((f) => [f.event, f.data.file, f.data.reason]), [
      ["lock_acquired", "a.jpg", undefined],
      ["lock_released", "a.jpg", "switched"], // right before the new acquire
      ["lock_acquired", "b.jpg", undefined],
      ["lock_released", "b.jpg", "unlocked"],
      ["lock_released", "pre.jpg", "forced"],
    ]);
    for (const f of evs) {
      assert.equal(f.id, f.data.event_id);
      assert.equal(typeof f.data.event_id, "string");
      assert.equal(f.data.project_id, p);
    }
    const acq = evs[0].data;
    assert.deepEqual(Object.keys(acq).sort(), ["acquired_at", "event_id", "expires_at", "file", "project_id", "token", "user"]);
    assert.equal(acq.token, a.body.lock.token);
    assert.match(acq.acquired_at, TIME_RE);
    const rel = evs[1].data;
    assert.deepEqual(Object.keys(rel).sort(), ["event_id", "file", "project_id", "reason", "token", "user"]);
    assert.equal(rel.user, "u1");
    assert.equal(rel.token, a.body.lock.token);
    assert.equal(evs[4].data.user, "early", "forced release names the holder it was taken from");
    // event_id is ordered within a project (opaque, but ordered: compare as the stream gives them).
    const ids = [snap.id, ...evs.map((f) => f.id)];
    assert.equal(new Set(ids).size, ids.length);
  } finally { s.close(); }
});

test("§5 SSE resume: Last-Event-ID and ?last_event_id replay; unknown id → snapshot; keepalive", async () => {
  const p = project("resume");
  const s = await openSSE(`${srv.baseUrl}/events/${p}`);
  let ids;
  try {
    for (const f of ["1", "2", "3"]) await postJSON(srv.baseUrl, "/lock", { project_id: p, file: f, user_id: `u${f}` });
    await waitFor(() => s.frames.length >= 4, { what: "events" });
    ids = s.frames.slice(1).map((f) => f.id);
    // sse.keepalive is 1s on this server.
    await waitFor(() => s.comments.includes(": keepalive"), { timeoutMs: 3000, what: "keepalive comment" });
  } finally { s.close(); }

  const h = await openSSE(`${srv.baseUrl}/events/${p}`, { "Last-Event-ID": ids[0] });
  const q = await openSSE(`${srv.baseUrl}/events/${p}?last_event_id=${encodeURIComponent(ids[1])}`);
  const bad = await openSSE(`${srv.baseUrl}/events/${p}?last_event_id=no-such-id`);
  try {
    await waitFor(() => h.frames.length >= 2 && q.frames.length >= 1 && bad.frames.length >= 1, { what: "replays" });
    await sleep(150);
    assert.deepEqual(h.frames.map((f) => [f.event, f.id]), [["lock_acquired", ids[1]], ["lock_acquired", ids[2]]]);
    assert.deepEqual(q.frames.map((f) => [f.event, f.id]), [["lock_acquired", ids[2]]]);
    assert.equal(bad.frames[0].event, "snapshot");
    assert.equal(bad.frames[0].data.locks.length, 3);
    // then live
    await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "3", user_id: "u3" });
    await waitFor(() => h.frames.length === 3 && q.frames.length === 2 && bad.frames.length === 2, { what: "live after replay" });
  } finally { h.close(); q.close(); bad.close(); }
});

test("§5 SSE out of the events.history window → fresh snapshot", async () => {
  const small = await startServer({ env: { FILELOCK_EVENTS_HISTORY: "3" } });
  try {
    const p = project("window");
    for (const f of ["a", "b", "c", "d", "e"]) await postJSON(small.baseUrl, "/lock", { project_id: p, file: f, user_id: f });
    const s = await openSSE(`${small.baseUrl}/events/${p}`);
    const snapId = (await waitFor(() => s.frames[0])).id;
    s.close();
    const first = await openSSE(`${small.baseUrl}/events/${p}`, { "Last-Event-ID": "0" });
    try {
      const f = await waitFor(() => first.frames[0], { what: "frame" });
      assert.equal(f.event, "snapshot", "an id out of the 3-event window gets a snapshot");
      assert.equal(f.data.locks.length, 5);
      assert.equal(f.id, snapId);
    } finally { first.close(); }
  } finally { await small.stop(); }
});

test("§5 eventsource package: events by name with lastEventId", async () => {
  const p = project("es");
  const es = new EventSource(`${srv.baseUrl}/events/${p}?user_id=${encodeURIComponent("이용자")}`);
  const seen = [];
  for (const n of EVENT_NAMES) es.addEventListener(n, (e) => seen.push({ n, id: e.lastEventId, d: JSON.parse(e.data) }));
  try {
    await waitFor(() => seen.length >= 1, { what: "snapshot" });
    assert.equal(seen[0].n, "snapshot");
    assert.deepEqual(seen[0].d.users, ["이용자"]);
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "x.jpg", user_id: "이용자" });
    const acq = await waitFor(() => seen.find((e) => e.n === "lock_acquired"), { what: "lock_acquired" });
    assert.equal(acq.id, acq.d.event_id);
  } finally { es.close(); }
});

// ------------------------------------------------------- §1 I4, I5 timing

test("§1 I4: an expired lock is released with reason expired within 1 s of expires_at", async () => {
  const p = project("expire");
  const s = await openSSE(`${srv.baseUrl}/events/${p}`);
  try {
    await waitFor(() => s.frames[0]);
    const r = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "e.jpg", user_id: "u", ttl_seconds: 5 });
    const exp = Date.parse(r.body.lock.expires_at);
    const rel = await waitFor(() => s.frames.find((f) => f.event === "lock_released"), { timeoutMs: 8000, what: "expired" });
    const at = Date.now();
    assert.equal(rel.data.reason, "expired");
    assert.equal(rel.data.token, r.body.lock.token);
    assert.ok(at <= exp + 1000 + 100, `released ${at - exp} ms after expires_at`);
    assert.deepEqual((await getStatus(srv.baseUrl, p)).locks, []);
  } finally { s.close(); }
});

test("§1 I5: SSE with user_id: presence events and disconnected release after the grace; reload keeps the lock", async () => {
  const p = project("i5");
  const watch = await openSSE(`${srv.baseUrl}/events/${p}`);
  try {
    await waitFor(() => watch.frames[0]);
    const mine = await openSSE(`${srv.baseUrl}/events/${p}?user_id=ann`);
    await waitFor(() => watch.frames.find((f) => f.event === "user_joined"), { what: "user_joined" });
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "x.jpg", user_id: "ann" });
    assert.deepEqual((await getStatus(srv.baseUrl, p)).users, ["ann"]);
    // Reload: close and reopen at once; the lock stays.
    mine.close();
    const again = await openSSE(`${srv.baseUrl}/events/${p}?user_id=ann`);
    await sleep(900); // longer than the 500 ms grace
    assert.equal((await getStatus(srv.baseUrl, p)).locks.length, 1, "reload within the grace keeps the lock");
    again.close();
    const rel = await waitFor(() => watch.frames.find((f) => f.event === "lock_released"), { timeoutMs: 4000, what: "release" });
    assert.equal(rel.data.reason, "disconnected");
    assert.equal(rel.data.user, "ann");
    await waitFor(() => watch.frames.find((f) => f.event === "user_left"), { what: "user_left" });
    const j = watch.frames.find((f) => f.event === "user_joined");
    assert.deepEqual(Object.keys(j.data).sort(), ["event_id", "project_id", "user"]);
    assert.equal(j.data.user, "ann");
  } finally { watch.close(); }
});

// ------------------------------------------------------------ §5 WebSocket

test("§5 WebSocket: join → reply with snapshot fields + snapshot event; lock/unlock/heartbeat; errors; leave", async () => {
  const p = project("ws");
  const c = await openWS(srv.baseUrl);
  try {
    const joined = await c.call("join_project", { project_id: p, user_id: "alice" });
    assert.equal(joined.ok, true);
    assert.equal(joined.project_id, p);
    assert.equal(typeof joined.event_id, "string");
    assert.deepEqual(joined.locks, []);
    assert.deepEqual(joined.users, ["alice"]);
    const snap = await waitFor(() => c.events("snapshot")[0], { what: "snapshot" });
    assert.equal(snap.data.event_id, joined.event_id);
    assert.deepEqual(Object.keys(snap).sort(), ["data", "event"]);

    // numeric ref is echoed as is
    c.ws.send(JSON.stringify({ event: "heartbeat", data: { project_id: p }, ref: 77 }));
    const hb0 = await waitFor(() => c.msgs.find((m) => m.ref === 77));
    assert.equal(hb0.data.ok, false);
    assert.equal(hb0.data.error.code, "not_locked");

    const locked = await c.call("lock", { project_id: p, file: "a.jpg" });
    assert.equal(locked.ok, true);
    assert.equal(locked.acquired, true);
    assert.equal(locked.renewed, false);
    assert.equal(locked.heartbeat_interval_seconds, 30);
    assertLock(locked.lock, { user: "alice", file: "a.jpg", project_id: p });
    await waitFor(() => c.events("lock_acquired").length === 1, { what: "lock_acquired" });

    const has = await c.call("lock", { project_id: p, file: "b.jpg" });
    assert.equal(has.ok, false);
    assert.equal(has.error.code, "user_has_lock");
    assertLock(has.lock, { file: "a.jpg" });
    const sw = await c.call("lock", { project_id: p, file: "b.jpg", release_previous: true, ttl_seconds: 30 });
    assert.equal(sw.ok, true);
    assert.equal(sw.released.file, "a.jpg");
    assert.equal(lockTTL(sw.lock), 30_000);

    const hb = await c.call("heartbeat", { project_id: p });
    assert.equal(hb.ok, true);
    assert.equal(hb.lock.file, "b.jpg");
    const hbAll = await c.call("heartbeat", {});
    assert.equal(hbAll.ok, true);

    const stale = await c.call("unlock", { project_id: p, file: "b.jpg", token: 1 });
    assert.equal(stale.ok, false);
    assert.equal(stale.error.code, "stale_token");
    const un = await c.call("unlock", { project_id: p, file: "b.jpg", token: sw.lock.token });
    assert.equal(un.ok, true);
    assert.equal(un.released, true);
    await waitFor(() => c.events("lock_released").length === 2, { what: "2 releases" });
    assert.deepEqual(c.events("lock_released").map((m) => m.data.reason), ["switched", "unlocked"]);

    // Another user on the same connection: user_mismatch (reply and error event).
    const mm = await c.call("join_project", { project_id: project("ws2"), user_id: "mallory" });
    assert.equal(mm.ok, false);
    assert.equal(mm.error.code, "user_mismatch");
    const before = c.events("error").length;
    c.send("lock", { project_id: p, file: "c.jpg", user_id: "mallory" });
    const err = await waitFor(() => c.events("error")[before], { what: "error event" });
    assert.equal(err.data.code, "user_mismatch");
    assert.equal(typeof err.data.message, "string");
    c.send("lock", { project_id: p });
    const err2 = await waitFor(() => c.events("error")[before + 1], { what: "error event" });
    assert.equal(err2.data.code, "invalid_request");

    // Leave: no more events of the project.
    const left = await c.call("leave_project", { project_id: p });
    assert.equal(left.ok, true);
    const n = c.msgs.length;
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "z.jpg", user_id: "bob" });
    await sleep(300);
    assert.deepEqual(c.msgs.slice(n).filter((m) => m.event !== "reply"), []);
  } finally { c.close(); }
});

test("§5 WebSocket: several projects on one connection; close releases after the grace (I5)", async () => {
  const p1 = project("wsa"), p2 = project("wsb");
  const c = await openWS(srv.baseUrl);
  await c.call("join_project", { project_id: p1, user_id: "multi" });
  const j2 = await c.call("join_project", { project_id: p2 }); // user taken from the connection
  assert.equal(j2.ok, true);
  assert.deepEqual(j2.users, ["multi"]);
  assert.equal((await c.call("lock", { project_id: p1, file: "1.jpg" })).ok, true);
  assert.equal((await c.call("lock", { project_id: p2, file: "2.jpg" })).ok, true);
  await waitFor(() => c.events("lock_acquired").length === 2);
  assert.deepEqual(c.events("lock_acquired").map((m) => m.data.project_id).sort(), [p1, p2].sort());
  c.close();
  await waitFor(async () => (await getStatus(srv.baseUrl, p1)).locks.length === 0 && (await getStatus(srv.baseUrl, p2)).locks.length === 0,
    { timeoutMs: 4000, what: "disconnect release" });
});

// ------------------------------------------------------------- §5 Socket.IO

for (const [label, opts] of [["default (polling then upgrade)", {}], ["websocket only", { transports: ["websocket"] }]]) {
  test(`§5 Socket.IO ${label}: acks are the WebSocket reply data; events; error event`, async () => {
    const p = project("sio");
    const { socket, events, call } = await openSIO(srv.baseUrl, opts);
    try {
      const joined = await call("join_project", { project_id: p, user_id: "sam" });
      assert.equal(joined.ok, true);
      assert.equal(joined.project_id, p);
      assert.equal(typeof joined.event_id, "string");
      assert.deepEqual(joined.users, ["sam"]);
      assert.deepEqual(joined.locks, []);
      const snap = await waitFor(() => events.find((e) => e.name === "snapshot"), { what: "snapshot" });
      assert.equal(snap.data.event_id, joined.event_id);

      const l = await call("lock", { project_id: p, file: "f.jpg" });
      assert.equal(l.ok, true);
      assert.equal(l.acquired, true);
      assert.equal(l.renewed, false);
      assert.equal(l.heartbeat_interval_seconds, 30);
      assertLock(l.lock, { user: "sam", file: "f.jpg" });
      const acq = await waitFor(() => events.find((e) => e.name === "lock_acquired"), { what: "lock_acquired" });
      assert.equal(acq.data.token, l.lock.token);
      assert.equal(acq.data.project_id, p);

      await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "g.jpg", user_id: "other" });
      const fl = await call("lock", { project_id: p, file: "g.jpg" });
      assert.equal(fl.ok, false);
      assert.equal(fl.error.code, "file_locked");
      assert.equal(fl.lock.user, "other");

      const hb = await call("heartbeat", { project_id: p });
      assert.equal(hb.ok, true);
      assert.equal(hb.lock.file, "f.jpg");

      const un = await call("unlock", { project_id: p, file: "f.jpg" });
      assert.equal(un.ok, true);
      assert.equal(un.released, true);
      const rel = await waitFor(() => events.find((e) => e.name === "lock_released"), { what: "lock_released" });
      assert.equal(rel.data.reason, "unlocked");

      const mm = await call("join_project", { project_id: p, user_id: "mallory" });
      assert.equal(mm.ok, false);
      assert.equal(mm.error.code, "user_mismatch");

      socket.emit("lock", { project_id: p }); // no ack → error event
      const err = await waitFor(() => events.find((e) => e.name === "error"), { what: "error event" });
      assert.equal(err.data.code, "invalid_request");

      assert.equal((await call("leave_project", { project_id: p })).ok, true);
    } finally { socket.close(); }
  });
}

// ------------------------------------------------------------ §7 config

test("§7 a bad config value stops start-up with a message naming the key", async () => {
  const cases = [
    [{ FILELOCK_LOCK_TTL: "soon" }, "lock.ttl"],
    [{ FILELOCK_EVENTS_HISTORY: "many" }, "events.history"],
    [{ FILELOCK_STORE_BACKEND: "mongo" }, "store.backend"],
    [{ FILELOCK_AUTH_MODE: "magic" }, "auth.mode"],
    [{ FILELOCK_LIMITS_MAX_BODY_BYTES: "lots" }, "limits.max_body_bytes"],
    [{ FILELOCK_LOG_LEVEL: "loud" }, "log.level"],
  ];
  const results = await Promise.all(cases.map(([env]) => runExpectingFailure(env)));
  for (const [i, [env, key]] of cases.entries()) {
    const r = results[i];
    assert.notEqual(r.code, 0, `${JSON.stringify(env)} must not start: ${r.output}`);
    assert.equal(r.signal, null, `${JSON.stringify(env)} must exit by itself: ${r.output}`);
    assert.ok(r.output.includes(key), `${JSON.stringify(env)}: message names ${key}: ${r.output}`);
  }
  const flag = await runExpectingFailure({}, ["--lock.disconnect_grace=whenever"]);
  assert.notEqual(flag.code, 0);
  assert.ok(flag.output.includes("lock.disconnect_grace"), flag.output);
});

test("§7 --config FILE ← environment ← flags", async () => {
  const dir = await mkdtemp(join(tmpdir(), "filelock-spec-"));
  const file = join(dir, "filelock.yaml");
  await writeFile(file, "lock:\n  heartbeat_interval: 7s\n  max_ttl: 2m\n");
  const s = await startServer({ args: ["--config", file, "--lock.min_ttl=10s"], env: { FILELOCK_LOCK_MAX_TTL: "3m" } });
  try {
    const p = project("cfg");
    const a = await postJSON(s.baseUrl, "/lock", { project_id: p, file: "a", user_id: "a", ttl_seconds: 1 });
    assert.equal(lockTTL(a.body.lock), 10_000, "from the flag");
    assert.ok(Math.abs(a.body.heartbeat_interval_seconds - 10 / 3) < 0.01, "a third of a 10 s lock");
    const b = await postJSON(s.baseUrl, "/lock", { project_id: p, file: "b", user_id: "b", ttl_seconds: 99999 });
    assert.equal(lockTTL(b.body.lock), 180_000, "environment over the file");
    assert.equal(b.body.heartbeat_interval_seconds, 7, "from the file");
  } finally {
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test("§7 short lock.ttl for fast expiry (lock.ttl=3s, lock.min_ttl=1s) starts and expires locks", async () => {
  // A valid setting of lock.ttl (a Go duration) must not stop start-up
  // because other keys keep their defaults.
  const s = await startServer({ env: { FILELOCK_LOCK_TTL: "3s", FILELOCK_LOCK_MIN_TTL: "1s" } });
  try {
    const p = project("shortttl");
    const a = await postJSON(s.baseUrl, "/lock", { project_id: p, file: "a", user_id: "a" });
    assert.equal(lockTTL(a.body.lock), 3_000);
    await waitFor(async () => (await getStatus(s.baseUrl, p)).locks.length === 0, { timeoutMs: 5000, what: "expiry" });
  } finally { await s.stop(); }
});

// ---------------------------------------------------------------- §6 auth

test("§6 auth.mode jwt: 401, user_mismatch, forbidden, admin force, every transport", async () => {
  const secret = "spec-secret-0123456789-abcdefghijklmnop";
  const s = await startServer({ env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: secret } });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const p = project("jwt");
  const t1 = mintJWT(secret, { sub: "user1", projects: [p], exp });
  const tAdmin = mintJWT(secret, { sub: "root", projects: ["*"], admin: true, exp });
  const bearer = (t) => ({ Authorization: `Bearer ${t}` });
  try {
    const body = { project_id: p, file: "a.jpg", user_id: "user1" };
    assertError(await postJSON(s.baseUrl, "/lock", body), 401, "unauthorized");
    assertError(await postJSON(s.baseUrl, "/lock", body, bearer(mintJWT("wrong-secret-wrong-secret-wrong", { sub: "user1", projects: ["*"], exp }))), 401, "unauthorized");
    assertError(await postJSON(s.baseUrl, "/lock", body, bearer(mintJWT(secret, { sub: "user1", projects: ["*"] }))), 401, "unauthorized"); // no exp
    assertError(await postJSON(s.baseUrl, "/lock", body, bearer(mintJWT(secret, { sub: "user1", projects: ["*"], exp: 1000 }))), 401, "unauthorized");
    const ok = await postJSON(s.baseUrl, "/lock", body, bearer(t1));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.lock.user, "user1");
    assertError(await postJSON(s.baseUrl, "/lock", { ...body, user_id: "user2" }, bearer(t1)), 403, "user_mismatch");
    assertError(await postJSON(s.baseUrl, "/lock", { ...body, project_id: "elsewhere" }, bearer(t1)), 403, "forbidden");
    assertError(await postJSON(s.baseUrl, "/unlock", { ...body, force: true }, bearer(t1)), 403, "forbidden");
    assertError(await getJSON(s.baseUrl, "/status/elsewhere", bearer(t1)), 403, "forbidden");
    assert.equal((await getJSON(s.baseUrl, `/status/${p}?token=${t1}`)).status, 200);
    assert.equal((await fetch(s.baseUrl + "/healthz")).status, 200);

    // SSE: ?token=
    const noTok = await openSSE(`${s.baseUrl}/events/${p}`);
    assert.equal(noTok.res.status, 401);
    const forb = await openSSE(`${s.baseUrl}/events/elsewhere?token=${t1}`);
    assert.equal(forb.res.status, 403);
    const sse = await openSSE(`${s.baseUrl}/events/${p}?token=${t1}`);
    try {
      const f = await waitFor(() => sse.frames[0]);
      assert.equal(f.event, "snapshot");
    } finally { sse.close(); }

    // WebSocket: ?token=
    await assert.rejects(openWS(s.baseUrl));
    const ws = await openWS(s.baseUrl, `?token=${t1}`);
    try {
      assert.equal((await ws.call("join_project", { project_id: p })).ok, true);
      const f = await ws.call("join_project", { project_id: "elsewhere" });
      assert.equal(f.ok, false);
      assert.equal(f.error.code, "forbidden");
    } finally { ws.close(); }

    // Socket.IO: auth {token}; refused handshake is connect_error.
    await assert.rejects(openSIO(s.baseUrl, { transports: ["websocket"] }));
    const sio = await openSIO(s.baseUrl, { auth: { token: t1 } });
    try {
      const j = await sio.call("join_project", { project_id: p, user_id: "user1" });
      assert.equal(j.ok, true);
      const mm = await sio.call("lock", { project_id: p, file: "b.jpg", user_id: "intruder" });
      assert.equal(mm.ok, false);
      assert.equal(mm.error.code, "user_mismatch");
      const fb = await sio.call("join_project", { project_id: "elsewhere" });
      assert.equal(fb.error.code, "forbidden");
    } finally { sio.socket.close(); }

    const forced = await postJSON(s.baseUrl, "/unlock", { project_id: p, file: "a.jpg", user_id: "root", force: true }, bearer(tAdmin));
    assert.equal(forced.status, 200, forced.text);
  } finally { await s.stop(); }
});

// ------------------------------------------------- §3 /claim and /locks

test("§3 /claim: list order, renew, switch (released, events in order), none_free, bad lists", async () => {
  const p = project("claim");
  const sse = await openSSE(`${srv.baseUrl}/events/${p}`);
  try {
    await waitFor(() => sse.frames[0]?.event === "snapshot", { what: "snapshot" });
    const held = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u1" });
    assert.equal(held.status, 200, held.text);

    const c = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u2", files: ["a.jpg", "b/b.jpg", "c.jpg"] });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.acquired, true);
    assert.equal(c.body.renewed, false);
    assert.equal(c.body.heartbeat_interval_seconds, 30);
    assert.equal("released" in c.body, false);
    assertLock(c.body.lock, { project_id: p, file: "b/b.jpg", user: "u2" });
    assert.ok(c.body.lock.token > held.body.lock.token);

    const again = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u2", files: ["a.jpg", "b/b.jpg", "c.jpg"] });
    assert.equal(again.body.renewed, true, again.text);
    assert.equal(again.body.lock.file, "b/b.jpg");
    assert.equal(again.body.lock.token, c.body.lock.token, "renew keeps the token");

    const sw = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u2", files: ["a.jpg", "d.jpg", "b/b.jpg"] });
    assert.equal(sw.status, 200, sw.text);
    assert.equal(sw.body.renewed, false);
    assertLock(sw.body.lock, { file: "d.jpg", user: "u2" });
    assertLock(sw.body.released, { file: "b/b.jpg", user: "u2", token: c.body.lock.token });
    await waitFor(() => sse.frames.some((f) => f.event === "lock_acquired" && f.data.file === "d.jpg"), { what: "lock_acquired d.jpg" });
    const tail = sse.frames.slice(-2).map((f) => [f.event, f.data.file, f.data.reason]);
    assert.deepEqual(tail, [["lock_released", "b/b.jpg", "switched"], ["lock_acquired", "d.jpg", undefined]]);

    const before = await getStatus(srv.baseUrl, p);
    const none = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u3", files: ["a.jpg", "d.jpg"] });
    assertError(none, 409, "none_free");
    assert.equal("lock" in none.body, false, none.text);
    const after = await getStatus(srv.baseUrl, p);
    assert.deepEqual(after.locks, before.locks);
    assert.equal(after.last_event_id, before.last_event_id, "none_free changes nothing");

    const ttl = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u4", files: ["e.jpg"], ttl_seconds: 1 });
    assert.equal(lockTTL(ttl.body.lock), 5000, "ttl_seconds clamped to lock.min_ttl");

    for (const files of [undefined, null, [], "a.jpg", [1], [""], ["."], [".."], ["x\u0000y"], ["x".repeat(1025)],
      Array.from({ length: 1001 }, (_, i) => `f${i}`)]) {
      const body = { project_id: p, user_id: "u5" };
      if (files !== undefined) body.files = files;
      assertError(await postJSON(srv.baseUrl, "/claim", body), 400, "invalid_request", "files");
    }
    // 1000 names fit, even when the body is larger than limits.max_body_bytes.
    const names = Array.from({ length: 1000 }, (_, i) => `images/batch-2026-11/${String(i).padStart(4, "0")}.jpg`);
    assert.ok(JSON.stringify(names).length > 16 << 10);
    const thousand = await postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: "u5", files: names });
    assert.equal(thousand.status, 200, thousand.text);
    assert.equal(thousand.body.lock.file, names[0]);
  } finally { sse.close(); }
});

test("§3 /claim: 24 users claiming from one list at once never share a file", async () => {
  const p = project("claimrace");
  const files = Array.from({ length: 10 }, (_, i) => `img/${i}.jpg`);
  const answers = await Promise.all(Array.from({ length: 24 }, (_, u) =>
    postJSON(srv.baseUrl, "/claim", { project_id: p, user_id: `user${u}`, files })));
  const won = answers.filter((a) => a.status === 200);
  assert.equal(won.length, 10);
  for (const a of answers.filter((x) => x.status !== 200)) assertError(a, 409, "none_free");
  assert.deepEqual(won.map((a) => a.body.lock.file).sort(), [...files].sort());
  const st = await getStatus(srv.baseUrl, p);
  assert.equal(st.locks.length, 10);
  assert.equal(new Set(st.locks.map((l) => l.user)).size, 10);
});

/** The path of GET /locks for file, the whole name one encoded segment. */
const lockPath = (p, file, q = "") => `/locks/${p}/${encodeURIComponent(file)}${q ? "?" + q : ""}`;

test("§3 GET /locks/{project_id}/{file}: lock, not_locked, fencing check by token and user_id", async () => {
  const p = project("fence");
  assertError(await getJSON(srv.baseUrl, lockPath(p, "a.jpg")), 404, "not_locked", "file");
  assertError(await getJSON(srv.baseUrl, lockPath(p, "a.jpg", "token=5")), 404, "not_locked", "file");

  const l = (await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u1" })).body.lock;
  for (const q of ["", `token=${l.token}`, "user_id=u1", `token=${l.token}&user_id=u1`]) {
    const r = await getJSON(srv.baseUrl, lockPath(p, "a.jpg", q));
    assert.equal(r.status, 200, `?${q}: ${r.text}`);
    assert.deepEqual(Object.keys(r.body), ["lock"]);
    assert.deepEqual(r.body.lock, l);
  }
  const stale = await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `token=${l.token - 1}`));
  assertError(stale, 409, "stale_token", "token");
  assert.deepEqual(stale.body.lock, l);
  const other = await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `user_id=u2&token=${l.token}`));
  assertError(other, 403, "not_owner");
  assert.deepEqual(other.body.lock, l);
  for (const bad of ["abc", "", "1.5", "1e3"]) {
    assertError(await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `token=${bad}`)), 400, "invalid_request", "token");
  }

  // The previous holder's token is stale once another user took the file.
  await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "a.jpg", user_id: "u1" });
  assertError(await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `token=${l.token}`)), 404, "not_locked");
  const n = (await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u2" })).body.lock;
  const old = await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `token=${l.token}&user_id=u1`));
  assertError(old, 403, "not_owner");
  assert.equal(old.body.lock.token, n.token);
  assertError(await getJSON(srv.baseUrl, lockPath(p, "a.jpg", `token=${l.token}`)), 409, "stale_token");
});

test("§2 §3 GET /locks: every exotic file name round-trips through the path", async () => {
  const p = project("fnames");
  const names = [
    "images/이미지1.jpg", "a b/c d.png", "x:y{z}*?.jpg", "q\"uo'te`s.jpg", "\\back\\slash", "{" + p + "}:evil",
    "日本語/中文/العربية/עברית.tif", "emoji 🐱‍👤.png", "line\u2028sep\u2029.jpg", "%2F..%2e/", "…/./x",
    "/abs/../x", "//double//", "100%", "a#b?c&d=e+f", "...", "trailing/",
  ];
  for (const [i, name] of names.entries()) {
    const l = (await postJSON(srv.baseUrl, "/lock", { project_id: p, file: name, user_id: `user ${i}` })).body.lock;
    const whole = await getJSON(srv.baseUrl, lockPath(p, name, `token=${l.token}&user_id=${encodeURIComponent(`user ${i}`)}`));
    assert.equal(whole.status, 200, `${name}: ${whole.text}`);
    assert.equal(whole.body.lock.file, name);
    // Slashes kept, each segment encoded; a name with a "." or ".." segment
    // can only travel with its slashes encoded (URL parsers resolve dot
    // segments, %2E ones included).
    const segs = name.split("/");
    if (segs.some((x) => x === "." || x === "..")) continue;
    const kept = await getJSON(srv.baseUrl, `/locks/${p}/${segs.map(encodeURIComponent).join("/")}`);
    assert.equal(kept.status, 200, `${name} (slashes kept): ${kept.text}`);
    assert.equal(kept.body.lock.file, name);
  }
  assertError(await getJSON(srv.baseUrl, lockPath(p, "images")), 404, "not_locked");
  assertError(await getJSON(srv.baseUrl, `/locks/${p}/`), 400, "invalid_request", "file");
});

// ------------------------------------------------------ §6 API keys, origins

test("§6 X-API-Key: admin of every project as any user_id, in jwt and none mode, every transport; wrong key 401", async () => {
  const secret = "spec-secret-0123456789-abcdefghijklmnop";
  const key = "backend-key-0123456789abcdef";
  for (const mode of ["jwt", "none"]) {
    const env = { FILELOCK_AUTH_MODE: mode, FILELOCK_AUTH_API_KEYS: `other-key-0123456789abcdef,${key}` };
    if (mode === "jwt") env.FILELOCK_AUTH_JWT_SECRET = secret;
    const s = await startServer({ env });
    const p = project("apikey");
    const hk = { "X-API-Key": key };
    try {
      const l = await postJSON(s.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "alice" }, hk);
      assert.equal(l.status, 200, `${mode}: ${l.text}`);
      assert.equal(l.body.lock.user, "alice");
      const c = await postJSON(s.baseUrl, "/claim", { project_id: p, files: ["a.jpg", "b.jpg"], user_id: "bob" }, hk);
      assert.equal(c.body.lock.file, "b.jpg", c.text);
      assert.equal((await getJSON(s.baseUrl, lockPath(p, "a.jpg", `token=${l.body.lock.token}`), hk)).status, 200);
      assert.equal((await getJSON(s.baseUrl, "/status/any-project", hk)).status, 200);
      const f = await postJSON(s.baseUrl, "/unlock", { project_id: p, file: "a.jpg", user_id: "backend", force: true }, hk);
      assert.equal(f.status, 200, f.text);

      const sse = await openSSE(`${s.baseUrl}/events/${p}?user_id=carol`, hk);
      try {
        assert.equal(sse.res.status, 200);
        await waitFor(() => sse.frames[0]?.event === "snapshot", { what: "snapshot" });
      } finally { sse.close(); }
      const ws = new WebSocket(s.baseUrl.replace(/^http/, "ws") + "/ws", { headers: hk });
      await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
      try {
        const reply = new Promise((res) => ws.on("message", (d) => { const m = JSON.parse(d.toString()); if (m.event === "reply") res(m.data); }));
        ws.send(JSON.stringify({ event: "unlock", data: { project_id: p, file: "b.jpg", user_id: "dave", force: true }, ref: "1" }));
        assert.equal((await reply).ok, true);
      } finally { ws.close(); }
      for (const transports of [["websocket"], ["polling", "websocket"]]) {
        const sio = await openSIO(s.baseUrl, { transports, extraHeaders: hk });
        try {
          const j = await sio.call("join_project", { project_id: "elsewhere", user_id: "erin" });
          assert.equal(j.ok, true, JSON.stringify(j));
        } finally { sio.socket.close(); }
      }

      // A wrong key is 401, even beside a valid admin token.
      const admin = mintJWT(secret, { sub: "root", projects: ["*"], admin: true, exp: Math.floor(Date.now() / 1000) + 600 });
      const bad = { "X-API-Key": "not-the-key-0123456789", Authorization: `Bearer ${admin}` };
      assertError(await postJSON(s.baseUrl, "/lock", { project_id: p, file: "z.jpg", user_id: "alice" }, bad), 401, "unauthorized");
      assertError(await postJSON(s.baseUrl, "/claim", { project_id: p, files: ["z.jpg"], user_id: "alice" }, bad), 401, "unauthorized");
      assertError(await getJSON(s.baseUrl, `/status/${p}`, bad), 401, "unauthorized");
      assertError(await getJSON(s.baseUrl, lockPath(p, "a.jpg"), bad), 401, "unauthorized");
      assert.equal((await openSSE(`${s.baseUrl}/events/${p}`, bad)).res.status, 401);
      await assert.rejects(new Promise((res, rej) => {
        const w = new WebSocket(s.baseUrl.replace(/^http/, "ws") + "/ws", { headers: bad });
        w.once("open", () => { w.close(); res(); });
        w.once("error", rej);
      }));
      const err = await openSIO(s.baseUrl, { transports: ["websocket"], extraHeaders: bad, auth: { token: admin } }).then(
        (x) => { x.socket.close(); assert.fail("connected with a wrong key"); }, (e) => e);
      assert.equal(err.data?.code, "unauthorized");
      assert.ok(!s.logs().includes(key), "the API key appears in the log");
      assert.deepEqual((await getJSON(s.baseUrl, `/status/${p}`, hk)).body.locks, []);
    } finally { await s.stop(); }
  }
});

test("§6 jwt mode: GET /locks takes the JWT from Authorization; ?token= is the fencing token", async () => {
  const secret = "spec-secret-0123456789-abcdefghijklmnop";
  const s = await startServer({ env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: secret } });
  const p = project("jwtfence");
  const exp = Math.floor(Date.now() / 1000) + 600;
  const bearer = { Authorization: `Bearer ${mintJWT(secret, { sub: "u1", projects: [p], exp })}` };
  try {
    const l = (await postJSON(s.baseUrl, "/lock", { project_id: p, file: "a.jpg" }, bearer)).body.lock;
    assert.equal((await getJSON(s.baseUrl, lockPath(p, "a.jpg", `token=${l.token}`), bearer)).status, 200);
    assertError(await getJSON(s.baseUrl, lockPath(p, "a.jpg", `token=${l.token}`)), 401, "unauthorized");
    const elsewhere = { Authorization: `Bearer ${mintJWT(secret, { sub: "u1", projects: ["other"], exp })}` };
    assertError(await getJSON(s.baseUrl, lockPath(p, "a.jpg"), elsewhere), 403, "forbidden");
  } finally { await s.stop(); }
});

/** A raw HTTP request (node:http sets any Origin); resolves with {status, headers, body}. */
function rawRequest(base, method, path, headers, body) {
  return new Promise((res, rej) => {
    const u = new URL(base + path);
    const req = httpRequest({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers }, (r) => {
      let text = "";
      r.setEncoding("utf8").on("data", (d) => { text += d; }).on("end", () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        res({ status: r.statusCode, headers: r.headers, body: json, text });
      });
    });
    req.on("error", rej);
    req.end(body);
  });
}

test("§6 cors.allowed_origins: a foreign Origin is 403 forbidden on every route, simple POSTs included", async () => {
  const good = "https://label.example.com";
  const s = await startServer({ env: { FILELOCK_CORS_ALLOWED_ORIGINS: `${good},https://other.example.com` } });
  const p = project("origin");
  try {
    const body = JSON.stringify({ project_id: p, file: "a.jpg", user_id: "mallory" });
    const text = { "Content-Type": "text/plain" };
    for (const [method, path, b] of [["POST", "/lock", body], ["POST", "/claim", JSON.stringify({ project_id: p, files: ["a.jpg"], user_id: "m" })],
      ["POST", "/unlock", body], ["POST", "/heartbeat", body], ["GET", `/status/${p}`], ["GET", lockPath(p, "a.jpg")],
      ["GET", `/events/${p}`], ["GET", "/healthz"]]) {
      const r = await rawRequest(s.baseUrl, method, path, { ...text, Origin: "https://evil.example.com" }, b);
      assertError(r, 403, "forbidden");
      assert.equal(r.headers["access-control-allow-origin"], undefined);
    }
    assert.deepEqual((await getStatus(s.baseUrl, p)).locks, [], "a refused POST ran");
    const pre = await rawRequest(s.baseUrl, "OPTIONS", "/lock", { Origin: "https://evil.example.com", "Access-Control-Request-Method": "POST" });
    assertError(pre, 403, "forbidden");
    const ok = await rawRequest(s.baseUrl, "POST", "/lock", { ...text, Origin: good }, body);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers["access-control-allow-origin"], good);
    const backend = await rawRequest(s.baseUrl, "POST", "/unlock", text, body);
    assert.equal(backend.status, 200, `no Origin: ${backend.text}`);
    const sio = await openSIO(s.baseUrl, { transports: ["websocket"], extraHeaders: { Origin: "https://evil.example.com" } }).then(
      (x) => { x.socket.close(); return null; }, (e) => e);
    assert.ok(sio, "Socket.IO connected from a foreign origin");
  } finally { await s.stop(); }
});

// ---------------------------------------------------------------- §8 Redis

/** A private redis-server on a free port. */
async function startRedis() {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const failed = new Promise((_, rej) => child.once("error", (e) => rej(new Error(`redis-server: ${e.message}`))));
  await Promise.race([failed, waitFor(async () => (await redisCmd(port, ["PING"])) === "PONG", { timeoutMs: 5000, what: "redis-server" })]);
  return { port, child, stop: () => new Promise((r) => { if (child.exitCode !== null) return r(); child.once("exit", r); child.kill("SIGKILL"); }) };
}

/** One Redis command over RESP; resolves with its reply. */
function redisCmd(port, args) {
  return new Promise((res, rej) => {
    const sock = createConnection({ port, host: "127.0.0.1" });
    let buf = Buffer.alloc(0);
    sock.on("error", rej);
    sock.on("connect", () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseRESP(buf, 0);
      if (r) { sock.end(); res(r.v); }
    });
  });
}

function parseRESP(b, i) {
  const nl = b.indexOf("\r\n", i);
  if (nl < 0) return null;
  const t = String.fromCharCode(b[i]), line = b.toString("utf8", i + 1, nl);
  if (t === "+" ) return { v: line, i: nl + 2 };
  if (t === "-") return { v: new Error(line), i: nl + 2 };
  if (t === ":") return { v: Number(line), i: nl + 2 };
  if (t === "$") {
    const n = Number(line);
    if (n < 0) return { v: null, i: nl + 2 };
    if (b.length < nl + 2 + n + 2) return null;
    return { v: b.toString("utf8", nl + 2, nl + 2 + n), i: nl + 2 + n + 2 };
  }
  if (t === "*") {
    const n = Number(line), out = [];
    let j = nl + 2;
    for (let k = 0; k < n; k++) {
      const r = parseRESP(b, j);
      if (!r) return null;
      out.push(r.v);
      j = r.i;
    }
    return { v: out, i: j };
  }
  return null;
}

test("§8 redis: key layout lock:{project}:file with TTL, events across instances, store down → 503 within 2 s", async () => {
  const redis = await startRedis();
  const prefix = `spec${process.pid}:`;
  const env = {
    FILELOCK_STORE_BACKEND: "redis", FILELOCK_REDIS_ADDRS: `127.0.0.1:${redis.port}`,
    FILELOCK_REDIS_KEY_PREFIX: prefix, FILELOCK_LOCK_DISCONNECT_GRACE: "500ms",
  };
  let a, b, stopped = false, tookMs = -1;
  try {
    [a, b] = await Promise.all([startServer({ env }), startServer({ env })]);
    const p = project("redis");
    const file = "images/이미지 {1}:*.jpg";
    const sse = await openSSE(`${b.baseUrl}/events/${p}`);
    try {
      await waitFor(() => sse.frames[0]);
      const r = await postJSON(a.baseUrl, "/lock", { project_id: p, file, user_id: "u1" });
      assert.equal(r.status, 200, r.text);
      // I1 across instances
      assertError(await postJSON(b.baseUrl, "/lock", { project_id: p, file, user_id: "u2" }), 409, "file_locked");
      const ev = await waitFor(() => sse.frames.find((f) => f.event === "lock_acquired"), { what: "event through Redis" });
      assert.equal(ev.data.file, file);
      assert.equal(ev.data.token, r.body.lock.token);

      const key = `${prefix}lock:{${p}}:${file}`;
      assert.equal(await redisCmd(redis.port, ["EXISTS", key]), 1, `key ${key}`);
      const pttl = await redisCmd(redis.port, ["PTTL", key]);
      assert.ok(pttl > 0, `lock key carries a Redis TTL (${pttl})`);
      const keys = await redisCmd(redis.port, ["KEYS", `${prefix}*`]);
      for (const k of keys.filter((k) => k.includes(p))) assert.ok(k.includes(`{${p}}`), `every key of the project carries its tag: ${k}`);

      // Store down (Redis stops answering): 503 store_unavailable within 2 s, /readyz fails.
      redis.child.kill("SIGSTOP");
      stopped = true;
      const t0 = Date.now();
      const down = await postJSON(a.baseUrl, "/lock", { project_id: p, file: "other", user_id: "u9" });
      const took = Date.now() - t0;
      assertError(down, 503, "store_unavailable");
      tookMs = took; // checked at the end, so that the rest is checked too
      const rz = await fetch(a.baseUrl + "/readyz");
      assert.notEqual(rz.status, 200);
      assert.equal((await fetch(a.baseUrl + "/healthz")).status, 200);
      redis.child.kill("SIGCONT");
      stopped = false;
      await waitFor(async () => (await fetch(a.baseUrl + "/readyz")).status === 200, { what: "ready again" });
      // The live stream stayed open and gets what follows.
      await postJSON(a.baseUrl, "/unlock", { project_id: p, file, user_id: "u1" });
      await waitFor(() => sse.frames.find((f) => f.event === "lock_released" && f.data.file === file), { what: "event after outage" });
      assert.equal(sse.done, false);
    } finally { sse.close(); }
  } finally {
    if (stopped) redis.child.kill("SIGCONT");
    await Promise.all([a?.stop(), b?.stop()]);
    await redis.stop();
  }
  assert.ok(tookMs >= 0 && tookMs < 2000, `a request while Redis hangs answered in ${tookMs} ms: never a hang past 2 s`);
});
