// The frontend's side of the browser test: what a React app would do with the generated client,
// from a page on another origin than the API. Each scenario returns what the page could see;
// run.mjs checks it. Nothing here decides that a step passed: a refused call is reported as
// refused, never replaced by a success.
import { createHubClient, isProblem, sha256Hex, uploadDocument, type PresignedUpload } from "../../../clients/typescript/src/index.ts";
import { live } from "./live.ts";

interface Config {
  apiUrl: string;
  token: string;
  today: string;
}

type Json = Record<string, unknown>;

function show(step: string, outcome: string, ok = true): void {
  const item = document.createElement("li");
  item.className = ok ? "ok" : "refused";
  item.textContent = `${step}: ${outcome}`;
  document.getElementById("steps")?.appendChild(item);
}

function headers(response: Response, names: string[]): Record<string, string | null> {
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

/** A fetch that reports a browser refusal (CORS, network) instead of throwing. */
async function attempt(call: () => Promise<Response>): Promise<{ refused: string } | { response: Response }> {
  try {
    return { response: await call() };
  } catch (error) {
    return { refused: String(error) };
  }
}

const EXPOSED = ["etag", "location", "x-request-id", "idempotent-replayed", "www-authenticate", "content-type", "cache-control"];

/** The day's work of a practice: contact, list, search, appointment, document, summary. */
async function practiceDay(config: Config): Promise<Json> {
  const client = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const seen: Json = {};
  const lastName = `Navigateur${Math.floor(Math.random() * 1e6)}`;
  const contactBody = { first_name: "Chloé", last_name: lastName, city: "Nantes" };

  const created = await client.POST("/api/business/contacts", { body: contactBody });
  seen.create = { status: created.response.status, headers: headers(created.response, EXPOSED), id: created.data?.id };
  show("create contact", `${created.response.status} ${created.data?.id}`);
  const id = created.data?.id;
  if (!id) {
    return seen;
  }

  const list = await client.GET("/api/business/contacts", { params: { query: { page_size: 20 } } });
  seen.list = { status: list.response.status, ids: list.data?.items.map((c) => c.id) };
  show("list contacts", `${list.data?.items.length} item(s)`);
  const search = await client.GET("/api/business/contacts", { params: { query: { search: lastName.slice(0, 6) } } });
  seen.search = { status: search.response.status, ids: search.data?.items.map((c) => c.id) };
  show("search contacts", `${search.data?.items.length} found`);

  const patched = await client.PATCH("/api/business/contacts/{id}", {
    params: { path: { id }, header: { "If-Match": created.response.headers.get("etag") ?? "" } },
    body: { city: "Lyon" },
  });
  seen.patch = { status: patched.response.status, city: patched.data?.city, etag: patched.response.headers.get("etag") };
  show("patch with If-Match", `${patched.response.status}`);

  const start = new Date(`${config.today}T23:00:00Z`);
  const end = new Date(start.getTime() + 30 * 60 * 1000);
  const appointment = await client.POST("/api/business/appointments", {
    body: {
      title: "Consultation",
      contact_id: id,
      timezone: "Europe/Paris",
      start_datetime: start.toISOString(),
      end_datetime: end.toISOString(),
      assigned_provider: crypto.randomUUID(),
    },
  });
  seen.appointment = { status: appointment.response.status, contact_id: appointment.data?.contact_id };
  show("book appointment", `${appointment.response.status}`);

  const bytes = new TextEncoder().encode(`%PDF-1.7 ordonnance pour ${lastName}`);
  const declared = await client.POST("/api/business/documents", {
    body: {
      title: "Ordonnance",
      document_type: "prescription",
      file_name: "ordonnance.pdf",
      mime_type: "application/pdf",
      file_size_bytes: bytes.length,
      checksum: await sha256Hex(bytes),
      related_contact_id: id,
    },
  });
  seen.document = { status: declared.response.status, upload_status: declared.data?.upload_status, bytes: bytes.length };
  show("declare document", `${declared.response.status}`);
  const upload = declared.data?.upload as PresignedUpload | undefined;
  if (upload && declared.data) {
    const put = await attempt(() => uploadDocument(upload, bytes));
    if ("refused" in put) {
      seen.upload = { refused: put.refused, origin: new URL(upload.url).origin };
      show("upload to S3", `refused by the browser: ${put.refused}`, false);
    } else {
      seen.upload = { status: put.response.status, etag: put.response.headers.get("etag") };
      show("upload to S3", `${put.response.status}`);
      const completed = await client.POST("/api/business/documents/{id}/complete", {
        params: { path: { id: declared.data.id } },
      });
      seen.complete = { status: completed.response.status, upload_status: completed.data?.upload_status };
      show("complete document", `${completed.response.status} ${completed.data?.upload_status}`);
    }
  }

  // The summary is kept from the table's stream: poll until this organization's work is in it.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const summary = await client.GET("/api/analytics/summary", {
      params: { query: { from: config.today, to: config.today } },
    });
    seen.summary = { status: summary.response.status, body: summary.data ?? summary.error };
    const body = summary.data as Json | undefined;
    const contacts = body?.contacts as Json | undefined;
    const appointments = body?.appointments as Json | undefined;
    const documents = body?.documents as Json | undefined;
    const settled =
      contacts?.total === 1 &&
      appointments?.total === 1 &&
      documents?.total === 1 &&
      (seen.complete === undefined || documents?.storage_bytes === bytes.length);
    if (summary.response.status !== 200 || settled || Date.now() > deadline) {
      show("analytics summary", `${summary.response.status} ${JSON.stringify({ contacts, documents })}`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  return seen;
}

/** What a page sees of the API's errors: problem bodies and their headers. */
async function errorPaths(config: Config): Promise<Json> {
  const client = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const seen: Json = {};
  // A retried create (after the practice day's summary was read: it is another contact).
  const body = { first_name: "Retry", last_name: `Idempotent${Math.floor(Math.random() * 1e6)}` };
  const idempotency = { header: { "Idempotency-Key": `browser-${body.last_name}` } };
  const first = await client.POST("/api/business/contacts", { body, params: idempotency });
  const replay = await client.POST("/api/business/contacts", { body, params: idempotency });
  seen.replay = {
    status: replay.response.status,
    headers: headers(replay.response, EXPOSED),
    id: replay.data?.id,
    first: first.data?.id,
  };
  const missing = await client.GET("/api/business/contacts/{id}", { params: { path: { id: crypto.randomUUID() } } });
  seen.notFound = {
    status: missing.response.status,
    headers: headers(missing.response, EXPOSED),
    problem: isProblem(missing.error) ? missing.error : null,
  };
  const anonymous = createHubClient({ baseUrl: config.apiUrl });
  const unauthenticated = await anonymous.GET("/api/business/contacts", {});
  seen.unauthenticated = {
    status: unauthenticated.response.status,
    headers: headers(unauthenticated.response, EXPOSED),
    problem: isProblem(unauthenticated.error) ? unauthenticated.error : null,
  };
  const invalid = await client.POST("/api/business/contacts", { body: { first_name: "", last_name: "" } });
  seen.invalid = { status: invalid.response.status, problem: isProblem(invalid.error) ? invalid.error : null };
  // A header the API's CORS configuration does not allow: the preflight refuses it.
  const forbiddenHeader = await attempt(() =>
    fetch(`${config.apiUrl}/api/business/contacts`, {
      headers: { authorization: `Bearer ${config.token}`, "x-not-allowed": "1" },
    }),
  );
  seen.forbiddenHeader = "refused" in forbiddenHeader ? { refused: forbiddenHeader.refused } : { status: forbiddenHeader.response.status };
  show("error paths", JSON.stringify(seen));
  return seen;
}

/** From an origin the API does not allow: every call must be refused by the browser. */
async function refusedOrigin(config: Config): Promise<Json> {
  const client = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const preflighted = await attempt(async () => (await client.GET("/api/business/contacts", {})).response);
  const simple = await attempt(() => fetch(`${config.apiUrl}/api/health`));
  const seen = {
    preflighted: "refused" in preflighted ? { refused: preflighted.refused } : { status: preflighted.response.status },
    simple: "refused" in simple ? { refused: simple.refused } : { status: simple.response.status },
  };
  show("calls from a refused origin", JSON.stringify(seen), false);
  return seen;
}

Object.assign(window, { hub: { practiceDay, errorPaths, refusedOrigin, ...live } });
document.getElementById("origin")!.textContent = window.location.origin;
