// The labeling demo page: a grid of a project's files, live locks, presence.
// Everything it knows about locks comes from FileLockClient (/filelock.js):
// the project's lock map and users ("change"), the events ("event"), a lock
// taken away ("lockLost"), refusals ("state" failed, "error"); the lock you
// hold is a LockHandle that heartbeats itself.
import { FileLockClient } from "/filelock.js";

const $ = (id) => document.getElementById(id);
const TRANSPORTS = ["sse", "ws", "socketio"];
const TRANSPORT_NAMES = { sse: "Server-Sent Events", ws: "WebSocket", socketio: "Socket.IO" };
const REASONS = {
  expired: "it expired (no heartbeat reached the server in time)",
  forced: "it was released by an admin",
  disconnected: "your connection was gone longer than the grace period",
  switched: "you moved on to another file in another tab or window",
  unlocked: "it was released in another tab or window",
  unknown: "it was gone when this page reconnected (released meanwhile, or the server restarted)",
};
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

let client = null; // FileLockClient
let project = null; // its Project for the session's project
let samples = []; // [{file, src, title}]
let added = []; // file names this browser added to the project
let session = null; // {project, user, transport}
const tiles = new Map(); // file → tile element
const seen = new Set(); // files seen locked this session
let lastState = null;
let toastTimer = 0;
let lostShown = null;

// ---- start ----

init();

async function init() {
  const params = new URLSearchParams(location.search);
  $("join-user").value = params.get("user") || localStorage.getItem("filelock-demo:user") || randomName();
  if (params.get("project")) $("join-project").value = params.get("project");
  const t = params.get("transport");
  if (TRANSPORTS.includes(t)) document.querySelector(`input[name=transport][value=${t}]`).checked = true;

  $("join-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    join({ project: String(f.get("project")).trim(), user: String(f.get("user")).trim(), transport: String(f.get("transport")) });
  });
  $("leave").addEventListener("click", leave);
  $("release").addEventListener("click", release);
  $("next").addEventListener("click", nextImage);
  $("transport-switch").addEventListener("change", (e) => join({ ...session, transport: e.target.value }));
  $("add-form").addEventListener("submit", addFile);
  $("banner-close").addEventListener("click", () => { lostShown = null; hideBanner(); });
  $("grid").addEventListener("click", (e) => {
    const tile = e.target.closest(".tile");
    if (tile) lockFile(tile.dataset.file);
  });
  setInterval(tick, 250);

  try {
    samples = await (await fetch("/static/samples/index.json")).json();
  } catch {
    samples = [];
  }
  if (params.get("project") && params.get("user")) {
    join({ project: params.get("project"), user: params.get("user"), transport: TRANSPORTS.includes(t) ? t : "sse" });
  }
}

async function join({ project: projectId, user, transport }) {
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(projectId) || !user) return;
  if (client) client.close();
  client = null;
  project = null;
  session = { project: projectId, user, transport };
  localStorage.setItem("filelock-demo:user", user);
  const q = new URLSearchParams(session);
  const ttl = new URLSearchParams(location.search).get("ttl");
  if (ttl) q.set("ttl", ttl);
  history.replaceState(null, "", `?${q}`);
  document.title = `${projectId} · filelock`;

  $("session-project").textContent = projectId;
  $("session-user").textContent = user;
  setAvatar($("session-avatar"), user);
  $("transport-switch").value = transport;
  $("join").hidden = true;
  $("session").hidden = false;
  $("workspace").hidden = false;
  document.body.dataset.view = "workspace";
  document.body.dataset.transport = transport;

  added = loadAdded(projectId);
  tiles.clear();
  seen.clear();
  $("grid").replaceChildren();
  $("log").replaceChildren(el("li", "empty", "Locks and people coming and going show up here."));
  lostShown = null;
  hideBanner();

  try {
    if (transport === "socketio" && typeof window.io !== "function") {
      const mod = await import("/static/vendor/socket.io.esm.min.js");
      window.io = mod.io;
    }
    const ttl = Number(new URLSearchParams(location.search).get("ttl")) || undefined;
    client = new FileLockClient({ userId: user, transport, ttlSeconds: ttl, io: window.io });
    project = client.project(projectId);
  } catch (err) {
    showBanner("error", `Cannot connect: ${err.message}`, true);
    return;
  }
  const me = project;
  window.filelockDemo = { client, project }; // for scripts and tests
  project.on("event", (name, data) => { if (project === me) logEvent(name, data); });
  project.on("change", (state) => { if (project === me) render(state); });
  project.on("lockLost", (info) => { if (project === me) showLost(info); });
  project.on("error", (err) => { if (project === me && project.connection !== "failed") toast("error", `Server: ${err.message || err.code}`, "", err.code); });
  render(project.state());
}

