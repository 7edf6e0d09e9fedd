/**
 * The Hub's real-time notifications for a screen: which records of the organization changed,
 * live, and what was missed while the screen was disconnected (README, "Real-time
 * notifications"). Events carry ids only; the app re-reads records over REST.
 *
 * ```ts
 * const live = new RealtimeClient({
 *   baseUrl: import.meta.env.VITE_HUB_API_URL,
 *   getToken: () => auth.currentToken(),
 *   onEvent: (event) => invalidate(event.entity, event.id), // re-read the record over REST
 *   onRefetch: () => reloadEverything(),
 *   onStatus: (status) => showBadge(status),
 *   onAuthError: () => auth.refresh(),
 * });
 * live.subscribe({ entities: ["appointment"] });
 * live.start();
 * // on logout: live.close();
 * ```
 *
 * How it behaves, and why:
 *
 * - **Tickets.** A browser cannot put a header on a WebSocket and a JWT in a URL ends up in
 *   logs, so each connection first buys a one-time ticket (`POST /api/realtime/tickets` with the
 *   bearer token) and connects to the `url` it names with `?ticket=`. A ticket works once, so
 *   every reconnect buys a new one; `getToken` is called each time, so a refreshed token is used.
 * - **Resume carries the subscription.** On every open the client sends one message, `resume`,
 *   with the last cursor it handled (`since`) and the subscription's `entities`/`ids` (if the app
 *   set one); the server sets the subscription and replays with it, atomically. Never a
 *   `subscribe` followed by a `resume`: API Gateway does not guarantee that two messages of a
 *   connection are handled in order, so the resume could replay with the old subscription.
 *   For the same reason a `subscribe()` made while a resume is in flight is sent only once the
 *   server answered it; made while live, it is sent at once. Events that arrive before the
 *   server's `resumed`/`refetch` are held, then delivered in cursor order (a replay and the live
 *   stream may overlap): those whose `event_id` is new and whose cursor is past the `since` the
 *   resume was sent with (past the cursor a `refetch` gives, which the reload covers).
 * - **Live events are deduplicated by `event_id` only.** The server delivers at least once (a
 *   retried stream batch, a replay overlapping the live stream); the client drops an event whose
 *   `event_id` it delivered recently (the last 1,000 ids), so `onEvent` sees each change once.
 *   A live event is never dropped because its cursor is at or below the last one: an
 *   organization's changes normally come in cursor order, but DynamoDB can split a hot partition
 *   across two stream shards, fanned out by two concurrent invocations, so `c + 1` can arrive
 *   before `c`, and dropping `c` would lose it. Live events are delivered in the order they come.
 * - **`lastCursor`** is the highest cursor handled: of the events delivered, and of the log's head
 *   that `resumed` reported (a `refetch` sets it to the cursor it gives, which the reload covers).
 *   It never moves back for an event that came late. Taking the head matters: a screen that
 *   has heard nothing yet still resumes from where it joined (without a cursor the server would
 *   replay nothing, and what happened while it was away would be lost), and a screen subscribed
 *   to a few records does not fall 1,000 events behind and get told to refetch. A screen that
 *   keeps its data across loads can persist it and pass it back as `since`.
 * - **Reconnects.** API Gateway closes every connection after 2 hours, and after 10 minutes
 *   without a message; networks drop; the server closes connections it cannot deliver to. Any
 *   close the app did not ask for (`close()`) is followed by a reconnect after an exponential,
 *   jittered delay (`minDelayMs` to `maxDelayMs`), which resets once a connection is live again.
 *   A `401`/`403` for the ticket calls `onAuthError` and keeps retrying, since the app may refresh
 *   its token meanwhile. A ping every `pingIntervalMs` keeps the connection under the idle cut;
 *   a connection that stays silent for a whole ping interval after a ping is taken as dead (a
 *   dropped network often closes nothing) and replaced.
 */

import type { components } from "./schema.js";

/** The answer of `POST /api/realtime/tickets`, typed from the API's contract. */
export type RealtimeTicket = components["schemas"]["RealtimeTicket"];

