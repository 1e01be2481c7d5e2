// Type declarations of filelock.js (the client of a filelock server).

/** A lock (SPEC §1). Times are RFC 3339 UTC strings; token is the fencing token. */
export interface Lock {
  project_id: string;
  file: string;
  user: string;
  token: number;
  acquired_at: string;
  expires_at: string;
}

/** Server error codes (SPEC §3) and the client's own (ERROR_CODES). */
export type ServerErrorCode =
  | "invalid_request" | "unauthorized" | "forbidden" | "not_owner" | "user_mismatch" | "not_found"
  | "not_locked" | "file_locked" | "user_has_lock" | "stale_token" | "none_free" | "payload_too_large"
  | "rate_limited" | "store_unavailable";
export type ClientErrorCode =
  | "timeout" | "aborted" | "closed" | "disconnected" | "network_error" | "token_error" | "lock_lost" | "protocol_error";
export type ErrorCode = ServerErrorCode | ClientErrorCode | `http_${number}` | "unknown";

/** Every rejection of the client is a FileLockError. */
export class FileLockError extends Error {
  constructor(error?: { code?: string; message?: string; field?: string }, lock?: Lock | null, status?: number, extra?: object);
  name: "FileLockError";
  code: ErrorCode;
  /** The offending field (invalid_request, file_locked: "file", stale_token: "token"). */
  field?: string;
  /** The lock in the way (file_locked, user_has_lock, not_owner, stale_token) or the lost lock (lock_lost). */
  lock: Lock | null;
  /** The HTTP status of a REST error (0 otherwise). */
  status: number;
  /** lock_lost: why the lock was lost. */
  reason?: LostReason;
  /** rate_limited over REST: the server's Retry-After, in seconds. */
  retryAfter?: number;
}

/** What each client-side error code means. */
export const ERROR_CODES: Readonly<Record<ClientErrorCode, string>>;

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "failed" | "closed";
export const Connection: Readonly<{
  IDLE: "idle"; CONNECTING: "connecting"; OPEN: "open"; RECONNECTING: "reconnecting"; FAILED: "failed"; CLOSED: "closed";
}>;

/** Why a lock was lost: the server's release reasons, or "unknown" (gone, reason not seen: a restart, a resume past the history). */
export type LostReason = "unlocked" | "expired" | "disconnected" | "forced" | "switched" | "unknown";

export interface LostInfo {
  projectId: string;
  file: string;
  reason: LostReason;
  /** The lock as it was held (all fields of Lock). */
  lock: Lock;
  /** When the client saw the loss (ISO time). */
  at: string;
}

export type EventName = "snapshot" | "lock_acquired" | "lock_released" | "user_joined" | "user_left";

/** The data of an event (SPEC §4): project_id and event_id, plus the event's own fields. */
export interface EventData {
  project_id: string;
  event_id: string;
  file?: string;
  user?: string;
  token?: number;
  acquired_at?: string;
  expires_at?: string;
  reason?: Exclude<LostReason, "unknown">;
  locks?: Lock[];
  users?: string[];
}

/** A project's state, as `change` listeners get it. */
export interface ProjectView {
  projectId: string;
  userId: string;
  transport: Transport;
  /** Sorted by file. */
  locks: Lock[];
  /** Sorted. */
  users: string[];
  connection: ConnectionState;
  /** Why the project failed (connection "failed"). */
  error: FileLockError | null;
  myLock: Lock | null;
  lost: LostInfo | null;
  lastEventId: string;
  lastError: FileLockError | null;
}

export interface CommandOptions {
  /** Rejects with `timeout` after this many ms (default: the client's timeoutMs). */
  timeoutMs?: number;
  /** Rejects with `aborted` when it aborts. */
  signal?: AbortSignal;
}

export interface LockOptions extends CommandOptions {
  releasePrevious?: boolean;
  ttlSeconds?: number;
  /** Heartbeat this lock (default: the client's autoHeartbeat). */
  autoHeartbeat?: boolean;
}

export interface ClaimOptions extends CommandOptions {
  ttlSeconds?: number;
  autoHeartbeat?: boolean;
}

export interface UnlockOptions extends CommandOptions {
  token?: number;
  force?: boolean;
}

export interface UnlockReply {
  released: true;
  lock: Lock;
}

/** A lock held by this client: what lock() and claim() resolve to. */
export class LockHandle {
  readonly project: Project;
  readonly projectId: string;
  readonly file: string;
  readonly user: string;
  readonly token: number;
  /** The lock as last confirmed by the server. */
  readonly lock: Lock;
  readonly acquiredAt: Date;
  /** Moves forward with every heartbeat. */
  readonly expiresAt: Date;
  /** The lock was already yours: the TTL was refreshed, the token kept. */
  readonly renewed: boolean;
  /** The lock given up by releasePrevious / claim, if any. */
  readonly released: Lock | null;
  readonly heartbeatIntervalSeconds: number;
  autoHeartbeat: boolean;
  readonly state: "held" | "released" | "lost";
  /** Resolves once, when the lock is taken away (never when you release it). */
  readonly lost: Promise<LostInfo>;
  /** Releases it: true when released now, false when it was no longer held. */
  release(options?: CommandOptions): Promise<boolean>;
  /** Extends it now; rejects not_locked (and reports the loss) when it is gone. */
  heartbeat(options?: CommandOptions): Promise<Lock>;
  /** ms until expiresAt, on the server's clock. */
  remainingMs(): number;
}

