// The frontend's path in a real browser (headless Debian Chromium driven by playwright-core),
// against a running local stack. tests/tests/browser.rs starts the stack, mints the token and
// runs this script; run by hand with the variables below against `infra/hub up`
// (whose --param CorsAllowedOrigins must name http://localhost:$HUB_BROWSER_PAGE_PORT).
//
//   HUB_API_URL                the API (http://127.0.0.1:PORT)
//   HUB_BROWSER_TOKEN          a token with an organization
//   HUB_BROWSER_PAGE_PORT      the page's port: origin http://localhost:PORT, allowed by the API
//   HUB_BROWSER_FOREIGN_PORT   another page's port, an origin the API does not allow
//   HUB_BROWSER_CORS           the HTTP API's CorsConfiguration from template.yaml (JSON)
//   HUB_BROWSER_S3_URL         the emulated S3 (moto) the presigned URLs point at
//   HUB_BROWSER_OUT            where screenshots go (default target/browser)
//
// The realtime scenario runs when the stack serves the WebSocket API:
//
//   HUB_REALTIME_URL                   its URL (ws://127.0.0.1:PORT/live, stack.env)
//   HUB_BROWSER_REALTIME_WRITER        a token of organization A that may write appointments
//   HUB_BROWSER_REALTIME_READER        another user of organization A (a viewer)
//   HUB_BROWSER_REALTIME_OTHER         a user of organization B
//
// Fails (exit 1) on any failed check, console error or page error not expected by a check, and
// any request the page or the docs try to send outside the local stack's and pages' origins.
import { createServer } from "node:http";
import { request as httpRequest } from "node:http";
import { connect as tcpConnect, createServer as createTcpServer } from "node:net";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the top of tests/browser/run.mjs)`);
  return value;
};
const apiUrl = env("HUB_API_URL").replace(/\/+$/, "");
const token = env("HUB_BROWSER_TOKEN");
const pageOrigin = `http://localhost:${env("HUB_BROWSER_PAGE_PORT")}`;
const foreignOrigin = `http://localhost:${env("HUB_BROWSER_FOREIGN_PORT")}`;
const cors = JSON.parse(env("HUB_BROWSER_CORS"));
const out = resolve(process.env.HUB_BROWSER_OUT ?? join(here, "..", "..", "target", "browser"));
const chromiumPath = process.env.HUB_CHROMIUM ?? "/usr/bin/chromium";
const today = new Date().toISOString().slice(0, 10);

let failures = 0;
/** Runs one check; whether it passed, for the steps that need the ones before. */
async function check(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
    return true;
  } catch (error) {
    failures += 1;
    console.log(`not ok - ${name}\n  ${String(error?.stack ?? error).split("\n").join("\n  ")}`);
    return false;
  }
}

// --- the pages -------------------------------------------------------------------------------

const bundle = await esbuild.build({
  entryPoints: [join(here, "page", "app.ts")],
  bundle: true,
  write: false,
  format: "iife",
  target: "es2022",
  platform: "browser",
  logLevel: "silent",
});
const appJs = bundle.outputFiles[0].contents;
const indexHtml = readFileSync(join(here, "page", "index.html"));

function servePages(port) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(indexHtml);
    } else if (path === "/app.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8" }).end(appJs);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok, fail) => server.once("error", fail).listen(Number(port), "127.0.0.1", () => ok(server)));
}
const servers = [
  await servePages(env("HUB_BROWSER_PAGE_PORT")),
  await servePages(env("HUB_BROWSER_FOREIGN_PORT")),
];

/** An OPTIONS preflight sent by hand, to read what the API answers (a page cannot see it). */
function preflight(origin, method, requestHeaders) {
  return new Promise((ok, fail) => {
    const req = httpRequest(`${apiUrl}/api/business/contacts/00000000-0000-4000-8000-000000000000`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method, "access-control-request-headers": requestHeaders },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => ok({ status: res.statusCode, headers: res.headers }));
    });
    req.on("error", fail).end();
  });
}

// --- the browser -----------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: chromiumPath,
  // playwright-core gives every launch a fresh --user-data-dir of its own (a temporary
  // directory, removed at close). The flags keep Chromium off a network it does not have.
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // No name but the local ones resolves: nothing can leave the machine by name.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
  ],
});

