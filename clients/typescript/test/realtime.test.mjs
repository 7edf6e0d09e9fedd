// The realtime client's own logic (src/realtime.ts, built to dist/ by `npm test`), driven
// through a scripted WebSocket class and fetch: the server's messages are played by each test,
// so ordering, holding events during a resume, dedupe, refetch, reconnects and timers are
// checked without a server. What the real server does is the browser test's business
// (tests/browser/run.mjs, "realtime").
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { RealtimeClient, backoffDelay, compareCursors, isRealtimeEvent } from "../dist/realtime.js";

const BASE = "https://api.example";

// A failed assertion leaves its client retrying on timers, which would keep the run from ever
// ending: every client is closed after its test, whatever happened.
const clients = new Set();
function track(client) {
  clients.add(client);
  return client;
}
afterEach(() => {
  for (const client of clients) client.close();
  clients.clear();
});
const LIVE = "wss://live.example/live";
// Record ids, as a subscription names them.
const C0 = "c0000000-0000-4000-8000-000000000000";
const C1 = "c1000000-0000-4000-8000-000000000000";
const C2 = "c2000000-0000-4000-8000-000000000000";
const R1 = "a1000000-0000-4000-8000-000000000000";

/** A WebSocket class whose instances the test opens, feeds and drops as the server would. */
function scriptedSockets() {
  const sockets = [];
  class ScriptedSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closedWith = null;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }
    send(data) {
      if (this.closedWith !== null) throw new Error("send on a closed socket");
      this.sent.push(JSON.parse(data));
    }
    // The client closing: a real socket's close event would follow; the client must not need it.
    close(code, reason) {
      this.closedWith = { code, reason };
    }
    open() {
      this.onopen?.({ type: "open" });
    }
    push(...messages) {
      for (const message of messages) {
        this.onmessage?.({ type: "message", data: typeof message === "string" ? message : JSON.stringify(message) });
      }
    }
    /** The server or the network ending the connection. */
    drop(code = 1006) {
      this.closedWith = { code };
      this.onerror?.({ type: "error" });
      this.onclose?.({ type: "close", code, wasClean: false });
    }
  }
  return { ScriptedSocket, sockets };
}

/** A fetch answering tickets t1, t2, ... (or the scripted statuses first), recording each call. */
function scriptedTickets(statuses = []) {
  const calls = [];
  let issued = 0;
  async function fetch(url, init) {
    // As a browser's fetch does when called as a method of something else than the window.
    if (this !== undefined) throw new TypeError("Illegal invocation");
    calls.push({ url, method: init.method, authorization: init.headers.authorization });
    const status = statuses.shift() ?? 201;
    if (status === "network") throw new TypeError("Failed to fetch");
    if (status !== 201) {
      return new Response(JSON.stringify({ code: "UNAUTHENTICATED", status }), { status });
    }
    issued += 1;
    const body = { ticket: `t${issued}`, expires_at: "2026-12-06T10:16:00.000Z", url: LIVE };
    return new Response(JSON.stringify(body), { status: 201, headers: { "content-type": "application/json" } });
  }
  return { fetch, calls };
}

function event(cursor, { id = `rec-${cursor}`, event_id = `ev-${cursor}`, type = "appointment.updated", version = 2 } = {}) {
  return {
    event_id,
    cursor: String(cursor),
    type,
    entity: type.split(".")[0],
    id,
    version,
    at: "2026-12-06T10:15:00.123Z",
    actor_id: "77aa0000-0000-4000-8000-000000000000",
  };
}