export type RealtimeEntity = "contact" | "appointment" | "document" | "transaction" | "analytics_record";
export type RealtimeAction = "created" | "updated" | "deleted" | "restored" | "anonymized" | "purged";
export type RealtimeEventType = `${RealtimeEntity}.${RealtimeAction}`;

/** A change of one record, as the server sends it (ids only, never personal data). */
export interface RealtimeEvent {
  event_id: string;
  /** A decimal string, dense and increasing per organization: compare as integers. */
  cursor: string;
  type: RealtimeEventType;
  entity: RealtimeEntity;
  id: string;
  /** The record's version after the change. */
  version: number;
  at: string;
  /** `null` for changes no user made (retention's purges). */
  actor_id: string | null;
}

/** Every missed event was sent; `cursor` is where the organization's log stood. */
export interface ResumedMessage {
  type: "resumed";
  cursor: string;
  replayed: number;
}

/** The gap cannot be replayed (too old, too long or unknown): reload over REST, then go on from `cursor`. */
export interface RefetchMessage {
  type: "refetch";
  cursor: string;
  reason: string;
}

export interface SubscribedMessage {
  type: "subscribed";
  entities: RealtimeEntity[];
  ids: string[];
}

export interface PongMessage {
  type: "pong";
}

/** The server refused a message; the connection stays open. */
export interface RealtimeErrorMessage {
  type: "error";
  code: string;
  detail: string;
}

export type RealtimeControlMessage =
  | ResumedMessage
  | RefetchMessage
  | SubscribedMessage
  | PongMessage
  | RealtimeErrorMessage;

/** What the client sends. */
export type RealtimeClientMessage =
  | ({ action: "resume"; since?: string } & RealtimeSubscription)
  | ({ action: "subscribe" } & RealtimeSubscription)
  | { action: "ping" };

/** Which changes a connection hears: each call replaces the last; `{}` means everything. */
export interface RealtimeSubscription {
  entities?: RealtimeEntity[];
  /** Up to 100 record ids (UUIDs). */
  ids?: string[];
}

/**
 * - `connecting`: buying a ticket and opening the socket;
 * - `open`: connected, catching up (events are held until the server says the replay is done);
 * - `live`: caught up, events are delivered as they come;
 * - `reconnecting`: the connection was lost, waiting before the next try;
 * - `closed`: `close()` was called; nothing more happens.
 */
export type RealtimeStatus = "connecting" | "open" | "live" | "reconnecting" | "closed";

/** The part of a WebSocket the client uses: the browser's and Node 22's global one fit. */
export interface RealtimeSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: Event) => unknown) | null;
  onmessage: ((event: MessageEvent) => unknown) | null;
  onclose: ((event: CloseEvent) => unknown) | null;
  onerror: ((event: Event) => unknown) | null;
}

export type RealtimeSocketConstructor = new (url: string) => RealtimeSocket;

export interface RealtimeStats {
  /** Tickets bought (one per connection attempt that got as far). */
  tickets: number;
  /** Sockets that opened. */
  connects: number;
  /** Events delivered to `onEvent`. */
  delivered: number;
  /** Of those, events delivered while catching up after a (re)connection. */
  replayed: number;
  /** Events not delivered because they were already: by `event_id`, or during a resume by a cursor not past its `since`. */
  duplicatesDropped: number;
  /** `refetch` answers passed to `onRefetch`. */
  refetches: number;
}

