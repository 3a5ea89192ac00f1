/**
 * The live event connection: one WebSocket to the portal's `ws_path`.
 *
 * It resumes after the last sequence number seen (`?after=SEQ`), so events missed while
 * disconnected arrive on reconnect, and drops events it has already seen. It reconnects
 * with exponential backoff from 0.5 s to 30 s, and treats 45 s without any message as a
 * dead connection (the portal sends a heartbeat every 20 s).
 *
 * Dispatches `bus-event` with the EVENT as detail, and `status` with detail "connecting",
 * "open" (the missed events have arrived) or "offline" (waiting to reconnect).
 */

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
const HEARTBEAT_TIMEOUT_MS = 45_000;

/** Close code this client sends when the heartbeat watchdog fires (4000-4999 are for applications). */
const CLOSE_HEARTBEAT_TIMEOUT = 4000;

export class BusClient extends EventTarget {
  #path;
  #storageKey;
  #storageFailed = false;
  #skipBacklog = false;
  #lastSeq = 0;
  #socket = null;
  #socketAbort = null;
  #attempt = 0;
  #reconnectTimer = 0;
  #watchdogTimer = 0;
  #status = "offline";
  #stopped = true;
  #abort = new AbortController();

  /**
   * Options: `path` (the `ws_path` of the boot data) and `storageKey`, under which the
   * last sequence number is kept in sessionStorage so that a reload of the tab resumes
   * where it stopped. A new tab connects without `after`. The events the portal replays
   * before its first `ready` then only advance lastSeq, so that old events do not show
   * up as new toasts.
   */
  constructor({ path, storageKey = null }) {
    super();
    this.#path = path;
    this.#storageKey = storageKey;
    this.#lastSeq = this.#loadSeq();
    window.addEventListener("online", () => this.#reconnectNow(), { signal: this.#abort.signal });
  }

  get lastSeq() {
    return this.#lastSeq;
  }

  get status() {
    return this.#status;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  /** Closes the connection and stops reconnecting. start() connects again. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    this.#dropSocket(1000, "desktop closed");
    this.#setStatus("offline");
  }

  /** Sends a ping. The portal replies with a pong, which also resets the watchdog. */
  ping() {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify({ type: "ping" }));
  }

  destroy() {
    this.stop();
    this.#abort.abort();
  }

  #connect() {
    this.#reconnectTimer = 0;
    this.#setStatus("connecting");
    const url = new URL(this.#path, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (this.#lastSeq > 0) url.searchParams.set("after", String(this.#lastSeq));
    this.#skipBacklog = this.#lastSeq === 0;

    const socket = new WebSocket(url);
    const abort = new AbortController();
    const signal = abort.signal;
    socket.addEventListener("message", (event) => this.#onMessage(event), { signal });
    socket.addEventListener("close", (event) => this.#onClose(event), { signal });
    socket.addEventListener("error", () => console.warn("miportal: WebSocket error on %s (attempt %d)", url.pathname, this.#attempt + 1), { signal });
    this.#socket = socket;
    this.#socketAbort = abort;
    // Armed before the socket opens too, so that a handshake that hangs is given up.
    this.#armWatchdog();
  }

  #onMessage(event) {
    this.#armWatchdog();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      console.warn("miportal: ignored a WebSocket message that is not JSON", error);
      return;
    }
    switch (message?.type) {
      case "event":
        this.#onEvent(message.event);
        break;
      case "ready":
        this.#onReady(message.last_seq);
        break;
      case "error":
        console.warn("miportal: the portal rejected a WebSocket message: %s: %s", message.error?.code, message.error?.message);
        break;
      case "heartbeat":
      case "pong":
        break;
      default:
        console.warn("miportal: ignored a WebSocket message of unknown type %o", message?.type);
    }
  }

  #onEvent(event) {
    if (!Number.isSafeInteger(event?.seq) || typeof event.topic !== "string") {
      console.warn("miportal: ignored an event without a valid seq and topic", event);
      return;
    }
    if (event.seq <= this.#lastSeq) return;
    this.#setLastSeq(event.seq);
    if (this.#skipBacklog) return;
    this.dispatchEvent(new CustomEvent("bus-event", { detail: event }));
  }

  #onReady(lastSeq) {
    this.#attempt = 0;
    this.#skipBacklog = false;
    // A portal whose sequence is behind ours has restarted its numbering. Without this,
    // every new event would look like a duplicate.
    if (Number.isSafeInteger(lastSeq) && lastSeq < this.#lastSeq) {
      console.warn("miportal: the portal's last seq %d is below ours (%d), starting over from it", lastSeq, this.#lastSeq);
      this.#setLastSeq(lastSeq);
    }
    this.#setStatus("open");
  }

  #onClose(event) {
    const code = event.code;
    this.#dropSocket();
    if (this.#stopped) return;
    // Code 1013 means the desktop fell too far behind. It resumes from lastSeq like any other close.
    console.info("miportal: WebSocket closed with code %d, reconnecting", code);
    this.#scheduleReconnect();
  }

  #armWatchdog() {
    clearTimeout(this.#watchdogTimer);
    this.#watchdogTimer = setTimeout(() => this.#onWatchdog(), HEARTBEAT_TIMEOUT_MS);
  }

  /**
   * Gives up a connection that sent nothing for HEARTBEAT_TIMEOUT_MS. On a dead network the
   * close event waits for the closing handshake to time out, so the socket is dropped at once.
   */
  #onWatchdog() {
    console.warn("miportal: no WebSocket message for %d ms, reconnecting", HEARTBEAT_TIMEOUT_MS);
    this.#dropSocket(CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
    if (!this.#stopped) this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    if (this.#reconnectTimer) return;
    const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** this.#attempt);
    // Up to 20 % jitter, so that desktops cut off together do not reconnect in step.
    const delay = Math.min(MAX_BACKOFF_MS, Math.round(base * (1 + Math.random() * 0.2)));
    this.#attempt += 1;
    this.#setStatus("offline");
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  /** Reconnects without waiting when the browser reports that the network is back. */
  #reconnectNow() {
    if (this.#stopped || !this.#reconnectTimer) return;
    clearTimeout(this.#reconnectTimer);
    this.#attempt = 0;
    this.#connect();
  }

  #dropSocket(code, reason) {
    clearTimeout(this.#watchdogTimer);
    this.#socketAbort?.abort();
    const socket = this.#socket;
    this.#socket = null;
    this.#socketAbort = null;
    if (socket && code && socket.readyState < WebSocket.CLOSING) socket.close(code, reason);
  }

  #setStatus(status) {
    if (status === this.#status) return;
    this.#status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: status }));
  }

  #setLastSeq(seq) {
    this.#lastSeq = seq;
    if (!this.#storageKey) return;
    try {
      sessionStorage.setItem(this.#storageKey, String(seq));
    } catch (error) {
      // Logged once, because storage that fails (a full quota, a privacy mode) fails for every event.
      if (!this.#storageFailed) console.warn("miportal: could not store the last event seq, so a reload will not resume from it", error);
      this.#storageFailed = true;
    }
  }

  #loadSeq() {
    if (!this.#storageKey) return 0;
    try {
      const seq = Number(sessionStorage.getItem(this.#storageKey));
      return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
    } catch {
      return 0;
    }
  }
}
