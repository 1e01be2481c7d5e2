// The demo page in a real browser: two people (alice and bob) on one project,
// each in their own browser context, against a real filelockd. Screenshots of
// every step go to e2e/artifacts/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { launchBrowser } from "./lib/browser.mjs";
import { freePort, getStatus, postJSON, startServer, waitFor } from "./lib/server.mjs";

const GRACE_MS = 3000; // lock.disconnect_grace of the server under test
const LIVE_MS = 1000; // a change must reach the other page within this
const OPEN_MS = 15000; // first load: page, client, stream
const artifacts = join(dirname(fileURLToPath(import.meta.url)), "artifacts");

let srv;
let browser;
const pageErrors = [];

before(async () => {
  await mkdir(artifacts, { recursive: true });
  srv = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: `${GRACE_MS / 1000}s` } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** Opens the demo page as user on project over transport; resolves once live. */
async function openAs(user, project, transport, viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`${user}: ${e.message}`));
  const q = new URLSearchParams({ project, user, transport });
  await page.goto(`${srv.baseUrl}/?${q}`);
  await live(page);
  return { context, page };
}

const live = (page) => page.locator('#conn[data-connection="open"]').waitFor({ timeout: OPEN_MS });
const sel = (file, extra = "") => `.tile[data-file=${JSON.stringify(file)}]${extra}`;

/** Waits until page shows file in state (mine|theirs|free), held by holder. */
function tileState(page, file, state, { holder, timeout = LIVE_MS } = {}) {
  const h = holder === undefined ? "" : `[data-holder=${JSON.stringify(holder)}]`;
  return page.locator(sel(file, `[data-state="${state}"]${h}`)).waitFor({ state: "attached", timeout });
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, name), animations: "disabled" });

function assertNoPageErrors() {
  assert.deepEqual(pageErrors, [], "uncaught errors in the page");
}