async function until(condition, what, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A started client over scripted sockets and tickets, recording what it hands the app. */
function harness(options = {}, { statuses = [] } = {}) {
  const { ScriptedSocket, sockets } = scriptedSockets();
  const tickets = scriptedTickets(statuses);
  const seen = { events: [], replayedFlags: [], refetches: [], statuses: [], controls: [], errors: [], authErrors: [] };
  const client = track(new RealtimeClient({
    baseUrl: `${BASE}/`,
    getToken: async () => "token-1",
    WebSocket: ScriptedSocket,
    fetch: tickets.fetch,
    minDelayMs: 1,
    maxDelayMs: 4,
    onEvent: (e, info) => {
      seen.events.push(e.cursor);
      seen.replayedFlags.push(info.replayed);
    },
    onRefetch: (cursor, reason) => seen.refetches.push([cursor, reason]),
    onStatus: (status) => seen.statuses.push(status),
    onControl: (message) => seen.controls.push(message.type),
    onError: (error) => seen.errors.push(String(error?.message ?? error)),
    onAuthError: (status) => seen.authErrors.push(status),
    ...options,
  }));
  const socket = async (n) => {
    await until(() => sockets.length >= n, `socket ${n}`);
    return sockets[n - 1];
  };
  return { client, sockets, socket, calls: tickets.calls, seen };
}

test("cursors compare as integers, not as text", () => {
  assert.equal(compareCursors("9", "10"), -1);
  assert.equal(compareCursors("10", "9"), 1);
  assert.equal(compareCursors("007", "7"), 0);
  assert.equal(compareCursors("18446744073709551617", "18446744073709551616"), 1, "past 2^64");
});

test("only well-formed events are events", () => {
  assert.ok(isRealtimeEvent(event(1)));
  assert.ok(isRealtimeEvent({ ...event(1), actor_id: null, type: "document.purged", entity: "document" }));
  assert.ok(!isRealtimeEvent({ type: "resumed", cursor: "1", replayed: 0 }));
  assert.ok(!isRealtimeEvent({ ...event(1), cursor: "1.5" }), "a cursor is a decimal integer");
  assert.ok(!isRealtimeEvent({ ...event(1), type: "appointment.exploded" }));
  assert.ok(!isRealtimeEvent({ ...event(1), entity: "contact" }), "type and entity agree");
});

test("the backoff grows from minDelayMs to maxDelayMs, jittered, never below the minimum", () => {
  assert.equal(backoffDelay(0, 500, 30_000, () => 0), 500);
  assert.equal(backoffDelay(0, 500, 30_000, () => 1), 1_000);
  assert.equal(backoffDelay(3, 500, 30_000, () => 1), 8_000);
  assert.equal(backoffDelay(20, 500, 30_000, () => 1), 30_000);
  assert.equal(backoffDelay(1_000, 500, 30_000, () => 1), 30_000, "no overflow for a long outage");
  for (let attempt = 0; attempt < 12; attempt += 1) {
    const delay = backoffDelay(attempt, 500, 30_000);
    assert.ok(delay >= 500 && delay <= 30_000, `${delay} ms at attempt ${attempt}`);
  }
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(2, 500, 30_000)));
  assert.ok(spread.size > 10, "clients that lost the network together do not retry in step");
});

test("a first connection buys a ticket with the token, connects with it URL-encoded, resumes without a cursor", async () => {
  const { ScriptedSocket, sockets } = scriptedSockets();
  const calls = [];
  const statuses = [];
  const client = track(new RealtimeClient({
    baseUrl: `${BASE}/`,
    getToken: () => Promise.resolve("jwt.value"),
    WebSocket: ScriptedSocket,
    fetch: async (url, init) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ ticket: "a+b/c=d&e", expires_at: "x", url: LIVE }), { status: 201 });
    },
    onStatus: (status) => statuses.push(status),
  })).start();
  await until(() => sockets.length === 1, "the socket");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, `${BASE}/api/realtime/tickets`);
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers.authorization, "Bearer jwt.value");
  assert.equal(new URL(sockets[0].url).searchParams.get("ticket"), "a+b/c=d&e");
  assert.ok(sockets[0].url.startsWith(`${LIVE}?ticket=a%2Bb%2Fc%3Dd%26e`), sockets[0].url);
  assert.deepEqual(statuses, ["connecting"]);
  sockets[0].open();
  assert.deepEqual(sockets[0].sent, [{ action: "resume" }], "no subscription set: none sent");
  assert.deepEqual(statuses, ["connecting", "open"]);
  sockets[0].push({ type: "resumed", cursor: "40", replayed: 0 });
  assert.deepEqual(statuses, ["connecting", "open", "live"]);
  assert.equal(client.lastCursor, "40", "the log's position: a reconnect resumes from there");
  assert.equal(client.stats.connects, 1);
  assert.equal(client.stats.tickets, 1);
  client.close();
  assert.deepEqual(sockets[0].closedWith, { code: 1000, reason: "closed by the app" });
  assert.deepEqual(statuses, ["connecting", "open", "live", "closed"]);
});

