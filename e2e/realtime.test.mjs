// Realtime transports with the real npm clients: socket.io-client 4.x
// (default transports, i.e. polling then upgrade, and websocket only) and
// the eventsource package (SSE resume with Last-Event-ID).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { EventSource } from "eventsource";
import { startServer, postJSON, getStatus, waitFor } from "./lib/server.mjs";

let srv;
before(async () => { srv = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: "500ms" } }); });
after(async () => { await srv?.stop(); });

let seq = 0;
const project = () => `e2e-rt-${process.pid}-${++seq}`;

/** Connects a Socket.IO client and records the events it receives. */
async function connectSIO(opts) {
  const socket = io(srv.baseUrl, { reconnection: false, ...opts });
  const events = [];
  for (const name of ["snapshot", "lock_acquired", "lock_released", "user_joined", "user_left"]) {
    socket.on(name, (data) => events.push({ name, data }));
  }
  await new Promise((res, rej) => { socket.once("connect", res); socket.once("connect_error", rej); });
  return { socket, events };
}

const call = (socket, name, data) => new Promise((res) => socket.emit(name, data, res));

for (const [label, opts] of [["default transports", {}], ["websocket only", { transports: ["websocket"] }]]) {
  test(`socket.io-client ${label}: join, lock via ack, events`, async () => {
    const p = project();
    const { socket, events } = await connectSIO(opts);
    try {
      const joined = await call(socket, "join_project", { project_id: p, user_id: "alice" });
      assert.equal(joined.ok, true);
      assert.equal(joined.project_id, p);
      assert.deepEqual(joined.users, ["alice"]);
      assert.ok(Array.isArray(joined.locks) && typeof joined.event_id === "string");
      await waitFor(() => events.find((e) => e.name === "snapshot"), { what: "snapshot" });

      const locked = await call(socket, "lock", { project_id: p, file: "images/이미지1.jpg" });
      assert.equal(locked.ok, true);
      assert.equal(locked.acquired, true);
      assert.equal(locked.lock.user, "alice");
      const acquired = await waitFor(() => events.find((e) => e.name === "lock_acquired"), { what: "lock_acquired" });
      assert.equal(acquired.data.file, "images/이미지1.jpg");
      assert.equal(acquired.data.token, locked.lock.token);

      // Another user's lock through REST reaches the socket too.
      const rest = await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "bob" });
      assert.equal(rest.status, 200);
      await waitFor(() => events.find((e) => e.name === "lock_acquired" && e.data.user === "bob"), { what: "bob's lock" });

      const refused = await call(socket, "lock", { project_id: p, file: "b.jpg" });
      assert.equal(refused.ok, false);
      assert.equal(refused.error.code, "file_locked");
      assert.equal(refused.lock.user, "bob");

      const mismatch = await call(socket, "join_project", { project_id: p, user_id: "mallory" });
      assert.equal(mismatch.error.code, "user_mismatch");

      const unlocked = await call(socket, "unlock", { project_id: p, file: "images/이미지1.jpg" });
      assert.deepEqual([unlocked.ok, unlocked.released], [true, true]);
      const rel = await waitFor(() => events.find((e) => e.name === "lock_released" && e.data.user === "alice"), { what: "release" });
      assert.equal(rel.data.reason, "unlocked");
      // event ids grow in the order received
      const ids = events.filter((e) => e.name !== "snapshot").map((e) => BigInt(e.data.event_id));
      assert.deepEqual(ids, [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    } finally {
      socket.close();
    }
  });
}

test("socket.io disconnect releases the lock after the grace", async () => {
  const p = project();
  const { socket } = await connectSIO({});
  await call(socket, "join_project", { project_id: p, user_id: "carol" });
  assert.equal((await call(socket, "lock", { project_id: p, file: "c.jpg" })).ok, true);
  socket.close();
  await waitFor(async () => (await getStatus(srv.baseUrl, p)).locks.length === 0, { what: "disconnect release" });
});

test("eventsource: snapshot first, then resume with Last-Event-ID", async () => {
  const p = project();
  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "a.jpg", user_id: "u1" });
  const seen = [];
  const record = (es) => {
    for (const name of ["snapshot", "lock_acquired", "lock_released"]) {
      es.addEventListener(name, (ev) => seen.push({ name, id: ev.lastEventId, data: JSON.parse(ev.data) }));
    }
  };
  // A reference subscriber that stays connected throughout: what it sees
  // after the resume point is what the resumed stream must replay (ids only
  // grow, by any step, so the reference is another stream, not id + 1).
  const live = [];
  const ref = new EventSource(`${srv.baseUrl}/events/${p}`);
  for (const name of ["snapshot", "lock_acquired", "lock_released"]) {
    ref.addEventListener(name, (ev) => live.push({ name, id: ev.lastEventId, data: JSON.parse(ev.data) }));
  }
  await waitFor(() => live.find((e) => e.name === "snapshot"), { what: "reference snapshot" });
  const es = new EventSource(`${srv.baseUrl}/events/${p}`);
  record(es);
  const snap = await waitFor(() => seen.find((e) => e.name === "snapshot"), { what: "snapshot" });
  assert.equal(snap.data.locks.length, 1);
  assert.equal(snap.id, snap.data.event_id);
  await postJSON(srv.baseUrl, "/unlock", { project_id: p, file: "a.jpg", user_id: "u1" });
  const rel = await waitFor(() => seen.find((e) => e.name === "lock_released"), { what: "release" });
  es.close();

  // Missed while away: two events. A stream resumed from the last id seen
  // replays exactly those, without a snapshot.
  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "b.jpg", user_id: "u2" });
  await postJSON(srv.baseUrl, "/lock", { project_id: p, file: "c.jpg", user_id: "u3" });
  seen.length = 0;
  const resumed = new EventSource(`${srv.baseUrl}/events/${p}`, {
    fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, "Last-Event-ID": rel.id } }),
  });
  record(resumed);
  try {
    const { last_event_id: last } = await getStatus(srv.baseUrl, p);
    await waitFor(() => seen.some((e) => e.id === last) && live.some((e) => e.id === last), { what: "replay" });
    assert.deepEqual(seen.map((e) => [e.name, e.data.file]), [["lock_acquired", "b.jpg"], ["lock_acquired", "c.jpg"]]);
    assert.equal(live.some((e) => e.id === rel.id), true, "the reference saw the resume point");
    const missed = live.slice(live.findIndex((e) => e.id === rel.id) + 1);
    assert.deepEqual(seen, missed, "the replay is what the live subscriber saw after the resume point");
    for (const e of seen) assert.equal(e.id, e.data.event_id);
  } finally {
    resumed.close();
    ref.close();
  }
});
