// A real, headed Chromium on a private Xvfb display, driven over the
// DevTools protocol, for what headless Chromium cannot show: a background
// tab. Tabs of one window are switched like a user does; the tab left
// behind is hidden (document.visibilityState "hidden") and Chromium throttles
// its timers as it does for any background tab (to once a second). Playwright is not used here:
// it emulates focus on the pages it drives, which keeps them visible.
//
//   const tabs = await launchTabs();
//   const a = await tabs.open(url);      // a new tab, in front
//   await a.eval("document.title");
//   const b = await tabs.open("about:blank"); // a is now in the background
//   await tabs.activate(a);
//   await tabs.close();
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { chromiumPath } from "./browser.mjs";
import { freePort, waitFor } from "./server.mjs";

/** Starts Xvfb and Chromium; fails with a clear message when either is missing. */
export async function launchTabs() {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium`);
  const xvfb = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x900x24", "-nolisten", "tcp"], { stdio: ["ignore", "ignore", "pipe", "pipe"] });
  const display = await new Promise((res, rej) => {
    let out = "";
    xvfb.once("error", (e) => rej(new Error(`cannot start Xvfb (apt-get install -y xvfb): ${e.message}`)));
    xvfb.stdio[3].on("data", (d) => { out += d; if (out.includes("\n")) res(`:${out.trim()}`); });
    xvfb.once("exit", (code) => rej(new Error(`Xvfb exited (${code})`)));
  });
  const dir = await mkdtemp(join(tmpdir(), "filelock-tabs-"));
  const port = await freePort();
  const chrome = spawn(chromiumPath, [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
    `--user-data-dir=${dir}`, `--remote-debugging-port=${port}`, "--remote-allow-origins=*", "about:blank",
  ], { env: { ...process.env, DISPLAY: display }, stdio: "ignore" });
  const http = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${http}/json/version`)).ok, { timeoutMs: 20000, what: "Chromium's DevTools endpoint" });

  return {
    /** Opens url in a new tab of the window, in front. */
    async open(url) {
      const target = await (await fetch(`${http}/json/new?${encodeURIComponent(url)}`, { method: "PUT" })).json();
      await fetch(`${http}/json/activate/${target.id}`);
      return connectTab(target);
    },
    /** Brings tab to the front (the one in front before goes to the background). */
    async activate(tab) { await fetch(`${http}/json/activate/${tab.id}`); },
    async close() {
      chrome.kill("SIGKILL");
      xvfb.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

async function connectTab(target) {
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.once("open", res); ws.once("error", rej); });
  let id = 0;
  const pending = new Map();
  const errors = [];
  ws.on("message", (m) => {
    const msg = JSON.parse(m);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
    if (msg.method === "Runtime.exceptionThrown") errors.push(msg.params.exceptionDetails?.exception?.description || "exception");
  });
  const send = (method, params = {}) => new Promise((res) => { const n = ++id; pending.set(n, res); ws.send(JSON.stringify({ id: n, method, params })); });
  await send("Runtime.enable");
  return {
    id: target.id,
    /** Uncaught exceptions of the page. */
    errors,
    /** Evaluates expr in the page (promises awaited); resolves with its JSON value. */
    async eval(expr) {
      const r = await send("Runtime.evaluate", { expression: expr, returnByValue: true, awaitPromise: true });
      if (r.error || r.result?.exceptionDetails) throw new Error(`eval ${expr}: ${JSON.stringify(r.error || r.result.exceptionDetails)}`);
      return r.result.result.value;
    },
    close() { ws.close(); },
  };
}