test("the resume carries the subscription, with no separate subscribe on open; a change while live is sent at once", async () => {
  const h = harness({ since: "12" });
  h.client.subscribe({ entities: ["appointment"] });
  h.client.subscribe({ entities: ["appointment", "contact"], ids: [C0] });
  h.client.start();
  const s = await h.socket(1);
  assert.deepEqual(s.sent, [], "nothing sent before the socket opened");
  s.open();
  // One message: API Gateway may handle a subscribe sent before it after it.
  assert.deepEqual(s.sent, [{ action: "resume", since: "12", entities: ["appointment", "contact"], ids: [C0] }]);
  s.push({ type: "resumed", cursor: "12", replayed: 0 });
  assert.deepEqual(s.sent.length, 1, "nothing more once the resume is answered");
  h.client.subscribe({ ids: [C1, C2] });
  h.client.subscribe({});
  assert.deepEqual(s.sent.slice(1), [{ action: "subscribe", ids: [C1, C2] }, { action: "subscribe" }]);
  assert.deepEqual(h.seen.controls, ["resumed"]);
  h.client.close();
});

test("a resume without since carries the subscription alone", async () => {
  const h = harness();
  h.client.subscribe({ ids: [R1] });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  assert.deepEqual(s.sent, [{ action: "resume", ids: [R1] }]);
  h.client.close();
});

test("a subscribe() made while the resume is in flight is sent once the resume is answered, not before", async () => {
  const h = harness({ since: "5" });
  h.client.subscribe({ entities: ["appointment"] });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  h.client.subscribe({ entities: ["contact"] });
  assert.deepEqual(s.sent, [{ action: "resume", since: "5", entities: ["appointment"] }], "it could be handled before the resume");
  s.push({ type: "resumed", cursor: "5", replayed: 0 });
  assert.deepEqual(s.sent.slice(1), [{ action: "subscribe", entities: ["contact"] }]);
  assert.equal(h.client.status, "live");
  h.client.close();
});

test("events are held during a resume, then delivered once each in cursor order", async () => {
  const h = harness();
  h.client.start();
  const s = await h.socket(1);
  s.open();
  // Replayed 8 and 9 interleaved with the live 10, and 9 again (a replay overlapping the stream).
  s.push(event(10), event(8), event(9), event(9));
  assert.deepEqual(h.seen.events, [], "nothing is delivered before the server says the replay is done");
  s.push({ type: "resumed", cursor: "9", replayed: 2 });
  assert.deepEqual(h.seen.events, ["8", "9", "10"], "sorted by cursor as integers (10 after 9)");
  assert.deepEqual(h.seen.replayedFlags, [true, true, true]);
  assert.equal(h.client.lastCursor, "10", "the log's position does not move the cursor back");
  assert.equal(h.client.stats.duplicatesDropped, 1);
  assert.equal(h.client.stats.replayed, 3);

  // Live: a duplicate by event_id, then the next one.
  s.push(event(11), event(11), event(12));
  assert.deepEqual(h.seen.events, ["8", "9", "10", "11", "12"]);
  assert.deepEqual(h.seen.replayedFlags.slice(3), [false, false]);
  assert.equal(h.client.stats.duplicatesDropped, 2);
  assert.equal(h.client.stats.delivered, 5);
  assert.equal(h.client.lastCursor, "12");
  h.client.close();
});

test("live, an event arriving after a higher cursor is delivered (two stream shards), each once, and lastCursor keeps the highest", async () => {
  const h = harness();
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push({ type: "resumed", cursor: "20", replayed: 0 });
  // 22 from one shard's fan-out before 21 from the other's, then both again (retried batches).
  s.push(event(22), event(21));
  assert.deepEqual(h.seen.events, ["22", "21"], "21 is not dropped for coming after 22");
  assert.equal(h.client.lastCursor, "22", "a late event does not move the cursor back");
  s.push(event(21), event(22));
  assert.deepEqual(h.seen.events, ["22", "21"], "each once");
  assert.equal(h.client.stats.duplicatesDropped, 2);
  assert.equal(h.client.stats.delivered, 2);
  assert.equal(h.client.lastCursor, "22");
  h.client.close();
});

