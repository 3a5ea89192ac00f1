/**
 * The shell's side of the app SDK: receives postMessage messages from app iframes,
 * replies to `hello` with `welcome`, and forwards bus events to the windows that
 * subscribed to their topics.
 *
 * A message counts only when its source is the contentWindow of an iframe the shell
 * created and its origin is the shell's own. Every handler runs in a try/catch, so that a
 * malformed message from one app is logged and does not affect the shell.
 */
import { parseOpenTarget } from "./app_catalog.js";
import { describeInvalidPattern, topicMatches } from "./topic.js";

const PROTOCOL_VERSION = 1;

/** Maximum number of subscriptions of one window. More are rejected and logged. */
const MAX_SUBSCRIPTIONS = 100;

export class SdkBridge {
  #abort = new AbortController();
  #manager;
  #boot;
  #toasts;
  #openWindow;
  #subscriptions = new Map();
  #handlers = {
    hello: (win) => this.#onHello(win),
    "set-title": (win, message) => win.setTitle(requireString(message.title, "title")),
    "set-badge": (win, message) => win.setBadge(requireBadge(message.count)),
    notify: (win, message) => this.#onNotify(win, message),
    "open-window": (win, message) => this.#openWindow(parseOpenTarget(message)),
    subscribe: (win, message) => this.#onSubscribe(win, message.topic),
    unsubscribe: (win, message) => this.#subscriptionsOf(win).delete(message.topic),
    pointerdown: (win) => this.#manager.focus(win),
    "cycle-windows": (win, message) => this.#manager.cycle(message.direction < 0 ? -1 : 1),
  };

  /**
   * Options: `manager` (the WindowManager), `boot` (the boot data), `toasts` (Toasts) and
   * `openWindow({appId, type, params})`, which opens a window and reports its errors.
   */
  constructor({ manager, boot, toasts, openWindow }) {
    this.#manager = manager;
    this.#boot = boot;
    this.#toasts = toasts;
    this.#openWindow = openWindow;
    const signal = this.#abort.signal;
    window.addEventListener("message", (event) => this.#onMessage(event), { signal });
    manager.addEventListener("change", (event) => {
      if (event.detail.reason === "close") this.#subscriptions.delete(event.detail.window.id);
    }, { signal });
  }

  /** Sends `event` to every window with a subscription that matches its topic, once per window. */
  deliver(event) {
    for (const [windowId, patterns] of this.#subscriptions) {
      const win = this.#manager.get(windowId);
      if (!win || ![...patterns].some((pattern) => topicMatches(pattern, event.topic))) continue;
      this.#post(win, { type: "event", event });
    }
  }

  destroy() {
    this.#abort.abort();
    this.#subscriptions.clear();
  }

  #onMessage(event) {
    if (event.origin !== location.origin) return;
    const win = this.#manager.windowForFrame(event.source);
    const message = event.data;
    if (!win || message?.miportal !== PROTOCOL_VERSION) return;
    const handler = Object.hasOwn(this.#handlers, message.type) ? this.#handlers[message.type] : null;
    if (!handler) {
      console.warn("miportal: ignored SDK message of unknown type %o from window %s", message.type, win.id);
      return;
    }
    try {
      handler(win, message);
    } catch (error) {
      console.error("miportal: SDK message %s from window %s (%s) failed", message.type, win.id, win.appId, error);
    }
  }

  /** A hello comes from a newly loaded document, so the subscriptions of the previous one end. */
  #onHello(win) {
    this.#subscriptions.delete(win.id);
    this.#post(win, {
      type: "welcome",
      user: this.#boot.user,
      tenant: this.#boot.tenant,
      csrf_token: this.#boot.csrf_token,
      window_id: win.id,
      params: { ...win.params },
    });
  }

  #onNotify(win, message) {
    const title = requireString(message.title, "title");
    const body = message.body == null ? "" : requireString(message.body, "body");
    const target = message.open == null ? null : parseOpenTarget(message.open);
    const onOpen = target ? () => this.#openWindow(target) : () => this.#manager.focus(win, { moveFocus: true });
    this.#toasts.show({ title, body, onOpen });
  }

  #onSubscribe(win, topic) {
    const problem = describeInvalidPattern(topic);
    if (problem) throw new TypeError(problem);
    const patterns = this.#subscriptionsOf(win);
    if (patterns.size >= MAX_SUBSCRIPTIONS && !patterns.has(topic)) {
      throw new RangeError(`window ${win.id} already has ${MAX_SUBSCRIPTIONS} subscriptions. Unsubscribe from some first`);
    }
    patterns.add(topic);
  }

  #subscriptionsOf(win) {
    let patterns = this.#subscriptions.get(win.id);
    if (!patterns) {
      patterns = new Set();
      this.#subscriptions.set(win.id, patterns);
    }
    return patterns;
  }

  #post(win, message) {
    win.iframe.contentWindow?.postMessage({ miportal: PROTOCOL_VERSION, ...message }, location.origin);
  }
}

function requireString(value, name) {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, got ${typeof value}`);
  return value;
}

function requireBadge(count) {
  if (count === null) return null;
  if (!Number.isSafeInteger(count) || count < 0) throw new TypeError(`count must be null or an integer >= 0, got ${JSON.stringify(count)}`);
  return count;
}