export interface ProjectEvents {
  change: (view: ProjectView) => void;
  state: (connection: ConnectionState, error: FileLockError | null) => void;
  lockLost: (info: LostInfo) => void;
  error: (error: FileLockError) => void;
  event: (name: EventName, data: EventData) => void;
}

/** One project followed by the client (client.project(id)). */
export class Project {
  readonly client: FileLockClient;
  readonly id: string;
  readonly locks: Map<string, Lock>;
  readonly users: Set<string>;
  readonly lastEventId: string;
  readonly connection: ConnectionState;
  readonly error: FileLockError | null;
  readonly lost: LostInfo | null;
  readonly lastError: FileLockError | null;
  /** The lock you hold in this project, if this client holds (or adopted) it. */
  readonly handle: LockHandle | null;
  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof ProjectEvents>(name: K, cb: ProjectEvents[K]): () => void;
  myLock(): Lock | null;
  lockOf(file: string): Lock | null;
  state(): ProjectView;
  lock(file: string, options?: LockOptions): Promise<LockHandle>;
  claim(files: readonly string[], options?: ClaimOptions): Promise<LockHandle>;
  unlock(file: string, options?: UnlockOptions): Promise<UnlockReply>;
  heartbeat(options?: CommandOptions): Promise<Lock | null>;
  /** Stops following it (leave_project / the stream closes); its pending commands reject with `closed`. */
  close(): void;
}

export type Transport = "sse" | "ws" | "socketio";
export type TokenSource = string | (() => string | Promise<string>);

export interface ClientOptions {
  userId: string;
  /** Server origin (default: the page's origin). */
  baseUrl?: string;
  /** Default "sse". */
  transport?: Transport;
  /** JWT (auth.mode jwt), or a function returning a fresh one: refreshed at 80 % of its life. */
  token?: TokenSource;
  /** Extra headers on every request (e.g. {"X-API-Key": "…"}); over WebSocket and SSE only where the implementation takes headers (Node). */
  headers?: Record<string, string>;
  /** A default project: the client's lock/claim/unlock/… act on it. */
  projectId?: string;
  /** TTL asked for by lock and claim (server default when absent). */
  ttlSeconds?: number;
  /** Default timeout of every command in ms (10000). */
  timeoutMs?: number;
  /** Heartbeat held locks (default true). */
  autoHeartbeat?: boolean;
  /** Connect at once (default true). */
  autoConnect?: boolean;
  /** The Socket.IO client's io() (default globalThis.io). */
  io?: (url?: string, options?: object) => unknown;
  /** A WebSocket class (default globalThis.WebSocket; in Node 20: the ws package). */
  WebSocket?: unknown;
  /** An EventSource class (default globalThis.EventSource; in Node: the eventsource package). */
  EventSource?: unknown;
  /** fetch (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface ClientEvents {
  change: (view: ProjectView) => void;
  state: (connection: ConnectionState, error: FileLockError | null) => void;
  lockLost: (info: LostInfo) => void;
  error: (error: FileLockError) => void;
  event: (name: EventName, data: EventData) => void;
}

export class FileLockClient {
  constructor(options: ClientOptions);
  readonly transport: Transport;
  readonly baseUrl: string;
  readonly userId: string;
  readonly connection: ConnectionState;
  readonly error: FileLockError | null;
  readonly projects: Map<string, Project>;
  readonly defaultProject?: Project;
  clockSkewMs: number;
  /** Subscribes to every project's events and the connection's state; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(name: K, cb: ClientEvents[K]): () => void;
  /** The project's subscription: joined on first use, the same object after. */
  project(id: string): Project;
  serverNow(): number;
  /** Connects (unless autoConnect was false, the constructor did); after `failed`, the client's or a project's, tries again. */
  connect(): void;
  close(): void;

  // The default project (option projectId):
  readonly projectId: string | undefined;
  readonly locks: Map<string, Lock>;
  readonly users: Set<string>;
  readonly lost: LostInfo | null;
  readonly lastError: FileLockError | null;
  readonly lastEventId: string;
  lock(file: string, options?: LockOptions): Promise<LockHandle>;
  claim(files: readonly string[], options?: ClaimOptions): Promise<LockHandle>;
  unlock(file: string, options?: UnlockOptions): Promise<UnlockReply>;
  heartbeat(options?: CommandOptions): Promise<Lock | null>;
  myLock(): Lock | null;
  lockOf(file: string): Lock | null;
  state(): ProjectView;
  /** cb(state) at once and on every change of the default project. */
  onChange(cb: (view: ProjectView) => void): () => void;
  onEvent(cb: (name: EventName, data: EventData) => void): () => void;
}

export function createClient(options: ClientOptions): FileLockClient;