test("live, a duplicate event_id is dropped whatever its cursor, and a new event_id is delivered whatever its cursor", async () => {
  const h = harness();
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push({ type: "resumed", cursor: "30", replayed: 0 }, event(31), event(32));
  s.push(event(31));
  // The same event_id under another cursor is the same event; a new one below the cursor is not.
  s.push(event(33, { event_id: "ev-32" }));
  s.push(event(29, { event_id: "ev-late" }));
  assert.deepEqual(h.seen.events, ["31", "32", "29"]);
  assert.equal(h.client.stats.duplicatesDropped, 2);
  assert.equal(h.client.lastCursor, "32");
  h.client.close();
});

test("a resume from a persisted cursor skips what the cursor covers", async () => {
  const h = harness({ since: "41" });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  assert.deepEqual(s.sent, [{ action: "resume", since: "41" }]);
  // Held during the resume: at or below its since is covered, whatever the event_id.
  s.push(event(41), event(43), event(40, { event_id: "ev-other" }), event(42), { type: "resumed", cursor: "43", replayed: 2 });
  assert.deepEqual(h.seen.events, ["42", "43"]);
  assert.equal(h.client.stats.duplicatesDropped, 2);
  assert.equal(h.client.lastCursor, "43");
  h.client.close();
});

test("a refetch hands the cursor to the app, then delivers the held events after it", async () => {
  const h = harness({ since: "3" });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push(event(90), event(92), event(91));
  s.push({ type: "refetch", cursor: "90", reason: "TOO_OLD" });
  assert.deepEqual(h.seen.refetches, [["90", "TOO_OLD"]]);
  assert.deepEqual(h.seen.events, ["91", "92"], "90 is covered by the reload");
  assert.equal(h.client.lastCursor, "92");
  assert.equal(h.client.stats.refetches, 1);
  assert.equal(h.client.status, "live");
  s.push(event(93));
  assert.deepEqual(h.seen.events, ["91", "92", "93"]);
  h.client.close();
});

test("an async onRefetch that fails is reported, and the client goes on", async () => {
  const h = harness({ onRefetch: async () => Promise.reject(new Error("reload failed")) });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push({ type: "refetch", cursor: "5", reason: "UNKNOWN_CURSOR" }, event(6));
  await until(() => h.seen.errors.includes("reload failed"), "the reported rejection");
  assert.deepEqual(h.seen.events, ["6"]);
  h.client.close();
});

test("a lost connection reconnects with a new ticket, resumes from the last cursor and re-subscribes", async () => {
  const h = harness();
  h.client.subscribe({ entities: ["appointment", "contact"] });
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push({ type: "resumed", cursor: "10", replayed: 0 }, event(11), event(12));
  first.drop(1006);
  assert.equal(h.client.status, "reconnecting");

  const second = await h.socket(2);
  assert.equal(h.calls.length, 2, "a ticket works once: a new one per connection");
  assert.equal(new URL(first.url).searchParams.get("ticket"), "t1");
  assert.equal(new URL(second.url).searchParams.get("ticket"), "t2");
  second.open();
  assert.deepEqual(second.sent, [{ action: "resume", since: "12", entities: ["appointment", "contact"] }]);
  // The replay, with 12 again (the server's at-least-once), and a live 15 arriving meanwhile.
  second.push(event(12), event(15), event(13), event(14), { type: "resumed", cursor: "14", replayed: 3 });
  assert.deepEqual(h.seen.events, ["11", "12", "13", "14", "15"]);
  assert.equal(h.client.stats.connects, 2);
  assert.equal(h.client.stats.tickets, 2);
  assert.equal(h.client.stats.duplicatesDropped, 1);
  assert.deepEqual(h.seen.statuses, ["connecting", "open", "live", "reconnecting", "connecting", "open", "live"]);
  h.client.close();
});

test("a screen that heard nothing yet resumes from where it joined, so nothing missed is lost", async () => {
  const h = harness();
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push({ type: "resumed", cursor: "40", replayed: 0 });
  first.drop(1001);
  const second = await h.socket(2);
  second.open();
  assert.deepEqual(second.sent, [{ action: "resume", since: "40" }], "without since the server would replay nothing");
  second.push(event(41), { type: "resumed", cursor: "41", replayed: 1 });
  assert.deepEqual(h.seen.events, ["41"]);
});

