// A private nginx running deploy/nginx/filelock.conf.template, and a private
// Redis, for end-to-end tests of the proxy setup.
//
//   const redis = await startRedis();
//   const nginx = await startNginx({ upstreams: ["127.0.0.1:8101", "127.0.0.1:8102"] });
//   ... fetch(nginx.baseUrl + "/status/p1") ...
//   await nginx.stop(); await redis.stop();
//
// nginx runs in the foreground from a temporary prefix directory (its pid,
// logs and buffers live there; nothing under /etc or /var is touched), with
// the deploy template rendered the way the nginx image renders it: only the
// template's own variables are substituted.
import { spawn, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, freePort, waitFor } from "./server.mjs";

/** The deploy template nginx is tested with. */
export const templatePath = join(repoRoot, "deploy", "nginx", "filelock.conf.template");

/** The nginx binary: $NGINX, nginx on PATH, or Debian's /usr/sbin/nginx. */
export function nginxBinary() {
  if (process.env.NGINX) return process.env.NGINX;
  for (const dir of (process.env.PATH || "").split(":").concat(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"])) {
    const p = join(dir || ".", "nginx");
    if (dir && existsSync(p)) return p;
  }
  throw new Error("nginx not found: install it (apt-get install -y nginx; .ci/run does) or set NGINX");
}

/** Renders the template: ${NAME} of vars replaced, nginx's own $variables kept. */
export function render(template, vars) {
  const out = template.replace(/\$\{([A-Z0-9_]+)\}/g, (m, name) => {
    if (!(name in vars)) throw new Error(`template variable ${name} has no value`);
    return vars[name];
  });
  return out;
}

/**
 * Starts nginx in front of the given upstreams (host:port, two of them, as
 * the template has) on a free loopback port.
 * @returns {Promise<{baseUrl: string, port: number, prefix: string, logs: () => Promise<string>, stop: () => Promise<void>}>}
 */
export async function startNginx({ upstreams }) {
  const bin = nginxBinary();
  const prefix = await mkdtemp(join(tmpdir(), "filelock-nginx-"));
  await mkdir(join(prefix, "tmp"));
  const port = await freePort();
  const conf = render(await readFile(templatePath, "utf8"), {
    NGINX_LISTEN: `127.0.0.1:${port}`,
    FILELOCK_UPSTREAM_1: upstreams[0],
    FILELOCK_UPSTREAM_2: upstreams[1],
  });
  await writeFile(join(prefix, "filelock.conf"), conf);
  // The main file the nginx image (or a distribution) would provide,
  // with every path inside the prefix.
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  await writeFile(join(prefix, "nginx.conf"), `
${isRoot ? "user root root;" : ""}
daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log info;
events { worker_connections 1024; }
http {
    access_log ${prefix}/access.log;
    client_body_temp_path ${prefix}/tmp/client_body;
    proxy_temp_path ${prefix}/tmp/proxy;
    fastcgi_temp_path ${prefix}/tmp/fastcgi;
    uwsgi_temp_path ${prefix}/tmp/uwsgi;
    scgi_temp_path ${prefix}/tmp/scgi;
    include ${prefix}/filelock.conf;
}
`);
  const args = ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")];
  execFileSync(bin, [...args, "-t"], { stdio: "pipe" }); // a config error fails here, with nginx's message
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c) => { output += c; });
  child.stderr.setEncoding("utf8").on("data", (c) => { output += c; });
  let exited = null;
  const exit = new Promise((res) => child.once("exit", (code, signal) => { exited = { code, signal }; res(exited); }));
  const baseUrl = `http://127.0.0.1:${port}`;
  const logs = async () => output + (await readFile(join(prefix, "error.log"), "utf8").catch(() => ""));
  await waitFor(async () => {
    if (exited) throw new Error(`nginx exited (${exited.code ?? exited.signal}): ${await logs()}`);
    const res = await fetch(baseUrl + "/healthz").catch(() => null);
    return res && res.status === 200;
  }, { timeoutMs: 15000, what: "nginx to proxy /healthz" }).catch(async (e) => {
    child.kill("SIGKILL");
    throw new Error(`${e.message}\n${await logs()}`);
  });
  return {
    baseUrl, port, prefix, logs,
    accessLog: () => readFile(join(prefix, "access.log"), "utf8").catch(() => ""),
    async stop() {
      if (!exited) {
        child.kill("SIGTERM"); // fast shutdown
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exit;
        clearTimeout(killer);
      }
      await rm(prefix, { recursive: true, force: true });
    },
  };
}

/** Starts a private redis-server (no persistence) on a free loopback port. */
export async function startRedis() {
  const dir = await mkdtemp(join(tmpdir(), "filelock-redis-"));
  const port = await freePort();
  const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no",
    "--dir", dir, "--maxmemory-policy", "noeviction"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c) => { output += c; });
  child.stderr.setEncoding("utf8").on("data", (c) => { output += c; });
  let exited = null;
  const exit = new Promise((res) => child.once("exit", (code, signal) => { exited = { code, signal }; res(exited); }));
  child.once("error", (e) => { output += String(e); });
  await waitFor(() => {
    if (exited) throw new Error(`redis-server exited: ${output}`);
    return output.includes("Ready to accept connections");
  }, { timeoutMs: 10000, what: "redis-server to start" });
  return {
    addr: `127.0.0.1:${port}`,
    async stop() {
      if (!exited) { child.kill("SIGTERM"); await exit; }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
