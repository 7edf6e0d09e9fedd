/**
 * The Hub API's client for the frontend: `openapi-fetch` over the types that
 * `openapi-typescript` generates from the API's OpenAPI document (`src/schema.d.ts`, never
 * edited by hand: `npm run generate`). Every path, parameter, body and answer is typed from the
 * document, which the backend generates from its own code, so the client cannot drift from the
 * API without `npm run check` (and `infra/hub test`) failing.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

export type HubClient = Client<paths>;

/** A token, or a function giving the current one (called before every request, so a refreshed token is used at once). */
export type TokenSource = string | (() => string | Promise<string>);

export interface HubClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** The API's base URL, without `/api` (SAM's `ApiUrl` output; locally `http://127.0.0.1:9000`). */
  baseUrl: string;
  /** The Identity Service's token, sent as `Authorization: Bearer`. Omit it for `/api/health`. */
  token?: TokenSource;
}

/** A typed client for the Hub API. */
export function createHubClient({ baseUrl, token, ...options }: HubClientOptions): HubClient {
  const client = createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, "") });
  if (token !== undefined) {
    client.use(bearer(token));
  }
  return client;
}

function bearer(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const value = typeof token === "function" ? await token() : token;
      request.headers.set("authorization", `Bearer ${value}`);
      return request;
    },
  };
}

/** One field's problem in a `422 VALIDATION_FAILED` (and other problems naming fields). */
export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

/** An RFC 9457 problem, as every error of the API is sent (`application/problem+json`). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  /** Stable machine code: `VALIDATION_FAILED`, `NOT_FOUND`, `VERSION_CONFLICT`... (README). */
  code: string;
  detail?: string;
  errors?: FieldProblem[];
  /** The request's id, also in the `x-request-id` header: quote it when reporting a problem. */
  request_id?: string;
}

/** Whether an `error` from the client is one of the API's problems (not a network failure). */
export function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) {
    return false;
  }
  const candidate = value as Record<string, unknown>;
  return typeof candidate.code === "string" && typeof candidate.status === "number";
}

/** What `POST /api/business/documents` (and a new version) answers in `upload`. */
export interface PresignedUpload {
  url: string;
  method: string;
  headers: Record<string, string>;
  expires_at: string;
}

/**
 * Uploads a document's bytes to its presigned URL. The URL is signed with the file's length,
 * type and SHA-256, so the exact signed headers must be sent; all but `content-length`, which a
 * browser refuses to set and computes itself from the body.
 */
export async function uploadDocument(
  upload: PresignedUpload,
  body: Blob | ArrayBuffer | Uint8Array<ArrayBuffer>,
  fetchImpl: typeof fetch = globalThis.fetch,
): Promise<Response> {
  const headers = Object.fromEntries(
    Object.entries(upload.headers).filter(([name]) => name.toLowerCase() !== "content-length"),
  );
  return fetchImpl(upload.url, { method: upload.method, headers, body });
}

/** The SHA-256 of a file as 64 hex digits, as a document's `checksum` is declared. */
export async function sha256Hex(body: Blob | ArrayBuffer | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = body instanceof Blob ? await body.arrayBuffer() : body;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export {
  RealtimeClient,
  backoffDelay,
  compareCursors,
  isRealtimeEvent,
  type PongMessage,
  type RealtimeAction,
  type RealtimeClientMessage,
  type RealtimeClientOptions,
  type RealtimeControlMessage,
  type RealtimeEntity,
  type RealtimeErrorMessage,
  type RealtimeEvent,
  type RealtimeEventType,
  type RealtimeSocket,
  type RealtimeSocketConstructor,
  type RealtimeStats,
  type RealtimeStatus,
  type RealtimeSubscription,
  type RealtimeTicket,
  type RefetchMessage,
  type ResumedMessage,
  type SubscribedMessage,
} from "./realtime.js";