// leave gives the lock up (leaving on purpose is not a crash) and goes back to the form.
async function leave() {
  const c = client;
  const p = project;
  client = null;
  project = null;
  const mine = p && p.handle;
  if (mine) await mine.release({ timeoutMs: 3000 }).catch(() => {});
  if (c) c.close();
  session = null;
  history.replaceState(null, "", location.pathname);
  document.title = "filelock · labeling demo";
  $("join").hidden = false;
  $("session").hidden = true;
  $("workspace").hidden = true;
  document.body.dataset.view = "join";
  document.body.dataset.connection = "idle";
}

// ---- commands ----

async function lockFile(file) {
  if (!project) return;
  const tile = tiles.get(file);
  if (tile) tile.dataset.pending = "true";
  try {
    const handle = await project.lock(file, { releasePrevious: true });
    if (lostShown) { lostShown = null; hideBanner(); }
    if (handle.renewed) toast("info", `Still yours: ${basename(file)} renewed`);
  } catch (err) {
    commandFailed(err, `Could not lock ${basename(file)}`);
  } finally {
    if (tile) delete tile.dataset.pending;
  }
}

// nextImage claims the first free file after yours, in the grid's order
// (then from the top): one atomic step on the server, over the page's transport.
async function nextImage() {
  if (!project) return;
  const files = gridFiles();
  const mine = project.myLock();
  const at = mine ? files.indexOf(mine.file) : -1;
  const order = at >= 0 ? [...files.slice(at + 1), ...files.slice(0, at)] : files;
  if (!order.length) { toast("info", "No other image in this project"); return; }
  const button = $("next");
  button.disabled = true;
  try {
    const handle = await project.claim(order.slice(0, 1000));
    if (lostShown) { lostShown = null; hideBanner(); }
    const tile = tiles.get(handle.file);
    if (tile) tile.scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (err) {
    if (err.code === "none_free") toast("refused", "Every other image is being worked on", "", err.code);
    else commandFailed(err, "Could not take the next image");
  } finally {
    button.disabled = false;
  }
}

function commandFailed(err, what) {
  if (err.code === "lock_lost") return; // the lockLost banner says it
  if (err.code === "file_locked" && err.lock) {
    toast("refused", `${basename(err.lock.file)} is locked by ${err.lock.user} since ${fmtTime(err.lock.acquired_at)}`, err.lock.user, err.code);
  } else {
    toast("error", `${what}: ${err.message} (${err.code})`, "", err.code);
  }
}

async function release() {
  const handle = project && project.handle;
  if (!handle) return;
  try {
    await handle.release();
  } catch (err) {
    toast("error", `Could not release ${basename(handle.file)}: ${err.message}`, "", err.code);
  }
}

function gridFiles() {
  return [...$("grid").querySelectorAll(".tile")].map((t) => t.dataset.file);
}

function addFile(e) {
  e.preventDefault();
  const input = $("add-file");
  const name = input.value.trim();
  if (!name || name === "." || name === ".." || /[\u0000-\u001f\u007f]/.test(name) || new TextEncoder().encode(name).length > 1024) {
    toast("error", "A file name is 1–1024 bytes without control characters");
    return;
  }
  if (!added.includes(name) && !samples.some((s) => s.file === name)) {
    added.push(name);
    localStorage.setItem(`filelock-demo:files:${session.project}`, JSON.stringify(added));
  }
  input.value = "";
  if (lastState) render(lastState);
  const tile = tiles.get(name);
  if (tile) { tile.scrollIntoView({ block: "nearest", behavior: "smooth" }); tile.focus({ preventScroll: true }); }
}

function loadAdded(project) {
  try {
    const v = JSON.parse(localStorage.getItem(`filelock-demo:files:${project}`) || "[]");
    return Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];
  } catch {
    return [];
  }
}

// ---- rendering ----

function render(state) {
  lastState = state;
  document.body.dataset.connection = state.connection;
  renderConnection(state);

  const byFile = new Map(state.locks.map((l) => [l.file, l]));
  // The grid: the sample files, the ones added here, and any other file seen
  // locked (someone else added it) — kept for the session once seen.
  for (const l of state.locks) seen.add(l.file);
  const files = [...new Set([...samples.map((s) => s.file), ...added, ...seen])];
  const grid = $("grid");
  files.forEach((file, i) => {
    let tile = tiles.get(file);
    if (!tile) {
      tile = makeTile(file, samples.find((s) => s.file === file));
      tiles.set(file, tile);
    }
    if (grid.children[i] !== tile) grid.insertBefore(tile, grid.children[i] || null);
    updateTile(tile, byFile.get(file), state.userId);
  });

  renderMyLock(state.myLock);
  renderUsers(state);
  const locked = state.locks.length;
  $("counts").textContent = `${files.length} files · ${locked} locked · ${files.length - locked} free`;
  tick();
}

