// A TCP proxy in front of a server, to cut the network in a test: cut()
// destroys every connection and refuses new ones until restore().
import { createServer, connect } from "node:net";

/** Starts a proxy on a free loopback port to target ("host:port"). */
export async function startProxy(target) {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  const sockets = new Set();
  let down = false;
  const server = createServer((client) => {
    if (down) { client.destroy(); return; }
    const upstream = connect(port, host);
    sockets.add(client); sockets.add(upstream);
    const end = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", end); upstream.on("error", end);
    client.on("close", end); upstream.on("close", end);
    client.pipe(upstream); upstream.pipe(client);
  });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  const { port: own } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${own}`,
    /** Drops every connection; new ones are refused until restore(). */
    cut() { down = true; for (const s of sockets) s.destroy(); sockets.clear(); },
    restore() { down = false; },
    close() { this.cut(); return new Promise((res) => server.close(() => res())); },
  };
}