test("a connection lost during its resume drops the held events and resumes again from the same cursor", async () => {
  const h = harness({ since: "20" });
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push(event(21), event(22));
  first.drop(1001);
  const second = await h.socket(2);
  second.open();
  assert.deepEqual(second.sent, [{ action: "resume", since: "20" }]);
  second.push(event(21), event(22), { type: "resumed", cursor: "22", replayed: 2 });
  assert.deepEqual(h.seen.events, ["21", "22"]);
  h.client.close();
});

test("a refused ticket calls onAuthError and retries with a fresh token", async () => {
  let n = 0;
  const h = harness({ getToken: async () => `token-${++n}` }, { statuses: [401, 403, "network", 500] });
  h.client.start();
  const s = await h.socket(1);
  assert.deepEqual(h.seen.authErrors, [401, 403]);
  assert.deepEqual(
    h.calls.map((c) => c.authorization),
    ["Bearer token-1", "Bearer token-2", "Bearer token-3", "Bearer token-4", "Bearer token-5"],
  );
  assert.equal(h.seen.errors.length, 4, h.seen.errors.join("; "));
  assert.equal(new URL(s.url).searchParams.get("ticket"), "t1");
  assert.equal(h.client.stats.tickets, 1);
  h.client.close();
});

test("a socket that fails before opening is retried with a new ticket", async () => {
  const h = harness();
  h.client.start();
  (await h.socket(1)).drop(1006);
  const second = await h.socket(2);
  second.open();
  second.push({ type: "resumed", cursor: "1", replayed: 0 });
  assert.equal(h.client.stats.connects, 1);
  assert.equal(h.client.stats.tickets, 2);
  h.client.close();
});

test("close() stops for good: no reconnect, a pending retry is cancelled", async () => {
  const h = harness({ minDelayMs: 30, maxDelayMs: 30 });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.drop();
  assert.equal(h.client.status, "reconnecting");
  h.client.close();
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(h.sockets.length, 1);
  assert.equal(h.calls.length, 1);
  assert.equal(h.client.status, "closed");
  assert.throws(() => h.client.start(), /closed/);
});

test("close() while the ticket is being bought opens nothing", async () => {
  let release;
  const h = harness({ getToken: () => new Promise((resolve) => (release = resolve)) });
  h.client.start();
  await until(() => release !== undefined, "getToken");
  h.client.close();
  release("late-token");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(h.sockets.length, 0);
});

test("events of a replaced socket are ignored", async () => {
  const h = harness();
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push({ type: "resumed", cursor: "1", replayed: 0 });
  const staleOnMessage = first.onmessage;
  first.drop();
  staleOnMessage?.({ data: JSON.stringify(event(2)) });
  assert.equal(first.onmessage, null, "the client detached from the lost socket");
  assert.deepEqual(h.seen.events, []);
  h.client.close();
});

test("pings keep the connection; a connection silent after a ping is replaced", async () => {
  const h = harness({ pingIntervalMs: 25 });
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push({ type: "resumed", cursor: "5", replayed: 0 });
  await until(() => first.sent.some((m) => m.action === "ping"), "a ping");
  first.push({ type: "pong" });
  await until(() => first.sent.filter((m) => m.action === "ping").length >= 2, "a second ping");
  // No pong this time: the next tick gives up on the connection.
  const second = await h.socket(2);
  assert.equal(first.closedWith?.code, 4000);
  assert.ok(h.seen.errors.includes("no answer to ping"), h.seen.errors.join("; "));
  second.open();
  assert.deepEqual(second.sent, [{ action: "resume", since: "5" }]);
  h.client.close();
});

test("a resume that is never answered is given up and retried", async () => {
  const h = harness({ since: "7", resumeTimeoutMs: 20 });
  h.client.start();
  const first = await h.socket(1);
  first.open();
  first.push(event(8));
  const second = await h.socket(2);
  assert.equal(first.closedWith?.code, 4000);
  assert.deepEqual(h.seen.events, [], "held events of an unfinished resume are not delivered");
  second.open();
  assert.deepEqual(second.sent, [{ action: "resume", since: "7" }]);
  h.client.close();
});

