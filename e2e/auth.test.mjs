// auth.mode jwt with the real socket.io-client: a refused handshake is a
// connect_error whose data is {code, message}; a valid token connects and
// is held to its claims.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { io } from "socket.io-client";
import { startServer } from "./lib/server.mjs";

const secret = "e2e-secret-0123456789abcdef-0123456789";
let srv;
before(async () => {
  srv = await startServer({ env: { FILELOCK_AUTH_MODE: "jwt", FILELOCK_AUTH_JWT_SECRET: secret } });
});
after(async () => { await srv?.stop(); });

/** An HS256 token with the given claims (exp defaults to an hour from now). */
function mint(claims, key = secret) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac("sha256", key).update(body).digest("base64url")}`;
}

/** Resolves with the socket once connected, or rejects with the connect_error. */
function connect(opts) {
  const socket = io(srv.baseUrl, { reconnection: false, ...opts });
  return new Promise((res, rej) => {
    socket.once("connect", () => res(socket));
    socket.once("connect_error", (err) => { socket.close(); rej(err); });
  });
}

for (const [label, opts] of [["default transports", {}], ["websocket only", { transports: ["websocket"] }]]) {
  test(`socket.io-client ${label}: refused handshakes are connect_error`, async () => {
    for (const [what, auth] of [
      ["no token", undefined],
      ["bad signature", { token: mint({ sub: "alice", projects: ["p1"] }, "another-secret") }],
      ["expired", { token: mint({ sub: "alice", projects: ["p1"], exp: 1 }) }],
    ]) {
      const err = await connect({ ...opts, auth }).then(
        (s) => { s.close(); assert.fail(`${what}: connected`); },
        (e) => e,
      );
      assert.equal(err.data?.code, "unauthorized", `${what}: ${err.message}`);
      assert.ok(err.data?.message, `${what}: connect_error data without message`);
    }
  });

  test(`socket.io-client ${label}: a valid token is held to its claims`, async () => {
    const socket = await connect({ ...opts, auth: { token: mint({ sub: "alice", projects: ["p1"] }) } });
    try {
      const call = (name, data) => new Promise((res) => socket.emit(name, data, res));
      const joined = await call("join_project", { project_id: "p1" });
      assert.equal(joined.ok, true);
      assert.deepEqual(joined.users, ["alice"]);
      assert.equal((await call("join_project", { project_id: "p2" })).error.code, "forbidden");
      assert.equal((await call("lock", { project_id: "p1", file: "a.jpg", user_id: "bob" })).error.code, "user_mismatch");
      assert.equal((await call("unlock", { project_id: "p1", file: "a.jpg", force: true })).error.code, "forbidden");
    } finally {
      socket.close();
    }
  });
}
