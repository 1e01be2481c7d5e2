// filelock.js in a real browser against a filelockd in auth.mode jwt: the
// client's token is a function handing out tokens that live a few seconds;
// the client must get a fresh one ahead of each expiry and move its
// connection over to it without ever dropping it (no reconnect, no
// user_left, same lock), over every transport.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { launchBrowser } from "./lib/browser.mjs";
import { mintJWT } from "./lib/jwt.mjs";
import { postJSON, startServer, waitFor } from "./lib/server.mjs";

const secret = randomBytes(24).toString("hex");
const GRACE = "3s"; // lock.disconnect_grace
const LEEWAY = "1s"; // the server's clock leeway on exp
const SHORT_S = 5; // a short-lived token's life

let srv;
let browser;
const pageErrors = [];

before(async () => {
  srv = await startServer({
    env: {
      FILELOCK_AUTH_MODE: "jwt",
      FILELOCK_AUTH_JWT_SECRET: secret,
      FILELOCK_LOCK_DISCONNECT_GRACE: GRACE,
      FILELOCK_AUTH_JWT_LEEWAY: LEEWAY,
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const now = () => Math.floor(Date.now() / 1000);
/** A token of sub for projects, valid for an hour. */
const longToken = (sub, projects) => mintJWT(secret, { sub, projects });
/** A token that lives SHORT_S s. */
const shortToken = (sub, projects) => mintJWT(secret, { sub, projects, iat: now(), exp: now() + SHORT_S });
const bearer = (token) => ({ Authorization: `Bearer ${token}` });

/** GET /status/{project} with token; resolves with {status, body}. */
async function status(project, token) {
  const res = await fetch(`${srv.baseUrl}/status/${encodeURIComponent(project)}`, { headers: bearer(token) });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/**
 * Opens the demo page's origin in a fresh context, with window.mintToken()
 * handing out tokens of user for project: short-lived ones, or first(n) for
 * the nth token when given. minted lists what was handed out.
 */
async function openPage(user, project, first) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  const minted = [];
  await page.exposeFunction("mintToken", () => {
    const t = (first && first(minted.length)) || shortToken(user, [project]);
    minted.push(t);
    return t;
  });
  await page.goto(`${srv.baseUrl}/`);
  return { context, page, minted };
}

/**
 * In the page: a FileLockClient whose token is a function, kept as
 * window.t = {fl, log}; log.connections lists the connection states in
 * order, log.events the events seen. Resolves once it is open (unless
 * autoConnect is false).
 */
function startClient(page, opts) {
  return page.evaluate(async ({ transport, project, user, autoConnect }) => {
    const { FileLockClient } = await import("/filelock.js");
    const io = transport === "socketio" ? (await import("/static/vendor/socket.io.esm.min.js")).io : undefined;
    const log = { connections: [], events: [] };
    const fl = new FileLockClient({
      projectId: project, userId: user, transport, io, autoConnect,
      token: () => window.mintToken(), // async: a Promise from the test
    });
    window.t = { fl, log };
    fl.onChange((s) => { if (log.connections.at(-1) !== s.connection) log.connections.push(s.connection); });
    fl.onEvent((name, d) => log.events.push({ name, user: d.user, file: d.file, token: d.token, reason: d.reason }));
    if (autoConnect === false) return;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not open: ${fl.connection} ${JSON.stringify(fl.lastError)}`)), 10000);
      fl.onChange((s) => { if (s.connection === "open") { clearTimeout(timer); resolve(); } });
    });
  }, opts);
}

describe("filelock.js refreshes its token ahead of exp", () => {
  for (const transport of ["sse", "ws", "socketio"]) {
    test(`over ${transport}: a fresh token before each expiry, the connection and the lock kept`, async () => {
      const project = `jwt-${transport}`;
      const file = "images/a.jpg";
      const admin = longToken("watcher", [project]);
      const { context, page, minted } = await openPage("alice", project);
      try {
        await startClient(page, { transport, project, user: "alice" });
        const lock = await page.evaluate((f) => window.t.fl.lock(f).then((h) => h.lock), file);
        assert.equal(lock.user, "alice");
        assert.equal(minted.length, 1, "the token is kept for the connection and commands");

        // The first token dies; before that the client got a fresh one.
        await waitFor(async () => minted.length >= 2 && (await status(project, minted[0])).status === 401,
          { timeoutMs: (SHORT_S + 5) * 1000, intervalMs: 100, what: "the first token to expire, a second one minted" });
        await new Promise((r) => setTimeout(r, 1500)); // what is checked: that nothing dropped meanwhile
        const seen = await page.evaluate(() => ({
          connections: window.t.log.connections,
          events: window.t.log.events,
          mine: window.t.fl.myLock(),
          lost: window.t.fl.lost,
        }));
        assert.deepEqual(seen.connections, ["connecting", "open"], "the connection dropped");

        // Same lock, same fencing token, on the server and in the client.
        const st = await status(project, admin);
        assert.equal(st.status, 200);
        assert.deepEqual(st.body.locks.map((l) => [l.file, l.user, l.token]), [[file, "alice", lock.token]]);
        assert.equal(seen.mine?.token, lock.token);
        assert.equal(seen.lost, null);
        assert.deepEqual(seen.events.filter((e) => e.name === "lock_released" || (e.name === "user_left" && e.user === "alice")), []);
        assert.equal(seen.events.filter((e) => e.name === "snapshot").length, 1, "a rejoin snapshot");

        // Live on the new connection: a lock taken by bob reaches alice.
        const res = await postJSON(srv.baseUrl, "/lock", { project_id: project, file: "images/b.jpg", user_id: "bob" },
          bearer(longToken("bob", [project])));
        assert.equal(res.status, 200, res.text);
        await waitFor(() => page.evaluate(() => window.t.log.events.some((e) =>
          e.name === "lock_acquired" && e.user === "bob" && e.file === "images/b.jpg")),
        { timeoutMs: 2000, what: "bob's lock_acquired in alice's client" });
        assert.equal(await page.evaluate(() => window.t.fl.lockOf("images/b.jpg")?.user), "bob");

        // Commands go through with the fresh token.
        const hb = await page.evaluate(() => window.t.fl.heartbeat());
        assert.equal(hb?.token, lock.token);
        await page.evaluate((f) => window.t.fl.unlock(f), file);
        assert.deepEqual((await status(project, admin)).body.locks.map((l) => l.user), ["bob"]);
        await page.evaluate(() => window.t.fl.close());
      } finally {
        await context.close();
      }
    });
  }

  test("a REST command refused with 401 is sent again with a fresh token", async () => {
    const project = "jwt-rest";
    const file = "images/c.jpg";
    // The first token is one the server refuses (signed with another secret).
    const { context, page, minted } = await openPage("carol", project,
      (n) => (n === 0 ? mintJWT("another-secret-of-32-bytes-or-more", { sub: "carol", projects: [project] }) : longToken("carol", [project])));
    try {
      // No stream: commands only, over REST.
      await startClient(page, { transport: "sse", project, user: "carol", autoConnect: false });
      const lock = await page.evaluate((f) => window.t.fl.lock(f).then((h) => h.lock), file);
      assert.equal(lock.user, "carol");
      assert.equal(minted.length, 2, "one fresh token after the 401");
      const reply = await page.evaluate((f) => window.t.fl.unlock(f), file);
      assert.equal(reply.lock?.token, lock.token);
      assert.equal(minted.length, 2);
      const st = await status(project, longToken("watcher", [project]));
      assert.deepEqual(st.body.locks, []);
      await page.evaluate(() => window.t.fl.close());
    } finally {
      await context.close();
    }
  });

  for (const transport of ["sse", "ws", "socketio"]) {
    test(`the demo page without a token over ${transport}: failed, unauthorized, said on the page`, async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.on("pageerror", (e) => pageErrors.push(`nobody: ${e.message}`));
        await page.goto(`${srv.baseUrl}/?project=jwt-page&user=nobody&transport=${transport}`);
        await page.locator('#conn[data-connection="failed"]').waitFor({ timeout: 10000 });
        await page.locator('#banner[data-kind="error"][data-code="unauthorized"]').waitFor({ timeout: 1000 });
        const started = Date.now();
        await page.click('.tile[data-file="images/scene-01.svg"]');
        await page.locator('#toast[data-code="unauthorized"]').waitFor({ timeout: 2000 });
        assert.ok(Date.now() - started < 2000);
      } finally {
        await context.close();
      }
    });
  }

  test("no errors in the pages", () => {
    assert.deepEqual(pageErrors, [], "uncaught errors in the page");
  });
});