test("malformed messages and throwing callbacks are reported without breaking delivery", async () => {
  const h = harness({
    onEvent: (e) => {
      h.seen.events.push(e.cursor);
      if (e.cursor === "2") throw new Error("the app's bug");
    },
  });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push({ type: "resumed", cursor: "1", replayed: 0 });
  s.push("not json", { type: "mystery" }, { type: "error", code: "UNKNOWN_ACTION", detail: "x" }, event(2), event(3));
  assert.deepEqual(h.seen.events, ["2", "3"]);
  assert.equal(h.client.lastCursor, "3");
  assert.equal(h.seen.errors.length, 3, h.seen.errors.join("; "));
  assert.ok(h.seen.controls.includes("error"));
  h.client.close();
});

test("the ids remembered for dedupe are bounded", async () => {
  const h = harness();
  h.client.start();
  const s = await h.socket(1);
  s.open();
  s.push({ type: "resumed", cursor: "0", replayed: 0 });
  for (let cursor = 1; cursor <= 1_001; cursor += 1) s.push(event(cursor));
  assert.equal(h.client.stats.delivered, 1_001);
  // The oldest id was forgotten, so a copy of it 1,000 events later is delivered again (the
  // bound's cost: live, cursors drop nothing); the second is still known.
  s.push(event(2, { event_id: "ev-2" }), event(1, { event_id: "ev-1" }));
  assert.deepEqual(h.seen.events.slice(-2), ["1001", "1"]);
  assert.equal(h.client.stats.duplicatesDropped, 1);
  assert.equal(h.client.lastCursor, "1001");
  h.client.close();
});

test("without a WebSocket option the global one is used", async (t) => {
  const { ScriptedSocket, sockets } = scriptedSockets();
  const previous = globalThis.WebSocket;
  globalThis.WebSocket = ScriptedSocket;
  t.after(() => {
    if (previous === undefined) delete globalThis.WebSocket;
    else globalThis.WebSocket = previous;
  });
  const tickets = scriptedTickets();
  const client = track(new RealtimeClient({ baseUrl: BASE, getToken: () => "t", fetch: tickets.fetch })).start();
  await until(() => sockets.length === 1, "the global WebSocket");
  client.close();
});

test("a subscription the server would refuse is refused at once, and the last good one is kept", async () => {
  const h = harness();
  h.client.subscribe({ entities: ["contact"] });
  assert.throws(() => h.client.subscribe({ entities: ["appointments"] }), /entities/);
  assert.throws(() => h.client.subscribe({ ids: ["rec-1"] }), /UUID/);
  assert.throws(() => h.client.subscribe({ ids: Array.from({ length: 101 }, () => C1) }), /at most 100/);
  h.client.subscribe({ ids: Array.from({ length: 100 }, () => C1.toUpperCase()) });
  h.client.subscribe({ entities: ["contact"], ids: [] });
  h.client.start();
  const s = await h.socket(1);
  s.open();
  assert.deepEqual(s.sent, [{ action: "resume", entities: ["contact"], ids: [] }]);
  // Should the server refuse the resume all the same, the app hears of it.
  s.push({ type: "error", code: "BAD_SUBSCRIPTION", detail: "x" });
  assert.ok(h.seen.errors.some((e) => e.includes("BAD_SUBSCRIPTION")), h.seen.errors.join("; "));
  h.client.close();
});

test("a malformed since is refused at once", () => {
  assert.throws(() => new RealtimeClient({ baseUrl: BASE, getToken: () => "t", since: "abc" }), /decimal cursor/);
});

test("a message packing several events, one JSON object per line, delivers each of them in order", async () => {
  const h = harness();
  h.client.start();
  const s = await h.socket(1);
  s.open();
  // The replay and the resume's answer may share a message too.
  s.push([event(1), event(2), { type: "resumed", cursor: "2", replayed: 2 }].map((m) => JSON.stringify(m)).join("\n"));
  assert.deepEqual(h.seen.events, ["1", "2"]);
  assert.equal(h.client.status, "live");
  s.push([event(3), event(4), event(3)].map((m) => JSON.stringify(m)).join("\n") + "\n");
  assert.deepEqual(h.seen.events, ["1", "2", "3", "4"], "the repeated one dropped");
  assert.equal(h.client.lastCursor, "4");
  s.push(`${JSON.stringify(event(5))}\nnot json`);
  assert.deepEqual(h.seen.events, ["1", "2", "3", "4", "5"], "a bad line does not lose the good ones");
  assert.equal(h.seen.errors.length, 1);
});