export interface RealtimeClientOptions {
  /** The API's base URL, without `/api` (as for `createHubClient`). */
  baseUrl: string;
  /** The current bearer token; called before every ticket, so a refreshed token is used. */
  getToken: () => string | Promise<string>;
  /** A cursor persisted from a previous session: the first resume replays what followed it. */
  since?: string;
  /**
   * Delivered once each (by `event_id`): in cursor order when caught up after a (re)connection
   * (`replayed`), live in the order they come (cursor order but for a rare late one).
   */
  onEvent?: (event: RealtimeEvent, info: { replayed: boolean }) => void;
  /** The server cannot replay the gap: reload the screen's data over REST (events after `cursor` follow). */
  onRefetch?: (cursor: string, reason: string) => void | Promise<void>;
  onStatus?: (status: RealtimeStatus) => void;
  /** The ticket was refused (`401`: the token expired or is invalid; `403`: no organization). Retries go on. */
  onAuthError?: (status: number) => void;
  /** Every control message from the server (`resumed`, `refetch`, `subscribed`, `pong`, `error`). */
  onControl?: (message: RealtimeControlMessage) => void;
  /** What went wrong without stopping the client: a failed ticket, a malformed message, a callback that threw. */
  onError?: (error: unknown) => void;
  /** Default `globalThis.WebSocket` (browsers, Node 22). */
  WebSocket?: RealtimeSocketConstructor;
  /** Default `globalThis.fetch`. */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Default 500. */
  minDelayMs?: number;
  /** Default 30,000. */
  maxDelayMs?: number;
  /** Default 5 minutes: half of API Gateway's 10-minute idle cut. */
  pingIntervalMs?: number;
  /** How long to wait for `resumed`/`refetch` before replacing the connection. Default 70 s (a replay runs up to 60 s). */
  resumeTimeoutMs?: number;
}

/** How many recent event ids are remembered to drop duplicates. */
const RECENT_IDS = 1_000;
const CURSOR = /^\d+$/;
/** The server's limit on a subscription's ids. */
const MAX_SUBSCRIBED_IDS = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ENTITIES: ReadonlySet<string> = new Set<RealtimeEntity>(["contact", "appointment", "document", "transaction", "analytics_record"]);
const ACTIONS: ReadonlySet<string> = new Set<RealtimeAction>(["created", "updated", "deleted", "restored", "anonymized", "purged"]);

/** -1, 0 or 1 as `a` is before, at or after `b` (decimal strings of any length). */
export function compareCursors(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first): a random point between
 * `minDelayMs` and a ceiling that doubles per attempt up to `maxDelayMs`. Never less than
 * `minDelayMs`, and jittered from the first retry on, so the screens of a practice that lost
 * the network together do not come back in step.
 */
export function backoffDelay(attempt: number, minDelayMs: number, maxDelayMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** (Math.min(attempt, 30) + 1));
  return Math.max(minDelayMs, Math.round(minDelayMs + random() * (ceiling - minDelayMs)));
}

/** Whether a message from the server is an event (else a control message). */
export function isRealtimeEvent(message: unknown): message is RealtimeEvent {
  if (typeof message !== "object" || message === null) {
    return false;
  }
  const m = message as Record<string, unknown>;
  if (typeof m.event_id !== "string" || typeof m.cursor !== "string" || typeof m.type !== "string") {
    return false;
  }
  const [entity, action, ...rest] = m.type.split(".");
  return (
    CURSOR.test(m.cursor) &&
    rest.length === 0 &&
    entity === m.entity &&
    ENTITIES.has(entity ?? "") &&
    ACTIONS.has(action ?? "") &&
    typeof m.id === "string" &&
    typeof m.version === "number"
  );
}

export class RealtimeClient {
  readonly stats: RealtimeStats = { tickets: 0, connects: 0, delivered: 0, replayed: 0, duplicatesDropped: 0, refetches: 0 };

  private readonly options: RealtimeClientOptions;
  private readonly fetchImpl: (input: string, init: RequestInit) => Promise<Response>;
  private cursor: string | null;
  private currentStatus: RealtimeStatus | null = null;
  private subscription: RealtimeSubscription | null = null;
  /** Insertion-ordered, so the oldest id is the first to forget. */
  private readonly recentIds = new Set<string>();
  private started = false;
  private stopped = false;
  /** Bumped for every connection attempt and every lost connection: callbacks of an older socket or ticket are ignored. */
  private generation = 0;
  private attempt = 0;
  private socket: RealtimeSocket | null = null;
  /** Events held while a resume is in flight; `null` once live. */
  private held: RealtimeEvent[] | null = null;
  /** The `since` the resume in flight was sent with (`null`: none). */
  private resumeSince: string | null = null;
  /** The subscription the resume in flight carried: another one set meanwhile is sent once it is answered. */
  private resumeSubscription: RealtimeSubscription | null = null;
  private ticketAbort: AbortController | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private resumeTimer: ReturnType<typeof setTimeout> | null = null;
  private heardSincePing = true;