describe("demo page over SSE", () => {
  const project = "e2e-sse";
  const first = "images/scene-01.svg";
  const second = "images/scene-02.svg";
  let alice;
  let bob;

  before(async () => {
    alice = await openAs("alice", project, "sse");
    bob = await openAs("bob", project, "sse");
  });
  after(async () => {
    await alice?.context.close().catch(() => {});
    await bob?.context.close().catch(() => {});
  });

  test("presence: each page lists both users online", async () => {
    await alice.page.locator('#users [data-user="bob"][data-online="true"]').waitFor({ timeout: LIVE_MS });
    await bob.page.locator('#users [data-user="alice"][data-online="true"]').waitFor({ timeout: LIVE_MS });
  });

  test("alice locks an image; bob sees it locked by alice within 1 s", async () => {
    await alice.page.click(sel(first));
    await tileState(alice.page, first, "mine", { timeout: 5000 });
    // The lock exists on the server now; bob's page must show it within LIVE_MS.
    await tileState(bob.page, first, "theirs", { holder: "alice" });
    await alice.page.locator(`#mylock[data-file=${JSON.stringify(first)}]`).waitFor({ timeout: LIVE_MS });
    const countdown = await alice.page.locator("#mylock-countdown").textContent();
    assert.match(countdown, /expires in \d+:\d\d/);
    await shot(alice.page, "01-alice-locked.png");
    await shot(bob.page, "02-bob-sees-alice-lock.png");
  });

  test("bob's click on alice's image is refused and names alice", async () => {
    await bob.page.click(sel(first));
    const toast = bob.page.locator('#toast[data-kind="refused"][data-holder="alice"]');
    await toast.waitFor({ timeout: 5000 });
    assert.match(await toast.textContent(), /locked by alice/);
    await tileState(bob.page, first, "theirs", { holder: "alice" });
    await shot(bob.page, "03-bob-refused.png");
  });

  test("alice moves on; bob sees the first image freed within 1 s", async () => {
    await alice.page.click(sel(second));
    await tileState(alice.page, second, "mine", { timeout: 5000 });
    await tileState(alice.page, first, "free");
    await tileState(bob.page, first, "free");
    await tileState(bob.page, second, "theirs", { holder: "alice" });
    await bob.page.locator(`#log [data-event="lock_released"][data-reason="switched"][data-user="alice"]`).waitFor({ timeout: LIVE_MS });
    await shot(bob.page, "04-alice-moved-on.png");
  });

  test("alice reloads and keeps her lock", async () => {
    const before = (await getStatus(srv.baseUrl, project)).locks.find((l) => l.file === second);
    assert.equal(before?.user, "alice");
    await alice.page.reload();
    await live(alice.page);
    await tileState(alice.page, second, "mine", { timeout: 5000 });
    // The lock must outlive the grace period: watch it for longer than that.
    // (This waits on purpose: what is checked is that nothing happens.)
    await new Promise((r) => setTimeout(r, GRACE_MS + 1000));
    const status = await getStatus(srv.baseUrl, project);
    const kept = status.locks.find((l) => l.file === second);
    assert.equal(kept?.user, "alice", "alice's lock is gone after a reload");
    assert.equal(kept.token, before.token, "the lock was re-acquired, not kept");
    await tileState(bob.page, second, "theirs", { holder: "alice" });
    await tileState(alice.page, second, "mine");
    assert.equal(await bob.page.locator('#log [data-reason="disconnected"]').count(), 0);
    await shot(alice.page, "05-alice-reloaded-keeps-lock.png");
  });

  test("a lock taken away by force shows as lost on the holder's page", async () => {
    const file = "images/scene-05.svg";
    await bob.page.click(sel(file));
    await tileState(bob.page, file, "mine", { timeout: 5000 });
    const res = await postJSON(srv.baseUrl, "/unlock", { project_id: project, file, user_id: "admin", force: true });
    assert.equal(res.status, 200, res.text);
    await bob.page.locator('#banner[data-kind="lost"][data-reason="forced"]').waitFor({ timeout: LIVE_MS });
    await tileState(bob.page, file, "free");
    assert.equal(await bob.page.locator('#mylock[data-state="none"]').count(), 1);
    await shot(bob.page, "06-bob-lock-forced-away.png");
  });

  test("Next image over SSE: the first free image after yours; none free says so", async () => {
    // alice holds scene-02 (above); bob takes scene-03, the one after it.
    await bob.page.click(sel("images/scene-03.svg"));
    await tileState(bob.page, "images/scene-03.svg", "mine", { timeout: 5000 });
    await alice.page.click("#next");
    await tileState(alice.page, "images/scene-04.svg", "mine", { timeout: 5000 });
    await tileState(bob.page, "images/scene-04.svg", "theirs", { holder: "alice" });
    await tileState(alice.page, second, "free");
    // Back to scene-02 for the tests below.
    await alice.page.click(sel(second));
    await tileState(alice.page, second, "mine", { timeout: 5000 });
    await bob.page.click("#release");
    await tileState(alice.page, "images/scene-03.svg", "free");
  });

  test("alice's page closes; bob sees her lock released after the grace", async () => {
    const closedAt = Date.now();
    await alice.context.close();
    alice = null;
    await tileState(bob.page, second, "free", { timeout: GRACE_MS + 5000 });
    const took = Date.now() - closedAt;
    assert.ok(took >= GRACE_MS - 300, `released after ${took} ms, before the ${GRACE_MS} ms grace`);
    await bob.page.locator('#log [data-event="lock_released"][data-reason="disconnected"][data-user="alice"]')
      .waitFor({ timeout: LIVE_MS });
    await waitFor(async () => (await bob.page.locator('#users [data-user="alice"]').count()) === 0,
      { timeout: LIVE_MS, what: "alice to leave bob's list of users" });
    await shot(bob.page, "07-alice-closed-lock-released.png");
  });

  test("the page fits a phone's width", async () => {
    const phone = await openAs("carol", project, "sse", { width: 390, height: 844 });
    try {
      await phone.page.click(sel("images/scene-03.svg"));
      await tileState(phone.page, "images/scene-03.svg", "mine", { timeout: 5000 });
      const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
      await tileState(bob.page, "images/scene-03.svg", "theirs", { holder: "carol" });
      await shot(phone.page, "08-phone-width.png");
    } finally {
      await phone.context.close();
    }
  });

  test("no errors in the pages", assertNoPageErrors);
});

