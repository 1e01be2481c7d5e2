// Builds and runs filelockd for end-to-end tests.
//
//   const srv = await startServer({ env: { FILELOCK_LOCK_DISCONNECT_GRACE: "2s" } });
//   ... fetch(srv.baseUrl + "/status/p1") ...
//   await srv.stop();
//
// The binary is built once per test process (go build ./cmd/filelockd from
// the repository root) into a temporary directory. The server listens on a
// free loopback port (FILELOCK_HTTP_ADDR=127.0.0.1:0) and its address is read
// from its `msg=listening addr=HOST:PORT` log line.
import { spawn, execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root (e2e/ is one level below it). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

let built = null; // Promise<{bin, dir}>

/** Builds cmd/filelockd once; resolves with the binary's path. */
export async function buildServer() {
  if (!built) {
    built = (async () => {
      const dir = await mkdtemp(join(tmpdir(), "filelockd-e2e-"));
      const bin = join(dir, "filelockd");
      await promisify(execFile)("go", ["build", "-o", bin, "./cmd/filelockd"], {
        cwd: repoRoot, maxBuffer: 16 << 20, env: process.env,
      });
      process.once("exit", () => { rm(dir, { recursive: true, force: true }).catch(() => {}); });
      return { bin, dir };
    })();
  }
  return (await built).bin;
}

/**
 * Starts filelockd with the memory store on a free loopback port.
 * @param {object} [o]
 * @param {Record<string,string>} [o.env] extra FILELOCK_* settings
 * @param {string[]} [o.args] extra command-line arguments
 * @param {number} [o.startTimeoutMs] how long to wait for the listening line
 * @returns {Promise<{baseUrl: string, addr: string, port: number, logs: () => string, stop: () => Promise<void>}>}
 */
export async function startServer({ env = {}, args = [], startTimeoutMs = 15000 } = {}) {
  const bin = await buildServer();
  const child = spawn(bin, args, {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME,
      FILELOCK_HTTP_ADDR: "127.0.0.1:0",
      FILELOCK_STORE_BACKEND: "memory",
      FILELOCK_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let exited = null;
  const exit = new Promise((res) => child.once("exit", (code, signal) => { exited = { code, signal }; res(exited); }));

  const addr = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`filelockd did not log "listening" within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
    const onData = (chunk) => {
      output += chunk;
      if (output.length > 1 << 20) output = output.slice(-(1 << 19));
      for (const line of output.split("\n")) {
        if (!line.includes("listening")) continue;
        const m = line.match(/addr=(?:"?)([^\s"]+:\d+)/) || line.match(/"addr"\s*:\s*"([^"]+:\d+)"/);
        if (m) { clearTimeout(timer); res(m[1]); return; }
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    exit.then((e) => { clearTimeout(timer); rej(new Error(`filelockd exited (${e.code ?? e.signal}) before listening:\n${output}`)); });
  });
  const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
  const host = addr.slice(0, addr.lastIndexOf(":"));
  const baseUrl = `http://${host === "" || host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`;

  return {
    baseUrl, addr, port, child,
    logs: () => output,
    async stop() {
      if (exited) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 12000);
      await exit;
      clearTimeout(killer);
    },
  };
}

/** POSTs JSON to the server; resolves with {status, body}. */
export async function postJSON(baseUrl, path, body, headers = {}) {
  const res = await fetch(baseUrl + path, {
    method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json, text };
}

/** GETs /status/{projectId}; resolves with the parsed body. */
export async function getStatus(baseUrl, projectId) {
  const res = await fetch(`${baseUrl}/status/${encodeURIComponent(projectId)}`);
  if (!res.ok) throw new Error(`GET /status/${projectId}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Polls cond() until it returns a truthy value or timeoutMs passes. */
export async function waitFor(cond, { timeoutMs = 5000, intervalMs = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await cond();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A loopback TCP port that was free a moment ago (for a server restarted on the same address). */
export async function freePort() {
  const { createServer } = await import("node:net");
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}