function makeTile(file, sample) {
  const tile = el("button", "tile");
  tile.type = "button";
  tile.dataset.file = file;
  tile.dataset.state = "free";
  const thumb = el("span", "thumb");
  if (sample) {
    const img = el("img");
    img.src = `/static/${sample.src}`;
    img.alt = sample.title;
    img.loading = "lazy";
    img.decoding = "async";
    thumb.append(img);
  } else {
    thumb.classList.add("thumb-placeholder");
    thumb.style.setProperty("--hue", hue(file));
    thumb.append(el("span", "placeholder-initial", basename(file).slice(0, 1).toUpperCase() || "?"));
  }
  const badge = el("span", "badge");
  const avatar = el("span", "avatar avatar-sm");
  badge.append(avatar, el("span", "badge-text"));
  thumb.append(badge);
  const meta = el("span", "meta");
  meta.append(el("span", "name", basename(file)), el("span", "status", "Free"));
  tile.append(thumb, meta);
  tile.title = file;
  return tile;
}

function updateTile(tile, lock, me) {
  const state = !lock ? "free" : lock.user === me ? "mine" : "theirs";
  const holder = lock ? lock.user : "";
  const key = lock ? `${state}|${holder}|${lock.token}|${lock.expires_at}` : "free";
  if (tile._key === key) return;
  tile._key = key;
  tile.dataset.state = state;
  tile.dataset.holder = holder;
  tile._lock = lock || null;
  tile.setAttribute("aria-pressed", state === "mine" ? "true" : "false");
  const status = tile.querySelector(".status");
  const badgeText = tile.querySelector(".badge-text");
  setAvatar(tile.querySelector(".badge .avatar"), holder);
  if (state === "free") {
    status.textContent = "Free";
    badgeText.textContent = "";
    tile.style.removeProperty("--holder-hue");
    tile.setAttribute("aria-label", `${tile.dataset.file}: free, click to lock`);
  } else if (state === "mine") {
    status.textContent = "Yours";
    badgeText.textContent = "You";
    tile.style.removeProperty("--holder-hue");
    tile.setAttribute("aria-label", `${tile.dataset.file}: locked by you`);
  } else {
    status.textContent = `since ${fmtTime(lock.acquired_at)}`;
    badgeText.textContent = holder;
    tile.style.setProperty("--holder-hue", hue(holder));
    tile.setAttribute("aria-label", `${tile.dataset.file}: locked by ${holder} since ${fmtTime(lock.acquired_at)}`);
  }
}

function renderMyLock(mine) {
  const box = $("mylock");
  box.dataset.file = mine ? mine.file : "";
  box.dataset.state = mine ? "mine" : "none";
  $("release").hidden = !mine;
  $("mylock-countdown").hidden = !mine;
  if (mine) {
    $("mylock-title").textContent = basename(mine.file);
    $("mylock-sub").textContent = `Locked by you since ${fmtTime(mine.acquired_at)}`;
    box.title = `${mine.file} · fencing token ${mine.token}`;
  } else {
    box.title = "";
    $("mylock-title").textContent = "No file locked";
    $("mylock-sub").textContent = "Click an image to lock it while you label it. Moving on releases it.";
  }
}

function renderUsers(state) {
  const holding = new Map(state.locks.map((l) => [l.user, l]));
  const online = new Set(state.users);
  const names = [...new Set([...state.users, ...holding.keys()])].sort((a, b) =>
    a === state.userId ? -1 : b === state.userId ? 1 : a.localeCompare(b));
  $("users-count").textContent = String(state.users.length);
  const list = $("users");
  list.replaceChildren(...names.map((name) => {
    const li = el("li", "user");
    li.dataset.user = name;
    li.dataset.online = online.has(name) ? "true" : "false";
    const avatar = el("span", "avatar");
    setAvatar(avatar, name);
    const text = el("span", "user-text");
    const who = el("span", "user-name", name);
    if (name === state.userId) who.append(el("span", "you", " (you)"));
    const lock = holding.get(name);
    const what = el("span", "user-what",
      lock ? `${online.has(name) ? "" : "away · "}on ${basename(lock.file)}` : online.has(name) ? "browsing" : "away");
    text.append(who, what);
    li.append(avatar, text);
    return li;
  }));
  if (!names.length) list.append(el("li", "empty", "Nobody here yet"));
}