for (const [transport, label, n] of [["socketio", "Socket.IO", "09"], ["ws", "WebSocket", "10"]]) {
  describe(`demo page over ${label}`, () => {
    const project = `e2e-${transport}`;
    const file = "images/scene-07.svg";
    let alice;
    let bob;

    before(async () => {
      alice = await openAs("alice", project, transport);
      bob = await openAs("bob", project, transport);
    });
    after(async () => {
      await alice?.context.close().catch(() => {});
      await bob?.context.close().catch(() => {});
    });

    test("alice locks an image; bob sees it within 1 s and is refused", async () => {
      await bob.page.locator('#users [data-user="alice"][data-online="true"]').waitFor({ timeout: LIVE_MS });
      await alice.page.click(sel(file));
      await tileState(alice.page, file, "mine", { timeout: 5000 });
      await tileState(bob.page, file, "theirs", { holder: "alice" });
      await bob.page.click(sel(file));
      await bob.page.locator('#toast[data-kind="refused"][data-holder="alice"]').waitFor({ timeout: 5000 });
      await shot(bob.page, `${n}-${transport}-bob-sees-alice-lock.png`);
    });

    test("alice moves on and bob sees the image freed within 1 s", async () => {
      await alice.page.click(sel("images/scene-08.svg"));
      await tileState(alice.page, "images/scene-08.svg", "mine", { timeout: 5000 });
      await tileState(bob.page, file, "free");
      await tileState(bob.page, "images/scene-08.svg", "theirs", { holder: "alice" });
    });

    test("Next image claims the first free image after yours, skipping bob's", async () => {
      // alice holds scene-08; bob takes scene-09, the one after it.
      await bob.page.click(sel("images/scene-09.svg"));
      await tileState(bob.page, "images/scene-09.svg", "mine", { timeout: 5000 });
      await tileState(alice.page, "images/scene-09.svg", "theirs", { holder: "bob" });
      await alice.page.click("#next");
      await tileState(alice.page, "images/scene-10.svg", "mine", { timeout: 5000 });
      await tileState(alice.page, "images/scene-08.svg", "free");
      await tileState(bob.page, "images/scene-10.svg", "theirs", { holder: "alice" });
      await bob.page.locator(`#log [data-event="lock_released"][data-reason="switched"][data-user="alice"][data-file="images/scene-08.svg"]`)
        .waitFor({ timeout: LIVE_MS });
      assert.equal(await alice.page.locator('#banner[data-kind="lost"]').count(), 0, "a claim's own switch is no loss");
      await shot(alice.page, `${n}c-${transport}-next-image.png`);
      await bob.page.click("#release");
      await tileState(alice.page, "images/scene-09.svg", "free");
    });

    test("a file added by name round-trips; leaving releases the lock", async () => {
      const added = `images/кошка αβ "7" {a}*: ${transport}.jpg`; // 2-byte UTF-8, quotes, braces
      await alice.page.fill("#add-file", added);
      await alice.page.click('#add-form button[type="submit"]');
      await alice.page.click(sel(added));
      await tileState(alice.page, added, "mine", { timeout: 5000 });
      // bob never added it: his page shows it because it is locked.
      await tileState(bob.page, added, "theirs", { holder: "alice" });
      await bob.page.locator(sel(added)).scrollIntoViewIfNeeded();
      await shot(bob.page, `${n}b-${transport}-bob-sees-added-file.png`);
      const status = await getStatus(srv.baseUrl, project);
      assert.deepEqual(status.locks.map((l) => [l.file, l.user]), [[added, "alice"]]);
      await alice.page.click("#leave");
      await alice.page.locator("#join-form").waitFor({ timeout: 5000 });
      await bob.page.locator(`#log [data-event="lock_released"][data-reason="unlocked"][data-user="alice"]`)
        .waitFor({ timeout: LIVE_MS });
      // Once seen, the file stays on bob's grid, free.
      await tileState(bob.page, added, "free");
    });

    test("no errors in the pages", assertNoPageErrors);
  });
}

describe("issue 10.7: six event streams on one HTTP/1.1 origin", () => {
  test("over SSE a command that cannot get a connection rejects with timeout; over WebSocket seven projects share one", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      page.on("pageerror", (e) => pageErrors.push(`gina: ${e.message}`));
      await page.goto(`${srv.baseUrl}/`);
      const result = await page.evaluate(async () => {
        const { FileLockClient } = await import("/filelock.js");
        const opened = (p) => new Promise((res) => { if (p.connection === "open") res(); else p.on("state", (s) => s === "open" && res()); });
        // Six streams: the browser's every connection to the origin.
        const sse = new FileLockClient({ userId: "gina", transport: "sse", timeoutMs: 2000 });
        const streams = [1, 2, 3, 4, 5, 6].map((i) => sse.project(`e2e-six-${i}`));
        await Promise.all(streams.map(opened));
        const started = Date.now();
        const err = await streams[0].lock("images/scene-01.svg").then(() => null, (e) => e.code);
        const took = Date.now() - started;
        sse.close();
        const ws = new FileLockClient({ userId: "gina", transport: "ws" });
        const projects = [1, 2, 3, 4, 5, 6, 7].map((i) => ws.project(`e2e-seven-${i}`));
        await Promise.all(projects.map(opened));
        const h = await projects[6].lock("images/scene-01.svg");
        await h.release();
        ws.close();
        return { err, took, wsToken: h.token > 0 };
      });
      assert.equal(result.err, "timeout");
      assert.ok(result.took < 4000, `lock() took ${result.took} ms`);
      assert.equal(result.wsToken, true);
    } finally {
      await context.close();
    }
  });
});

