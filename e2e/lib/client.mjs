// filelock.js (web/filelock.js) in Node, with the real client libraries the
// browser has built in: ws for WebSocket, eventsource for SSE, and
// socket.io-client.
import { WebSocket } from "ws";
import { EventSource } from "eventsource";
import { io } from "socket.io-client";

export * from "../../web/filelock.js";
import { FileLockClient } from "../../web/filelock.js";

export const TRANSPORTS = ["sse", "ws", "socketio"];

/** A FileLockClient for Node: o as for the browser, the transports' libraries filled in. */
export function nodeClient(o) {
  return new FileLockClient({ WebSocket, EventSource, io, ...o });
}

/** Resolves with the first value cb is called with by emitter.on(name), or rejects after ms. */
export function once(emitter, name, { ms = 10000, filter = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`no ${name} within ${ms} ms`)); }, ms);
    const off = emitter.on(name, (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer); off(); resolve(args.length > 1 ? args : args[0]);
    });
  });
}

/** Resolves once project (or client) is in connection state, rejects after ms. */
export async function until(target, state, ms = 10000) {
  if (target.connection === state) return;
  await once(target, "state", { ms, filter: (s) => s === state });
}

/** Records everything target emits: {events, lost, states, errors}. */
export function record(target) {
  const r = { events: [], lost: [], states: [], errors: [] };
  target.on("event", (name, d) => r.events.push({ name, ...d }));
  target.on("lockLost", (info) => r.lost.push(info));
  target.on("state", (s, err) => r.states.push(err ? `${s}:${err.code}` : s));
  target.on("error", (e) => r.errors.push(e.code));
  return r;
}