function renderConnection(state) {
  const conn = $("conn");
  conn.dataset.connection = state.connection;
  const name = TRANSPORT_NAMES[state.transport];
  const text = { idle: "Connecting…", connecting: "Connecting…", open: "Live", reconnecting: "Reconnecting…", failed: "Refused", closed: "Offline" }[state.connection];
  conn.querySelector(".conn-text").textContent = text;
  conn.title = `${text} (${name})`;
  const banner = $("banner");
  if (state.connection === "reconnecting") {
    showBanner("reconnecting", `Connection lost — reconnecting via ${name}… Your lock is kept for a short grace period.`);
  } else if (state.connection === "connecting" || state.connection === "idle") {
    showBanner("connecting", `Connecting to ${session.project} via ${name}…`);
  } else if (state.connection === "failed") {
    const err = state.error || {};
    if (banner.dataset.kind !== "error" || banner.dataset.code !== err.code) {
      lostShown = null;
      showBanner("error", `Cannot follow ${session.project}: ${err.message || err.code} (${err.code}). Reload to try again.`);
      banner.dataset.code = err.code || "";
    }
  } else if (["reconnecting", "connecting"].includes(banner.dataset.kind)) {
    hideBanner();
  }
}

// showLost tells that a lock you held was taken away (the client reports each loss once).
function showLost(info) {
  lostShown = info;
  const why = REASONS[info.reason] || info.reason;
  showBanner("lost", `You lost your lock on ${basename(info.file)}: ${why}. Click it again to continue.`, true);
  $("banner").dataset.reason = info.reason;
  addLog(`You lost ${basename(info.file)} (${info.reason})`,
    { event: "lock_lost", file: info.file, reason: info.reason, user: session && session.user });
}

function showBanner(kind, text, dismissable = false) {
  const banner = $("banner");
  if (banner.dataset.kind === "lost" && kind !== "lost" && lostShown) return; // keep the lost notice visible
  banner.dataset.kind = kind;
  banner.dataset.reason = "";
  banner.dataset.code = "";
  $("banner-text").textContent = text;
  $("banner-close").hidden = !dismissable;
  banner.hidden = false;
}

function hideBanner() {
  const banner = $("banner");
  banner.hidden = true;
  banner.dataset.kind = "";
  banner.dataset.reason = "";
  banner.dataset.code = "";
}

function toast(kind, text, holder = "", code = "") {
  const t = $("toast");
  t.dataset.kind = kind;
  t.dataset.holder = holder;
  t.dataset.code = code;
  t.textContent = text;
  t.hidden = false;
  t.classList.remove("show");
  void t.offsetWidth; // restart the animation
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; t.classList.remove("show"); }, 4500);
}

function logEvent(name, d) {
  if (name === "snapshot") return;
  const who = d.user || "?";
  const file = d.file ? basename(d.file) : "";
  const text = {
    lock_acquired: `${who} locked ${file}`,
    lock_released: `${who} released ${file}${d.reason && d.reason !== "unlocked" ? ` (${d.reason})` : ""}`,
    user_joined: `${who} joined`,
    user_left: `${who} left`,
  }[name] || name;
  addLog(text, { event: name, user: d.user, file: d.file, reason: d.reason });
}

// addLog puts a line on top of the activity list; attrs become data-* attributes.
function addLog(text, attrs) {
  const li = el("li", "log-item");
  for (const [k, v] of Object.entries(attrs)) if (v) li.dataset[k] = v;
  li.append(el("time", "log-time", timeFmt.format(new Date())), el("span", "log-text", text));
  const log = $("log");
  log.querySelector(".empty")?.remove();
  log.prepend(li);
  while (log.children.length > 40) log.lastChild.remove();
}

// Every 250 ms: the countdown of your lock and the age of the others'.
function tick() {
  if (!project) return;
  const mine = project.myLock();
  if (!mine) return;
  const left = Math.max(0, Date.parse(mine.expires_at) - client.serverNow());
  const text = fmtLeft(left);
  const cd = $("mylock-countdown");
  cd.textContent = `expires in ${text}`;
  cd.dataset.urgent = left < 15000 ? "true" : "false";
  const tile = tiles.get(mine.file);
  if (tile && tile.dataset.state === "mine") {
    tile.querySelector(".status").textContent = `Yours · ${text} left`;
  }
}

// ---- helpers ----

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function setAvatar(node, name) {
  node.textContent = name ? [...name][0].toUpperCase() : "";
  if (name) node.style.setProperty("--hue", hue(name));
}

function hue(s) {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.codePointAt(0), 16777619);
  return String((h >>> 0) % 360);
}

function basename(file) {
  const i = file.lastIndexOf("/");
  return i >= 0 && i < file.length - 1 ? file.slice(i + 1) : file;
}

function fmtTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "?" : timeFmt.format(new Date(t));
}

function fmtLeft(ms) {
  const s = Math.ceil(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function randomName() {
  const names = ["otter", "heron", "lynx", "puffin", "gecko", "ibis", "marten", "koala"];
  return `${names[Math.floor(Math.random() * names.length)]}-${Math.floor(Math.random() * 90 + 10)}`;
}
