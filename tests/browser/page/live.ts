// The realtime side of the browser test: a screen that listens with the TypeScript client's
// RealtimeClient and shows what it hears, and the REST writes another screen of the practice
// makes. run.mjs drives them and checks what each page recorded; nothing here decides that a
// step passed.
import {
  RealtimeClient,
  createHubClient,
  type RealtimeControlMessage,
  type RealtimeEvent,
  type RealtimeStats,
  type RealtimeStatus,
  type RealtimeSubscription,
} from "../../../clients/typescript/src/index.ts";

export interface ListenConfig {
  apiUrl: string;
  token: string;
  subscription?: RealtimeSubscription;
  minDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Connect through this port of 127.0.0.1 (run.mjs's TCP relay to the WebSocket API, which can
   * drop the connection as a network would) instead of the host the ticket names.
   */
  relayPort?: number;
}

interface SocketRecord {
  /** The URL the client asked for: the ticket answer's `url` with `?ticket=`. */
  url: string;
  connectedTo: string;
  sent: unknown[];
  openedAt: number | null;
  closedAt: number | null;
  closeCode: number | null;
}

export interface LiveState {
  statuses: { status: RealtimeStatus; at: number }[];
  events: (RealtimeEvent & { receivedAt: number; replayed: boolean })[];
  controls: RealtimeControlMessage[];
  refetches: string[];
  authErrors: number[];
  errors: string[];
  sockets: SocketRecord[];
  stats: RealtimeStats | null;
  lastCursor: string | null;
}

const state: LiveState = {
  statuses: [],
  events: [],
  controls: [],
  refetches: [],
  authErrors: [],
  errors: [],
  sockets: [],
  stats: null,
  lastCursor: null,
};
let client: RealtimeClient | null = null;

/** The browser's own WebSocket, recording what the client sends and how each socket ended. */
function recordingSocket(relayPort: number | undefined) {
  return class RecordingSocket extends WebSocket {
    private readonly record: SocketRecord;

    constructor(url: string) {
      const target = new URL(url);
      if (relayPort !== undefined) {
        target.hostname = "127.0.0.1";
        target.port = String(relayPort);
      }
      super(target.toString());
      const record: SocketRecord = { url, connectedTo: target.host, sent: [], openedAt: null, closedAt: null, closeCode: null };
      this.record = record;
      state.sockets.push(record);
      // Listeners of its own: the client sets the on* handlers, and detaches them when done.
      this.addEventListener("open", () => (record.openedAt = Date.now()));
      this.addEventListener("close", (event) => {
        record.closedAt = Date.now();
        record.closeCode = event.code;
      });
    }

    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      super.send(data);
      this.record.sent.push(typeof data === "string" ? JSON.parse(data) : String(data));
    }
  };
}

function section(): { status: HTMLElement; list: HTMLElement } {
  let status = document.getElementById("live-status");
  let list = document.getElementById("live-events");
  if (status === null || list === null) {
    const heading = document.createElement("h2");
    heading.textContent = "Live";
    status = document.createElement("p");
    status.id = "live-status";
    list = document.createElement("ol");
    list.id = "live-events";
    document.body.append(heading, status, list);
  }
  return { status, list };
}

/** Starts listening as a screen of the practice would, showing each change as it is heard. */
function listen(config: ListenConfig): void {
  const view = section();
  client = new RealtimeClient({
    baseUrl: config.apiUrl,
    getToken: () => config.token,
    WebSocket: recordingSocket(config.relayPort),
    ...(config.minDelayMs === undefined ? {} : { minDelayMs: config.minDelayMs }),
    ...(config.maxDelayMs === undefined ? {} : { maxDelayMs: config.maxDelayMs }),
    onEvent: (event, { replayed }) => {
      state.events.push({ ...event, receivedAt: Date.now(), replayed });
      const item = document.createElement("li");
      item.textContent = `${event.cursor} ${event.type} ${event.id} v${event.version}`;
      view.list.appendChild(item);
    },
    onRefetch: (cursor) => {
      state.refetches.push(cursor);
    },
    onStatus: (status) => {
      state.statuses.push({ status, at: Date.now() });
      view.status.textContent = status;
    },
    onControl: (message) => {
      state.controls.push(message);
    },
    onAuthError: (status) => {
      state.authErrors.push(status);
    },
    onError: (error) => {
      state.errors.push(String(error));
    },
  });
  if (config.subscription !== undefined) {
    client.subscribe(config.subscription);
  }
  client.start();
}

