// Webhooks (SPEC §5) received by a Node receiver that verifies them with the
// npm package standardwebhooks, the way the README's receiver does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { startServer } from "./lib/server.mjs";

const secret = "whsec_" + randomBytes(32).toString("base64");

/**
 * A receiver like the README's: verifies each request, answers 204 (or what
 * failFirst says for the first attempts), records what it verified.
 */
async function receiver({ failFirst = 0 } = {}) {
  const wh = new Webhook(secret);
  const attempts = []; // {id, ok, status}
  const verified = []; // {id, msg}
  const waiters = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let msg;
      try {
        msg = wh.verify(Buffer.concat(chunks), req.headers);
      } catch {
        attempts.push({ id: req.headers["webhook-id"], ok: false, status: 401 });
        res.writeHead(401).end();
        return;
      }
      const id = req.headers["webhook-id"];
      if (attempts.filter((a) => a.ok).length < failFirst) {
        attempts.push({ id, ok: true, status: 500 });
        res.writeHead(500).end();
        return;
      }
      attempts.push({ id, ok: true, status: 204 });
      verified.push({ id, msg, headers: req.headers });
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  const until = async (cond, what, ms = 20000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(verified.map((v) => v.msg))}`);
      await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
    }
  };
  return { url, attempts, verified, until, close: () => new Promise((r) => server.close(r)) };
}

async function post(base, path, body) {
  const r = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

test("§5 webhooks: signed events verified by the standardwebhooks npm package, in order, retried with the same webhook-id", async () => {
  const rcv = await receiver({ failFirst: 2 });
  const srv = await startServer({ env: { FILELOCK_WEBHOOKS_URLS: rcv.url, FILELOCK_WEBHOOKS_SECRET: secret, FILELOCK_WEBHOOKS_MAX_BACKOFF: "1s" } });
  try {
    const p = "wh-" + randomBytes(4).toString("hex");
    const a = await post(srv.baseUrl, "/lock", { project_id: p, file: "images/이미지 1.jpg", user_id: "alice" });
    assert.equal(a.status, 200);
    const u = await post(srv.baseUrl, "/unlock", { project_id: p, file: "images/이미지 1.jpg", user_id: "alice" });
    assert.equal(u.status, 200);
    await rcv.until(() => rcv.verified.length >= 2, "two deliveries");

    const [acq, rel] = rcv.verified;
    assert.equal(acq.msg.type, "lock_acquired");
    assert.equal(acq.msg.data.project_id, p);
    assert.equal(acq.msg.data.file, "images/이미지 1.jpg");
    assert.equal(acq.msg.data.token, a.body.lock.token);
    assert.equal(acq.id, `${p}:${acq.msg.data.event_id}`);
    assert.ok(!Number.isNaN(Date.parse(acq.msg.timestamp)), "timestamp is RFC 3339");
    assert.equal(acq.headers["content-type"], "application/json");
    assert.equal(rel.msg.type, "lock_released");
    assert.equal(rel.msg.data.reason, "unlocked");
    assert.equal(rel.msg.data.token, a.body.lock.token);
    assert.ok(BigInt(rel.msg.data.event_id) > BigInt(acq.msg.data.event_id), "in the project's order");

    // The two refused attempts were the first event's, with its webhook-id.
    const refused = rcv.attempts.filter((x) => x.status === 500);
    assert.equal(refused.length, 2);
    for (const r of refused) assert.equal(r.id, acq.id);
    // Presence events are not delivered by default (webhooks.events).
    assert.ok(rcv.verified.every((v) => v.msg.type.startsWith("lock_")));
  } finally {
    await srv.stop();
    await rcv.close();
  }
});

test("§5 webhooks: a request signed with another secret fails the receiver's verification", async () => {
  const rcv = await receiver();
  try {
    const other = new Webhook("whsec_" + randomBytes(32).toString("base64"));
    const id = "p:1", ts = new Date();
    const body = JSON.stringify({ type: "lock_acquired", timestamp: ts.toISOString(), data: {} });
    const sig = other.sign(id, ts, body);
    const r = await fetch(rcv.url, {
      method: "POST", body,
      headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(Math.floor(ts / 1000)), "webhook-signature": sig },
    });
    assert.equal(r.status, 401);
    assert.equal(rcv.verified.length, 0);
  } finally {
    await rcv.close();
  }
});