const localOrigins = new Set([new URL(apiUrl).origin, new URL(env("HUB_BROWSER_S3_URL")).origin, pageOrigin, foreignOrigin]);
const realtimeUrl = process.env.HUB_REALTIME_URL;

/**
 * A page whose console errors, page errors and requests are all recorded. `expectedErrors` are
 * the console messages a check provokes on purpose (a CORS refusal is logged by Chromium); any
 * other error fails the run.
 */
async function openPage(context, url, expectedErrors = []) {
  const page = await context.newPage();
  const unexpected = [];
  const foreign = [];
  page.on("console", (message) => {
    if (message.type() === "error" && !expectedErrors.some((pattern) => pattern.test(message.text()))) {
      unexpected.push(`console error: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => unexpected.push(`page error: ${error.message}`));
  const requests = [];
  page.on("request", (request) => {
    requests.push(`${request.method()} ${request.url()}`);
    const origin = new URL(request.url()).origin;
    if (!localOrigins.has(origin) && !request.url().startsWith("data:")) foreign.push(request.url());
  });
  page.on("websocket", (socket) => {
    if (!localOrigins.has(new URL(socket.url()).origin)) foreign.push(socket.url());
  });
  await page.goto(url);
  return { page, unexpected, foreign, requests };
}

/**
 * A TCP relay to the WebSocket API, through which a page can be made to connect. `cut()` drops
 * every connection through it, as a network outage does (the browser gets no close frame, the
 * server sees its TCP connection end), and refuses new ones until `restore()`.
 */
function startRelay(target) {
  const pairs = new Set();
  let down = false;
  const server = createTcpServer((downstream) => {
    if (down) {
      downstream.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(Number(target.port), target.hostname);
    const pair = { downstream, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  return new Promise((ok, fail) =>
    server.once("error", fail).listen(0, "127.0.0.1", () =>
      ok({
        port: server.address().port,
        cut() {
          down = true;
          for (const { downstream, upstream } of pairs) {
            downstream.resetAndDestroy();
            upstream.destroy();
          }
          pairs.clear();
        },
        restore() {
          down = false;
        },
        close() {
          server.close();
        },
      }),
    ),
  );
}

/**
 * Waits until `predicate(arg)`, run in the page (it reads `window.hub.liveState()`), holds.
 * Answers the page's realtime state then; on a timeout, the error carries that state.
 */
async function waitLive(page, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
  } catch (error) {
    const state = await page.evaluate(() => window.hub.liveState()).catch(() => "unreadable");
    throw new Error(`${error.message}\nthe page's realtime state: ${JSON.stringify(state, null, 2)}`);
  }
  return page.evaluate(() => window.hub.liveState());
}

/**
 * Real-time notifications between three pages: two users of practice A, one of practice B. Page
 * "reader" connects through the relay, so the test can drop its connection as a network would
 * without the page or its client being told.
 */
async function realtimeScenario(browser) {
  const tokens = {
    writer: env("HUB_BROWSER_REALTIME_WRITER"),
    reader: env("HUB_BROWSER_REALTIME_READER"),
    other: env("HUB_BROWSER_REALTIME_OTHER"),
  };
  const relay = await startRelay(new URL(realtimeUrl));
  localOrigins.add(new URL(realtimeUrl).origin);
  localOrigins.add(`ws://127.0.0.1:${relay.port}`);
  // Chromium logs a WebSocket that could not connect: the reader's attempts while the relay is
  // down are meant to fail at the network level (a refused ticket would be an HTTP answer).
  const refusedSocket = new RegExp(
    `WebSocket connection to 'ws://127\\.0\\.0\\.1:${relay.port}/[^']*' failed: ` +
      "(Error in connection establishment|Error during WebSocket handshake): net::ERR_[A-Z_]+$",
  );
  const contexts = [];
  const open = async (expected) => {
    const context = await browser.newContext();
    contexts.push(context);
    return openPage(context, `${pageOrigin}/`, expected);
  };
  try {
    const writer = await open();
    const reader = await open([refusedSocket]);
    const other = await open();
    const wsUrl = new URL(realtimeUrl);
    let booked;
    let beforeCut;
    let changes;

    const connected = await check("realtime: each page connects with a one-time ticket, resumes with its subscription and goes live", async () => {
      await reader.page.evaluate((config) => window.hub.listen(config), {
        apiUrl,
        token: tokens.reader,
        subscription: { entities: ["appointment"] },
        // Short: the outage, not the backoff, decides when the reader comes back.
        minDelayMs: 300,
        maxDelayMs: 1_500,
        relayPort: relay.port,
      });
      await other.page.evaluate((config) => window.hub.listen(config), { apiUrl, token: tokens.other });
      // The writer's page listens too: what it hears tells when the fan-out has logged a change.
      await writer.page.evaluate((config) => window.hub.listen(config), { apiUrl, token: tokens.writer });
      const isLive = () => window.hub.liveState().statuses.at(-1)?.status === "live";
      const r = await waitLive(reader.page, isLive, null, 20_000);
      await waitLive(other.page, isLive, null, 20_000);
      await waitLive(writer.page, isLive, null, 20_000);
      assert.equal(r.sockets.length, 1, JSON.stringify(r.sockets));
      const url = new URL(r.sockets[0].url);
      assert.equal(`${url.origin}${url.pathname}`, `${wsUrl.origin}${wsUrl.pathname}`, "the ticket answer's url is the stack's WebSocket API");
      assert.match(url.searchParams.get("ticket") ?? "", /.{16,}/);
      // The subscription rides in the resume: API Gateway does not order two messages of a
      // connection, so a separate subscribe could be handled after the replay. Whether the
      // server applied it shows below: the reader hears no other entity.
      assert.deepEqual(r.sockets[0].sent, [{ action: "resume", entities: ["appointment"] }]);
      assert.deepEqual(r.statuses.map((s) => s.status), ["connecting", "open", "live"]);
      assert.deepEqual([r.authErrors, r.refetches], [[], []]);
    });
    if (!connected) return;

    const heard = await check("realtime: a booking on one page of practice A reaches its other page within 2 s", async () => {
      booked = await writer.page.evaluate((config) => window.hub.book(config), { apiUrl, token: tokens.writer });
      assert.deepEqual([booked.contact?.status, booked.appointment?.status], [201, 201], JSON.stringify(booked));
      const r = await waitLive(
        reader.page,
        (id) => window.hub.liveState().events.some((e) => e.type === "appointment.created" && e.id === id),
        booked.appointment.id,
        10_000,
      );
      const event = r.events.find((e) => e.id === booked.appointment.id);
      const latency = event.receivedAt - booked.answeredAt;
      console.log(`  appointment.created heard ${latency} ms after the booking was answered`);
      assert.ok(latency <= 2_000, `heard after ${latency} ms`);
      assert.deepEqual(
        [event.entity, event.version, event.replayed, typeof event.at, typeof event.event_id],
        ["appointment", booked.appointment.version, false, "string", "string"],
      );
      assert.match(event.cursor, /^\d+$/);
      // Only the ticket was asked of the API: the page heard the booking, it did not poll for it.
      const calls = reader.requests.filter((r) => !r.startsWith(`GET ${pageOrigin}/`) && !r.startsWith("OPTIONS "));
      assert.deepEqual([...new Set(calls)], [`POST ${apiUrl}/api/realtime/tickets`]);
      beforeCut = r;
    });
    if (!heard) return;

    const lost = await check("realtime: a connection dropped by the network is taken as lost, not as closed by the app", async () => {
      beforeCut = await reader.page.evaluate(() => window.hub.liveState());
      relay.cut();
      const r = await waitLive(reader.page, () => window.hub.liveState().statuses.at(-1)?.status !== "live", null, 10_000);
      assert.equal(r.sockets[0].closeCode, 1006, "no close frame: the page was not told");
      assert.ok(["reconnecting", "connecting"].includes(r.statuses.at(-1).status));
    });
    if (!lost) return;

    const changed = await check("realtime: page A makes three changes while the reader is disconnected", async () => {
      changes = await writer.page.evaluate(([config, ids]) => window.hub.threeChanges(config, ids), [
        { apiUrl, token: tokens.writer },
        { contactId: booked.contact.id, appointmentId: booked.appointment.id },
      ]);
      assert.deepEqual(changes.changes.map((c) => c.status), [200, 201, 200], JSON.stringify(changes));
      // Committed is not yet logged: the stream reaches the fan-out a poll later. Once the
      // writer's own page has heard all three, they are in the log, and the reader, still cut
      // off, can only get them from its resume.
      await waitLive(
        writer.page,
        (expected) => expected.every(({ id, version }) => window.hub.liveState().events.some((e) => e.id === id && e.version === version)),
        changes.changes.map(({ id, version }) => ({ id, version })),
        20_000,
      );
      const r = await reader.page.evaluate(() => window.hub.liveState());
      assert.equal(r.stats.connects, 1, "the relay let the reader back in during the outage");
    });
    if (!changed) return;

    await check("realtime: back online, the reader resumes and shows exactly the three changes it missed, in order, once", async () => {
      relay.restore();
      await waitLive(
        reader.page,
        () => {
          const state = window.hub.liveState();
          return state.stats.connects >= 2 && state.statuses.at(-1).status === "live";
        },
        null,
        30_000,
      );
      // Anything delivered twice (a replay overlapping the live stream) would arrive now.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const r = await reader.page.evaluate(() => window.hub.liveState());
      const missed = r.events.slice(beforeCut.events.length);
      const expected = changes.changes.map(({ type, id, version }) => ({ type, id, version }));
      assert.deepEqual(missed.map(({ type, id, version }) => ({ type, id, version })), expected, JSON.stringify(missed, null, 2));
      assert.ok(missed.every((e) => e.replayed), "they came with the resume");
      const cursors = [beforeCut.lastCursor, ...missed.map((e) => e.cursor)].map(BigInt);
      assert.ok(cursors.every((c, i) => i === 0 || c > cursors[i - 1]), `cursors ${cursors}`);
      assert.equal(new Set(missed.map((e) => e.event_id)).size, 3);
      // The DOM shows each once.
      const shown = await reader.page.locator("#live-events li").allTextContents();
      assert.deepEqual(shown.slice(beforeCut.events.length), missed.map((e) => `${e.cursor} ${e.type} ${e.id} v${e.version}`));
      // The reconnect bought a new ticket and resumed from the last cursor it handled.
      const opened = r.sockets.filter((s) => s.openedAt !== null);
      assert.equal(opened.length, 2);
      const tickets = r.sockets.map((s) => new URL(s.url).searchParams.get("ticket"));
      assert.equal(new Set(tickets).size, tickets.length, "a new ticket for every attempt");
      assert.deepEqual(opened[1].sent.slice(0, 1), [{ action: "resume", since: beforeCut.lastCursor, entities: ["appointment"] }]);
      assert.ok(!opened[1].sent.some((m) => m.action === "subscribe"), "no separate subscribe");
      const resumed = r.controls.filter((c) => c.type === "resumed");
      assert.equal(resumed.length, 2, JSON.stringify(r.controls));
      assert.deepEqual(r.refetches, []);
      assert.ok(!r.events.some((e) => e.entity !== "appointment"), "the subscription kept other entities away");
      console.log(`  reader: ${JSON.stringify(r.stats)}, ${r.sockets.length - 2} attempt(s) refused during the outage`);
    });

    await check("realtime: the other practice's page heard none of it, and hears its own practice", async () => {
      const before = await other.page.evaluate(() => window.hub.liveState());
      assert.deepEqual(before.events, [], "an event crossed organizations");
      const own = await other.page.evaluate((config) => window.hub.createContact(config), { apiUrl, token: tokens.other });
      assert.equal(own.status, 201);
      const o = await waitLive(other.page, (id) => window.hub.liveState().events.some((e) => e.id === id), own.id, 10_000);
      assert.deepEqual(o.events.map((e) => [e.type, e.id]), [["contact.created", own.id]]);
      const r = await reader.page.evaluate(() => window.hub.liveState());
      assert.ok(!r.events.some((e) => e.id === own.id));
    });

    await check("realtime pages log no console error but the reader's refused attempts, and request nothing off the machine", async () => {
      for (const [name, page] of Object.entries({ writer, reader, other })) {
        assert.deepEqual(page.unexpected, [], name);
        assert.deepEqual(page.foreign, [], name);
      }
      const shot = join(out, "realtime.png");
      await reader.page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);
    });
  } finally {
    for (const context of contexts) await context.close();
    relay.close();
  }
}

try {
  // The CORS pages run without Playwright's request interception: with it on, Playwright
  // answers every preflight itself with permissive headers, which would hide the API's answers.
  const context = await browser.newContext();

  await check("a preflight from the allowed origin gets the template's CORS configuration", async () => {
    const { status, headers } = await preflight(pageOrigin, "PATCH", "authorization,content-type,if-match");
    assert.equal(status, 204);
    assert.equal(headers["access-control-allow-origin"], pageOrigin);
    const list = (value) => String(value ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean).sort();
    assert.deepEqual(list(headers["access-control-allow-methods"]), list(cors.allow_methods.join(",")));
    assert.deepEqual(list(headers["access-control-allow-headers"]), list(cors.allow_headers.join(",")));
    assert.equal(headers["access-control-max-age"], String(cors.max_age));
    assert.equal(headers["access-control-allow-credentials"], cors.allow_credentials ? "true" : undefined);
  });
  await check("a preflight from another origin gets no CORS header", async () => {
    const { headers } = await preflight(foreignOrigin, "GET", "authorization");
    assert.deepEqual(Object.keys(headers).filter((h) => h.startsWith("access-control-")), []);
  });

  // The practice's day, from the allowed origin: no console error at all.
  const main = await openPage(context, `${pageOrigin}/`);
  const day = await main.page.evaluate((config) => window.hub.practiceDay(config), { apiUrl, token, today });
  console.log(`practice day, as the page saw it:\n${JSON.stringify(day, null, 2)}`);

  await check("the page creates a contact and reads the exposed headers", async () => {
    assert.equal(day.create.status, 201);
    assert.match(day.create.headers.location ?? "", new RegExp(`/api/business/contacts/${day.create.id}$`));
    assert.equal(day.create.headers.etag, '"1"');
    assert.match(day.create.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(day.create.headers["content-type"], "application/json", "a safelisted header");
  });
  await check("the page lists and searches the contact", async () => {
    assert.equal(day.list.status, 200);
    assert.deepEqual(day.list.ids, [day.create.id]);
    assert.deepEqual(day.search.ids, [day.create.id]);
  });
  await check("a PATCH with If-Match passes the preflight and gets the next version", async () => {
    assert.deepEqual([day.patch.status, day.patch.city, day.patch.etag], [200, "Lyon", '"2"']);
  });
  await check("the page books an appointment for the contact", async () => {
    assert.deepEqual([day.appointment.status, day.appointment.contact_id], [201, day.create.id]);
  });
  await check("the page declares a document, uploads its bytes to the presigned URL and completes it", async () => {
    assert.deepEqual([day.document.status, day.document.upload_status], [201, "pending"]);
    assert.ok(!day.upload.refused, `the browser refused the upload: ${day.upload.refused}`);
    assert.equal(day.upload.status, 200);
    assert.deepEqual([day.complete.status, day.complete.upload_status], [200, "available"]);
  });
  await check("the page reads the organization's analytics summary", async () => {
    assert.equal(day.summary.status, 200, JSON.stringify(day.summary.body));
    const { contacts, appointments, documents } = day.summary.body;
    const figures = JSON.stringify({ contacts, appointments: appointments.total, documents });
    assert.equal(contacts.total, 1, figures);
    assert.equal(appointments.total, 1, figures);
    assert.equal(documents.total, 1, figures);
    assert.equal(documents.storage_bytes, day.document.bytes, figures);
  });

  const shot = join(out, "frontend.png");
  mkdirSync(out, { recursive: true });
  await main.page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  await check("the practice day's page logs no console error and makes no request off the machine", async () => {
    assert.deepEqual(main.unexpected, []);
    assert.deepEqual(main.foreign, []);
  });

  // Error answers, from the allowed origin. Chromium logs every 4xx and the refused preflight.
  const errors = await openPage(context, `${pageOrigin}/`, [
    /Failed to load resource: the server responded with a status of (401|404|422)/,
    /has been blocked by CORS policy: Request header field x-not-allowed is not allowed/,
    /Failed to load resource: net::ERR_FAILED/,
  ]);
  const seen = await errors.page.evaluate((config) => window.hub.errorPaths(config), { apiUrl, token, today });
  console.log(`error paths, as the page saw them:\n${JSON.stringify(seen, null, 2)}`);
  await check("problem bodies and the request id are readable cross-origin", async () => {
    assert.equal(seen.notFound.status, 404);
    assert.equal(seen.notFound.headers["content-type"], "application/problem+json");
    assert.equal(seen.notFound.problem?.code, "NOT_FOUND");
    assert.equal(seen.notFound.problem?.request_id, seen.notFound.headers["x-request-id"]);
    assert.equal(seen.unauthenticated.status, 401);
    assert.equal(seen.unauthenticated.problem?.code, "UNAUTHENTICATED");
    assert.equal(seen.invalid.status, 422);
    assert.equal(seen.invalid.problem?.code, "VALIDATION_FAILED");
    assert.ok(seen.invalid.problem?.errors?.some((e) => e.field === "first_name"));
  });
  await check("the headers the template exposes are readable, and the others stay hidden from the page", async () => {
    assert.equal(seen.replay.status, 201);
    assert.equal(seen.replay.id, seen.replay.first, "the retried POST got the first record");
    assert.match(seen.replay.headers["x-request-id"] ?? "", /^[0-9a-f-]{36}$/);
    for (const [name, response] of [["idempotent-replayed", seen.replay], ["www-authenticate", seen.unauthenticated]]) {
      if (!cors.expose_headers.includes(name)) assert.equal(response.headers[name], null, name);
    }
    if (cors.expose_headers.includes("idempotent-replayed")) {
      assert.equal(seen.replay.headers["idempotent-replayed"], "true", "a retried POST says it was replayed");
    }
  });
  await check("a request header the API does not allow is refused by the preflight", async () => {
    assert.match(seen.forbiddenHeader.refused ?? "", /TypeError: Failed to fetch/);
  });
  await check("the error paths log nothing but the expected refusals", async () => {
    assert.deepEqual(errors.unexpected, []);
    assert.deepEqual(errors.foreign, []);
  });

  // A page from an origin the API does not allow.
  const refused = await openPage(context, `${foreignOrigin}/`, [
    /has been blocked by CORS policy: (Response to preflight request doesn't pass access control check: )?No 'Access-Control-Allow-Origin' header is present/,
    /Failed to load resource: net::ERR_FAILED/,
  ]);
  const denied = await refused.page.evaluate((config) => window.hub.refusedOrigin(config), { apiUrl, token, today });
  await check("a page from an origin that is not allowed cannot call the API", async () => {
    assert.match(denied.preflighted.refused ?? "", /TypeError: Failed to fetch/, JSON.stringify(denied));
    assert.match(denied.simple.refused ?? "", /TypeError: Failed to fetch/, JSON.stringify(denied));
    assert.deepEqual(refused.unexpected, []);
  });

  // The docs page, with every request off the API's origin aborted and recorded.
  const offline = await browser.newContext();
  const blocked = [];
  await offline.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || url.startsWith("blob:") || new URL(url).origin === new URL(apiUrl).origin) {
      return route.continue();
    }
    blocked.push(url);
    return route.abort();
  });
  const docs = await openPage(offline, `${apiUrl}/api/docs`);
  await check("/api/docs renders the operations without any network access", async () => {
    await docs.page.waitForSelector(".opblock, [data-testid='operation'], .operation", { timeout: 20_000 });
    const operations = await docs.page.locator(".opblock, [data-testid='operation'], .operation").count();
    assert.ok(operations > 10, `${operations} operations rendered`);
    assert.deepEqual(blocked, [], "requests off the machine were attempted");
    assert.deepEqual(docs.unexpected, []);
  });
  const docsShot = join(out, "docs.png");
  await docs.page.screenshot({ path: docsShot });
  console.log(`screenshot: ${docsShot}`);

  if (realtimeUrl) {
    await realtimeScenario(browser);
  } else {
    console.log("skip - realtime: the stack serves no WebSocket API (no HUB_REALTIME_URL)");
  }
} finally {
  await browser.close();
  for (const server of servers) server.close();
}

console.log(`\nbrowser: ${failures === 0 ? "all checks passed" : `${failures} check(s) failed`}`);
process.exit(failures === 0 ? 0 : 1);
