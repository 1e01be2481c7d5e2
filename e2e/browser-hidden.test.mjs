// The demo page in a background tab of a real (headed, on Xvfb) Chromium:
// hidden, its timers throttled as Chromium does for background tabs, with
// locks of a 6 s TTL. The page's lock must live on for four TTLs and more,
// and its lock map stay right. (filelock.js runs its heartbeat timers in a
// worker, which Chromium does not throttle, not even to once a minute as it
// does a page's chained timers after five minutes in the background.)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { launchTabs } from "./lib/tabs.mjs";
import { getStatus, postJSON, startServer, waitFor } from "./lib/server.mjs";

const TTL_S = 6;

let srv;
let tabs;
before(async () => {
  srv = await startServer();
  tabs = await launchTabs();
});
after(async () => {
  await tabs?.close();
  await srv?.stop();
});

const HIDDEN_MS = 4 * TTL_S * 1000;

for (const transport of ["sse", "ws", "socketio"]) {
  test(`over ${transport}: a hidden tab keeps a ${TTL_S} s lock for ${HIDDEN_MS / 1000} s`, async () => {
    const project = `hidden-${transport}`;
    const file = "images/scene-04.svg";
    const page = await tabs.open(`${srv.baseUrl}/?project=${project}&user=dora&transport=${transport}&ttl=${TTL_S}`);
    try {
      await waitFor(() => page.eval(`document.querySelector('#conn')?.dataset.connection === "open"`), { timeoutMs: 15000, what: "the page live" });
      await waitFor(() => page.eval(`!!document.querySelector('.tile[data-file="${file}"]')`), { timeoutMs: 5000, what: "the tile" });
      await page.eval(`document.querySelector('.tile[data-file="${file}"]').click()`);
      await waitFor(() => page.eval(`document.querySelector('.tile[data-file="${file}"]').dataset.state === "mine"`), { timeoutMs: 5000, what: "the lock" });
      assert.equal(await page.eval(`!!window.filelockDemo.client._timers._worker`), true, "the heartbeat timers do not run in a worker");
      const first = (await getStatus(srv.baseUrl, project)).locks[0];
      assert.equal(first.user, "dora");
      assert.ok(Date.parse(first.expires_at) - Date.parse(first.acquired_at) <= TTL_S * 1000);

      // Another tab in front: this one is hidden, and its timers are throttled.
      await page.eval(`window.__ticks = []; { let last = Date.now(); const f = () => { const n = Date.now(); window.__ticks.push(n - last); last = n; setTimeout(f, 100); }; f(); } 1`);
      const other = await tabs.open("about:blank");
      try {
        await waitFor(() => page.eval(`document.visibilityState === "hidden"`), { timeoutMs: 5000, what: "the page hidden" });
        const hiddenAt = Date.now();
        // The lock must be there, same token, at every look until well past its TTL.
        while (Date.now() - hiddenAt < HIDDEN_MS) {
          const l = (await getStatus(srv.baseUrl, project)).locks.find((x) => x.file === file);
          assert.equal(l?.token, first.token, `the lock was gone ${Date.now() - hiddenAt} ms into the background`);
          await new Promise((r) => setTimeout(r, 500)); // the next look
        }
        const ticks = await page.eval(`window.__ticks.slice(-5)`);
        assert.ok(ticks.every((t) => t >= 900), `the background tab's timers were not throttled: ${ticks}`);
        // Meanwhile someone else took a file: the hidden page has it.
        assert.equal((await postJSON(srv.baseUrl, "/lock", { project_id: project, file: "images/scene-05.svg", user_id: "erin" })).status, 200);
        await waitFor(() => page.eval(`document.querySelector('.tile[data-file="images/scene-05.svg"]').dataset.holder === "erin"`),
          { timeoutMs: 5000, what: "erin's lock on the hidden page" });
      } finally {
        await tabs.activate(page);
        other.close();
      }
      await waitFor(() => page.eval(`document.visibilityState === "visible"`), { timeoutMs: 5000, what: "the page visible again" });
      assert.equal(await page.eval(`document.querySelector('.tile[data-file="${file}"]').dataset.state`), "mine");
      assert.equal(await page.eval(`document.querySelectorAll('#banner[data-kind="lost"]').length`), 0);
      assert.deepEqual(page.errors, []);
      await page.eval(`document.querySelector('#release').click()`);
      await waitFor(async () => (await getStatus(srv.baseUrl, project)).locks.every((l) => l.file !== file), { what: "the release" });
    } finally {
      page.close();
    }
  });
}
