// A small program against filelock.js's declarations (web/filelock.d.ts);
// `npm test` type-checks it with tsc --noEmit (tsconfig.json beside it).
import { FileLockClient, FileLockError, ERROR_CODES, type LockHandle, type LostInfo, type ProjectView } from "../../web/filelock.js";

const client = new FileLockClient({
  baseUrl: "http://127.0.0.1:8000",
  userId: "alice",
  transport: "ws",
  token: async () => "a.jwt.token",
  headers: { "X-API-Key": "key" },
  timeoutMs: 5000,
});

const offState = client.on("state", (state, error) => {
  if (state === "failed") console.error("refused for good:", error?.code);
});
client.on("lockLost", (info: LostInfo) => console.warn(`${info.file} lost: ${info.reason} (token ${info.lock.token})`));

const project = client.project("1234");
project.on("change", (view: ProjectView) => {
  const mine = view.myLock;
  console.log(view.connection, view.locks.length, mine ? mine.file : "-", view.users.join(","));
});

async function label(files: string[]): Promise<void> {
  let handle: LockHandle;
  try {
    handle = await project.claim(files, { ttlSeconds: 60, signal: AbortSignal.timeout(3000) });
  } catch (err) {
    if (err instanceof FileLockError && err.code === "none_free") return;
    if (err instanceof FileLockError && err.code === "file_locked") console.log("held by", err.lock?.user);
    throw err;
  }
  const expires: Date = handle.expiresAt;
  console.log(handle.file, handle.token, expires.toISOString(), handle.renewed, handle.released?.file);
  const lost = handle.lost.then((info) => info.reason);
  const done = new Promise<"saved">((resolve) => setTimeout(() => resolve("saved"), 1000));
  const outcome = await Promise.race([lost, done]);
  if (outcome === "saved") {
    const released: boolean = await handle.release();
    console.log(released);
  }
  const other = await project.lock("images/b.jpg", { releasePrevious: true, autoHeartbeat: false });
  await other.heartbeat({ timeoutMs: 2000 });
  await project.unlock(other.file, { token: other.token });
}

// The single-project form.
const single = new FileLockClient({ projectId: "p1", userId: "bob" });
const off = single.onChange((s) => console.log(s.connection, s.lost?.reason));
single.onEvent((name, data) => console.log(name, data.event_id, data.file));
const codes: string[] = Object.keys(ERROR_CODES);

void label(["images/a.jpg"]).finally(() => { off(); offState(); single.close(); client.close(); console.log(codes); });