function liveState(): LiveState {
  return { ...state, stats: client === null ? null : { ...client.stats }, lastCursor: client?.lastCursor ?? null };
}

function stopListening(): void {
  client?.close();
}

interface WriteConfig {
  apiUrl: string;
  token: string;
}

/** The version a write's ETag names (`"3"`). */
function etagVersion(response: Response): number | null {
  const tag = response.headers.get("etag");
  return tag === null ? null : Number(tag.replaceAll('"', ""));
}

function slot(day: number, hour: number): { start_datetime: string; end_datetime: string } {
  const start = new Date(Date.UTC(2031, 4, day, hour));
  return { start_datetime: start.toISOString(), end_datetime: new Date(start.getTime() + 30 * 60 * 1000).toISOString() };
}

/** A contact, then an appointment for it: what the listening screens should hear of. */
async function book(config: WriteConfig): Promise<Record<string, unknown>> {
  const hub = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const contact = await hub.POST("/api/business/contacts", { body: { first_name: "Inès", last_name: "Temps-Réel" } });
  const contactId = contact.data?.id;
  if (contactId === undefined) {
    return { contact: { status: contact.response.status, body: contact.error } };
  }
  const booked = await hub.POST("/api/business/appointments", {
    body: { title: "Consultation", contact_id: contactId, assigned_provider: crypto.randomUUID(), ...slot(5, 7) },
  });
  return {
    contact: { status: contact.response.status, id: contactId },
    appointment: { status: booked.response.status, id: booked.data?.id, version: booked.data?.version, body: booked.error },
    answeredAt: Date.now(),
  };
}

/** Three changes, one after the other: the events a disconnected screen must get back, in this order. */
async function threeChanges(config: WriteConfig, ids: { contactId: string; appointmentId: string }): Promise<Record<string, unknown>> {
  const hub = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const changes: Record<string, unknown>[] = [];
  const confirmed = await hub.POST("/api/business/appointments/{id}/confirm", { params: { path: { id: ids.appointmentId } } });
  changes.push({
    status: confirmed.response.status,
    type: "appointment.updated",
    id: ids.appointmentId,
    version: etagVersion(confirmed.response),
  });
  const second = await hub.POST("/api/business/appointments", {
    body: { title: "Suivi", contact_id: ids.contactId, assigned_provider: crypto.randomUUID(), ...slot(12, 7) },
  });
  changes.push({ status: second.response.status, type: "appointment.created", id: second.data?.id, version: etagVersion(second.response) });
  const deleted = await hub.DELETE("/api/business/appointments/{id}", { params: { path: { id: ids.appointmentId } } });
  changes.push({
    status: deleted.response.status,
    type: "appointment.deleted",
    id: ids.appointmentId,
    version: etagVersion(deleted.response),
  });
  return { changes, answeredAt: Date.now() };
}

/** A contact of the page's own practice. */
async function createContact(config: WriteConfig): Promise<Record<string, unknown>> {
  const hub = createHubClient({ baseUrl: config.apiUrl, token: config.token });
  const created = await hub.POST("/api/business/contacts", { body: { first_name: "Autre", last_name: "Cabinet" } });
  return { status: created.response.status, id: created.data?.id, answeredAt: Date.now() };
}

export const live = { listen, liveState, stopListening, book, threeChanges, createContact };