  constructor(options: RealtimeClientOptions) {
    if (options.since !== undefined && !CURSOR.test(options.since)) {
      throw new TypeError(`since must be a decimal cursor, got ${JSON.stringify(options.since)}`);
    }
    this.options = options;
    this.cursor = options.since ?? null;
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The last cursor handled: persist it and pass it as `since` next time. */
  get lastCursor(): string | null {
    return this.cursor;
  }

  get status(): RealtimeStatus | null {
    return this.currentStatus;
  }

  /** Connects, and keeps connected until `close()`. */
  start(): this {
    if (this.stopped) {
      throw new Error("this RealtimeClient was closed; create another");
    }
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return this;
  }

  /**
   * Replaces the subscription: sent now if live, once the server answered the resume if one is in
   * flight, and with every later resume. One the server would refuse (an unknown entity, more
   * than 100 ids, an id that is not a UUID) throws here: carried by every resume, it would
   * otherwise leave each connection unanswered.
   */
  subscribe(subscription: RealtimeSubscription): void {
    checkSubscription(subscription);
    this.subscription = { ...subscription };
    if (this.socket !== null && this.currentStatus === "live") {
      this.sendSubscription();
    }
  }

  /** Disconnects for good. */
  close(): void {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.generation += 1;
    this.ticketAbort?.abort();
    this.clearTimers();
    if (this.reconnectTimer !== null) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      detach(socket);
      socket.close(1000, "closed by the app");
    }
    this.held = null;
    this.setStatus("closed");
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.setStatus("connecting");
    let url: string;
    try {
      url = await this.buyTicket();
    } catch (error) {
      if (generation === this.generation && !this.stopped) {
        this.report(error);
        this.reconnectLater();
      }
      return;
    }
    if (generation !== this.generation || this.stopped) {
      return;
    }
    // Looked up per connection, not at import: Node before 22 can load this module with its
    // own WebSocket option (and the `typeof` guard keeps that from throwing).
    const Socket: RealtimeSocketConstructor | undefined =
      this.options.WebSocket ?? (typeof WebSocket === "undefined" ? undefined : WebSocket);
    if (Socket === undefined) {
      this.report(new Error("no WebSocket: pass the WebSocket option (Node before 22 has no global one)"));
      this.reconnectLater();
      return;
    }
    let socket: RealtimeSocket;
    try {
      socket = new Socket(url);
    } catch (error) {
      this.report(error);
      this.reconnectLater();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (generation === this.generation) {
        this.opened();
      }
    };
    socket.onmessage = (event) => {
      if (generation === this.generation) {
        this.received(event.data);
      }
    };
    // A browser fires `error` then `close` for a failed or broken connection: `close` decides.
    socket.onerror = () => undefined;
    socket.onclose = () => {
      if (generation === this.generation) {
        this.lost();
      }
    };
  }