describe("two tabs of one user", () => {
  for (const transport of ["sse", "ws", "socketio"]) {
    test(`over ${transport}: moving on in one tab shows the first tab its lock lost (switched)`, async () => {
      const project = `e2e-tabs-${transport}`;
      const one = await openAs("frank", project, transport);
      const two = await openAs("frank", project, transport);
      try {
        await one.page.click(sel("images/scene-14.svg"));
        await tileState(one.page, "images/scene-14.svg", "mine", { timeout: 5000 });
        await tileState(two.page, "images/scene-14.svg", "mine");
        await two.page.click(sel("images/scene-15.svg"));
        await tileState(two.page, "images/scene-15.svg", "mine", { timeout: 5000 });
        await one.page.locator('#banner[data-kind="lost"][data-reason="switched"]').waitFor({ timeout: LIVE_MS });
        await tileState(one.page, "images/scene-15.svg", "mine");
        await tileState(one.page, "images/scene-14.svg", "free");
        assert.equal(await two.page.locator('#banner[data-kind="lost"]').count(), 0);
      } finally {
        await one.context.close();
        await two.context.close();
      }
    });
  }
});

// A second server that tells clients to heartbeat every second, so that a
// 5 s lock only lives past its first expiry if the page keeps it alive; the
// same server is then restarted under a page.
describe("heartbeats and a server restart", () => {
  let server;
  let addr;
  const env = () => ({ FILELOCK_HTTP_ADDR: addr, FILELOCK_LOCK_HEARTBEAT_INTERVAL: "1s" });

  before(async () => {
    addr = `127.0.0.1:${await freePort()}`;
    server = await startServer({ env: env() });
  });
  after(async () => {
    await server?.stop();
  });

  for (const transport of ["sse", "ws", "socketio"]) {
    test(`the page heartbeats its lock over ${transport} and keeps it past its TTL`, async () => {
      const project = `e2e-hb-${transport}`;
      const file = "images/scene-12.svg";
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.on("pageerror", (e) => pageErrors.push(`dave: ${e.message}`));
        await page.goto(`${server.baseUrl}/?project=${project}&user=dave&transport=${transport}&ttl=5`);
        await live(page);
        await page.click(sel(file));
        await tileState(page, file, "mine", { timeout: 5000 });
        const first = (await getStatus(server.baseUrl, project)).locks[0];
        assert.equal(first.user, "dave");
        const firstExpiry = Date.parse(first.expires_at);
        assert.ok(firstExpiry - Date.parse(first.acquired_at) <= 5000, "ttl_seconds was not applied");
        // Heartbeats push expires_at forward...
        await waitFor(async () => {
          const l = (await getStatus(server.baseUrl, project)).locks[0];
          return l && Date.parse(l.expires_at) > firstExpiry;
        }, { timeoutMs: 4000, what: "a heartbeat to extend the lock" });
        // ...and the lock outlives its first expiry, same token.
        await waitFor(() => Date.now() > firstExpiry + 1500, { timeoutMs: 10000, what: "the first expiry to pass" });
        const later = (await getStatus(server.baseUrl, project)).locks[0];
        assert.equal(later?.token, first.token, "the lock did not survive its TTL");
        await tileState(page, file, "mine");
      } finally {
        await context.close();
      }
    });
  }

  test("the page shows reconnecting, comes back live and reports the lock lost", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    try {
      const page = await context.newPage();
      page.on("pageerror", (e) => pageErrors.push(`carol: ${e.message}`));
      await page.goto(`${server.baseUrl}/?project=e2e-restart&user=carol&transport=sse`);
      await live(page);
      const file = "images/scene-11.svg";
      await page.click(sel(file));
      await tileState(page, file, "mine", { timeout: 5000 });
      await server.stop();
      await page.locator('#conn[data-connection="reconnecting"]').waitFor({ timeout: 5000 });
      await page.locator('#banner[data-kind="reconnecting"]').waitFor({ timeout: LIVE_MS });
      await shot(page, "11-reconnecting.png");
      // The memory store forgets everything: the lock is gone when the page is back.
      server = await startServer({ env: env() });
      await page.locator('#conn[data-connection="open"]').waitFor({ timeout: 10000 });
      await page.locator('#banner[data-kind="lost"]').waitFor({ timeout: LIVE_MS });
      await tileState(page, file, "free");
      await shot(page, "12-back-lock-lost.png");
      // And it works again.
      await page.click(sel(file));
      await tileState(page, file, "mine", { timeout: 5000 });
      assert.equal(await page.locator('#banner[data-kind="lost"]').count(), 0);
    } finally {
      await context.close();
    }
  });

  test("no errors in the pages", assertNoPageErrors);
});
