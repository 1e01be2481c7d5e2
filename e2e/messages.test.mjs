// The message commands of SPEC §5 with the real npm clients, over both
// message transports: Socket.IO (socket.io-client 4.x, acknowledgements)
// and WebSocket (the ws package, {"event","data","ref"} frames):
// claim, join_project resumed from last_event_id, and the per-connection
// join limits (limits.max_projects_per_connection, one user).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { startServer, postJSON, getStatus, waitFor } from "./lib/server.mjs";

let srv;
before(async () => {
  srv = await startServer({ env: { FILELOCK_LIMITS_MAX_PROJECTS_PER_CONNECTION: "3" } });
});
after(async () => { await srv?.stop(); });

let seq = 0;
const project = () => `e2e-msg-${process.pid}-${++seq}`;

const EVENTS = ["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"];

/** A Socket.IO client: call(name, data) resolves with the ack's argument. */
async function sioClient() {
  const socket = io(srv.baseUrl, { reconnection: false, transports: ["websocket"] });
  const events = [];
  for (const name of EVENTS) socket.on(name, (data) => events.push({ name, data }));
  await new Promise((res, rej) => { socket.once("connect", res); socket.once("connect_error", rej); });
  return {
    label: "socket.io",
    events,
    call: (name, data) => new Promise((res) => socket.emit(name, data, res)),
    close: () => socket.close(),
  };
}

/** A WebSocket client: call(name, data) resolves with the reply's data. */
async function wsClient() {
  const ws = new WebSocket(srv.baseUrl.replace(/^http/, "ws") + "/ws");
  const events = [];
  const pending = new Map();
  let ref = 0;
  ws.on("message", (raw) => {
    const f = JSON.parse(raw.toString());
    if (f.event === "reply") {
      pending.get(f.ref)?.(f.data);
      pending.delete(f.ref);
    } else if (EVENTS.includes(f.event)) {
      events.push({ name: f.event, data: f.data });
    }
  });
  await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
  return {
    label: "websocket",
    events,
    call: (name, data) => new Promise((res) => {
      const r = `r${++ref}`;
      pending.set(r, res);
      ws.send(JSON.stringify({ event: name, data, ref: r }));
    }),
    close: () => ws.close(),
  };
}

for (const connect of [sioClient, wsClient]) {
  test(`${connect.name}: claim takes the first free file, as REST /claim`, async () => {
    const p = project();
    assert.equal((await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "1.jpg", user_id: "bob" })).status, 200);
    const c = await connect();
    try {
      assert.equal((await c.call("join_project", { project_id: p, user_id: "alice" })).ok, true);
      const got = await c.call("claim", { project_id: p, files: ["1.jpg", "2.jpg", "3.jpg"], ttl_seconds: 30 });
      assert.equal(got.ok, true);
      assert.equal(got.acquired, true);
      assert.equal(got.renewed, false);
      assert.equal(got.lock.file, "2.jpg");
      assert.equal(got.lock.user, "alice");
      assert.equal(got.heartbeat_interval_seconds, 10);
      await waitFor(() => c.events.find((e) => e.name === "lock_acquired" && e.data.file === "2.jpg"), { what: "lock_acquired" });

      const own = await c.call("claim", { project_id: p, files: ["2.jpg"] });
      assert.deepEqual([own.ok, own.renewed, own.lock.file, own.lock.token], [true, true, "2.jpg", got.lock.token]);

      const none = await c.call("claim", { project_id: p, files: ["1.jpg"] });
      assert.equal(none.ok, false);
      assert.equal(none.error.code, "none_free");
      assert.equal(none.lock, undefined);

      const bad = await c.call("claim", { project_id: p, files: [] });
      assert.deepEqual([bad.ok, bad.error.code, bad.error.field], [false, "invalid_request", "files"]);
      assert.deepEqual((await getStatus(srv.baseUrl, p)).locks.map((l) => [l.file, l.user]), [["1.jpg", "bob"], ["2.jpg", "alice"]]);
    } finally {
      c.close();
    }
  });

  test(`${connect.name}: join_project with last_event_id resumes without a snapshot`, async () => {
    const p = project();
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u1" });
    const from = (await getStatus(srv.baseUrl, p)).last_event_id;
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "u2" });
    await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "c.jpg", user_id: "u3" });

    const c = await connect();
    try {
      const r = await c.call("join_project", { project_id: p, user_id: "watcher", last_event_id: from });
      assert.deepEqual(r, { ok: true, project_id: p, resumed: true });
      await waitFor(() => c.events.filter((e) => e.name === "lock_acquired").length >= 2, { what: "replay" });
      assert.deepEqual(c.events.filter((e) => e.name === "lock_acquired").map((e) => e.data.file), ["b.jpg", "c.jpg"]);
      assert.equal(BigInt(c.events[0].data.event_id), BigInt(from) + 1n);
      assert.equal(c.events.some((e) => e.name === "snapshot"), false);
    } finally {
      c.close();
    }

    // An id the history does not hold: a fresh snapshot, in the reply and as an event.
    const d = await connect();
    try {
      const r = await d.call("join_project", { project_id: p, user_id: "watcher", last_event_id: "99999999999999999" });
      assert.equal(r.ok, true);
      assert.equal(r.resumed, undefined);
      assert.deepEqual(r.locks.map((l) => l.file), ["a.jpg", "b.jpg", "c.jpg"]);
      const snap = await waitFor(() => d.events.find((e) => e.name === "snapshot"), { what: "snapshot" });
      assert.equal(snap.data.event_id, r.event_id);
    } finally {
      d.close();
    }
  });

  test(`${connect.name}: one connection joins at most max_projects_per_connection projects, as one user`, async () => {
    const c = await connect();
    try {
      const ps = [project(), project(), project(), project()];
      for (const p of ps.slice(0, 3)) assert.equal((await c.call("join_project", { project_id: p, user_id: "dana" })).ok, true);
      const again = await c.call("join_project", { project_id: ps[0], user_id: "dana" });
      assert.equal(again.ok, true);
      const more = await c.call("join_project", { project_id: ps[3], user_id: "dana" });
      assert.deepEqual([more.ok, more.error.code], [false, "rate_limited"]);
      const other = await c.call("join_project", { project_id: ps[1], user_id: "eve" });
      assert.deepEqual([other.ok, other.error.code], [false, "user_mismatch"]);
      assert.equal((await c.call("leave_project", { project_id: ps[0] })).ok, true);
      assert.equal((await c.call("join_project", { project_id: ps[3], user_id: "dana" })).ok, true);
      assert.deepEqual((await getStatus(srv.baseUrl, ps[3])).users, ["dana"]);
    } finally {
      c.close();
    }
  });
}