  private async buyTicket(): Promise<string> {
    this.ticketAbort = new AbortController();
    const token = await this.options.getToken();
    // Called as a plain function: a browser's own fetch, passed as the option, throws "Illegal
    // invocation" when called as a method of another object.
    const fetchImpl = this.fetchImpl;
    const response = await fetchImpl(`${this.options.baseUrl.replace(/\/+$/, "")}/api/realtime/tickets`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      signal: this.ticketAbort.signal,
    });
    if (response.status === 401 || response.status === 403) {
      this.callback(() => this.options.onAuthError?.(response.status));
      throw new Error(`the ticket was refused: ${response.status}`);
    }
    if (!response.ok) {
      throw new Error(`the ticket was not given: ${response.status}`);
    }
    // Typed from the contract (a renamed field fails the build), checked all the same.
    const answer = (await response.json()) as Partial<Record<keyof RealtimeTicket, unknown>>;
    if (typeof answer.ticket !== "string" || typeof answer.url !== "string") {
      throw new Error("the ticket answer has no ticket or url");
    }
    this.stats.tickets += 1;
    const url = new URL(answer.url);
    url.searchParams.set("ticket", answer.ticket);
    return url.toString();
  }

  private opened(): void {
    this.stats.connects += 1;
    this.held = [];
    this.setStatus("open");
    // One message: a `subscribe` sent before it could be handled after it (see the header).
    this.resumeSince = this.cursor;
    this.resumeSubscription = this.subscription;
    this.send({ action: "resume", ...(this.cursor === null ? {} : { since: this.cursor }), ...subscriptionFields(this.subscription) });
    const resumeTimeout = this.options.resumeTimeoutMs ?? 70_000;
    this.resumeTimer = setTimeout(() => this.replace(new Error("no answer to resume")), resumeTimeout);
    this.heardSincePing = true;
    this.pingTimer = setInterval(() => {
      if (!this.heardSincePing) {
        this.replace(new Error("no answer to ping"));
        return;
      }
      this.heardSincePing = false;
      this.send({ action: "ping" });
    }, this.options.pingIntervalMs ?? 300_000);
  }

  // A WebSocket message carries one or more messages, one JSON object per line: the server
  // packs the events of a batch (or a replay) for one connection together.
  private received(data: unknown): void {
    this.heardSincePing = true;
    for (const line of String(data).split("\n")) {
      if (line.trim() !== "") {
        this.receivedOne(line);
      }
    }
  }

  private receivedOne(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.report(new Error(`a message that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if (isRealtimeEvent(message)) {
      if (this.held !== null) {
        this.held.push(message);
      } else {
        this.deliver(message, false);
      }
      return;
    }
    const control = message as RealtimeControlMessage;
    switch (control?.type) {
      case "resumed":
        this.callback(() => this.options.onControl?.(control));
        this.caughtUp(this.resumeSince, typeof control.cursor === "string" && CURSOR.test(control.cursor) ? control.cursor : null);
        return;
      case "refetch":
        this.callback(() => this.options.onControl?.(control));
        if (typeof control.cursor !== "string" || !CURSOR.test(control.cursor)) {
          this.report(new Error(`a refetch without a cursor: ${JSON.stringify(control)}`));
          return;
        }
        this.stats.refetches += 1;
        // Events up to the given cursor are covered by the reload: the held ones after it follow.
        this.cursor = control.cursor;
        this.callback(() => this.options.onRefetch?.(control.cursor, control.reason));
        this.caughtUp(control.cursor, null);
        return;
      case "error":
        this.callback(() => this.options.onControl?.(control));
        if (this.held !== null) {
          // Most likely the resume refused: it will not be answered, and the resume timeout replaces the connection.
          this.report(new Error(`the server refused a message during the resume: ${control.code}: ${control.detail}`));
        }
        return;
      case "subscribed":
      case "pong":
        this.callback(() => this.options.onControl?.(control));
        return;
      default:
        this.report(new Error(`an unknown message: ${line.slice(0, 200)}`));
    }
  }

  /**
   * The replay is done: delivers the held events past `after` (the resume's `since`, or the
   * refetch's cursor, which the reload covers; `null`: all) in cursor order, then goes live.
   */
  private caughtUp(after: string | null, logCursor: string | null): void {
    const held = this.held;
    if (held === null) {
      return;
    }
    this.held = null;
    if (this.resumeTimer !== null) {
      clearTimeout(this.resumeTimer);
      this.resumeTimer = null;
    }
    held.sort((a, b) => compareCursors(a.cursor, b.cursor));
    for (const event of held) {
      if (after !== null && compareCursors(event.cursor, after) <= 0) {
        this.stats.duplicatesDropped += 1;
        continue;
      }
      this.deliver(event, true);
    }
    // Everything up to the log's position was replayed (the server reads the log after the
    // connection is recorded); events after it come live.
    this.advanceCursor(logCursor);
    this.attempt = 0;
    // A subscription set while the resume was in flight (or by `onEvent` just now): sent now that
    // the resume was handled, so that the one the resume carried cannot overwrite it.
    if (this.subscription !== this.resumeSubscription) {
      this.sendSubscription();
    }
    this.setStatus("live");
  }

  /** Live or held: drops only an `event_id` delivered recently, never an event for its cursor (see the header). */
  private deliver(event: RealtimeEvent, replayed: boolean): void {
    if (this.recentIds.has(event.event_id)) {
      this.stats.duplicatesDropped += 1;
      return;
    }
    this.recentIds.add(event.event_id);
    if (this.recentIds.size > RECENT_IDS) {
      const oldest = this.recentIds.values().next();
      if (!oldest.done) {
        this.recentIds.delete(oldest.value);
      }
    }
    this.advanceCursor(event.cursor);
    this.stats.delivered += 1;
    if (replayed) {
      this.stats.replayed += 1;
    }
    this.callback(() => this.options.onEvent?.(event, { replayed }));
  }

  /** The connection went away without the app asking. */
  private lost(): void {
    this.generation += 1;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      detach(socket);
    }
    this.held = null;
    this.reconnectLater();
  }

  /** Gives up on a connection that stopped answering, and makes another. */
  private replace(reason: Error): void {
    this.report(reason);
    const socket = this.socket;
    this.lost();
    socket?.close(4000, reason.message);
  }

  private reconnectLater(): void {
    if (this.stopped) {
      return;
    }
    this.setStatus("reconnecting");
    const delay = backoffDelay(this.attempt, this.options.minDelayMs ?? 500, this.options.maxDelayMs ?? 30_000);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }

  /** `lastCursor` only moves forward: a late event or an older head leaves it. */
  private advanceCursor(cursor: string | null): void {
    if (cursor !== null && (this.cursor === null || compareCursors(cursor, this.cursor) > 0)) {
      this.cursor = cursor;
    }
  }

  private sendSubscription(): void {
    this.send({ action: "subscribe", ...subscriptionFields(this.subscription) });
  }

  private send(message: RealtimeClientMessage): void {
    try {
      this.socket?.send(JSON.stringify(message));
    } catch (error) {
      // A socket closing under us: its close event brings the reconnect.
      this.report(error);
    }
  }

  private clearTimers(): void {
    if (this.pingTimer !== null) {
      clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    if (this.resumeTimer !== null) {
      clearTimeout(this.resumeTimer);
      this.resumeTimer = null;
    }
  }

  private setStatus(status: RealtimeStatus): void {
    if (status !== this.currentStatus) {
      this.currentStatus = status;
      this.callback(() => this.options.onStatus?.(status));
    }
  }

  /** Runs an app callback: what it throws (or rejects with) is reported, never breaks the client. */
  private callback(run: () => unknown): void {
    try {
      const result = run();
      if (result instanceof Promise) {
        result.catch((error: unknown) => this.report(error));
      }
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    const onError = this.options.onError;
    if (onError === undefined) {
      console.warn("hub realtime:", error);
      return;
    }
    try {
      onError(error);
    } catch {
      // An error handler that throws has nowhere left to report to.
    }
  }
}

/** Throws for a subscription the server would refuse (README, "Real-time notifications"). */
function checkSubscription(subscription: RealtimeSubscription): void {
  const { entities, ids } = subscription;
  if (entities !== undefined && (!Array.isArray(entities) || !entities.every((e) => ENTITIES.has(e)))) {
    throw new TypeError(`entities must be an array of ${[...ENTITIES].join(", ")}, got ${JSON.stringify(entities)}`);
  }
  if (ids !== undefined && (!Array.isArray(ids) || ids.length > MAX_SUBSCRIBED_IDS || !ids.every((id) => typeof id === "string" && UUID.test(id)))) {
    throw new TypeError(`ids must be an array of at most ${MAX_SUBSCRIBED_IDS} record ids (UUIDs), got ${JSON.stringify(ids).slice(0, 200)}`);
  }
}

/** The fields of a subscription a message carries: none for no subscription or `{}` (everything). */
function subscriptionFields(subscription: RealtimeSubscription | null): RealtimeSubscription {
  const { entities, ids } = subscription ?? {};
  return { ...(entities === undefined ? {} : { entities }), ...(ids === undefined ? {} : { ids }) };
}

function detach(socket: RealtimeSocket): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}
