/**
 * MiPortal app SDK: the `portal` object an app uses inside its desktop window.
 *
 * Load it as an ES module from the portal itself:
 *
 *     <script type="module">
 *       import { portal } from "/static/shell/sdk.js";
 *
 *       const { user, tenant, csrfToken, windowId, params } = await portal.ready;
 *       portal.setTitle(`Ticket ${params.ticket}`);
 *       const unsubscribe = portal.subscribe("tickets.*", (event) => render(event.payload));
 *     </script>
 *
 * `portal.ready`
 *   A promise of `{user, tenant, csrfToken, windowId, params}`. `user` and `tenant` are the
 *   signed-in user and workspace, as in the desktop's boot data. `csrfToken` goes in the
 *   `X-CSRF-Token` header of the app's own POST, PUT, PATCH and DELETE requests. `params`
 *   are the window's parameters (string to string), also present in the page's query
 *   string. It rejects when the page is not inside an iframe. NOTE: it stays pending when
 *   the parent page is not the MiPortal desktop, because nothing then replies to `hello`.
 *
 * `portal.setTitle(title)`
 *   Sets the window's title in its title bar and taskbar button. It is shown as text and
 *   cut to 200 characters. An empty title restores the window type's title.
 *
 * `portal.setBadge(count)`
 *   Shows `count` (an integer >= 0) on the window's taskbar button. 0 or null hides it.
 *
 * `portal.notify({title, body, open})`
 *   Shows a toast on the desktop. `body` is optional. `open` is null or the window to open
 *   when the toast is clicked, `{app, window, params}`, the same shape as an event's
 *   `notification.open`. Without `open`, a click focuses this window.
 *
 * `portal.openWindow(app, type, params = {})`
 *   Opens a window of window type `type` of app `app`. A singleton window type that is
 *   already open is focused instead. Parameter values that are numbers or booleans are
 *   converted to strings. The desktop shows a toast when the user may not open the window.
 *
 * `portal.subscribe(topic, callback)`
 *   Calls `callback(event)` for every portal event whose topic is `topic`, or starts with
 *   the prefix when `topic` ends in ".*" ("tickets.*" matches "tickets.created" and
 *   "tickets.comment.added", but not "tickets"). Events are the ones the user may see,
 *   with `id`, `seq`, `topic`, `time`, `payload` and `notification`. Returns a function
 *   that ends the subscription. An error thrown by the callback is logged and does not
 *   stop other callbacks.
 *
 * Invalid arguments throw TypeError. The SDK also reports pointer presses to the desktop,
 * so that a click inside the app raises its window. It forwards the desktop's window
 * cycling shortcuts (Alt+` and Ctrl+Alt+ArrowRight, with Shift or ArrowLeft backwards),
 * which the desktop cannot receive while focus is inside the app.
 *
 * Strings in event payloads are text written by users: show them with textContent, never
 * as HTML.
 */
import { describeInvalidPattern, topicMatches } from "./topic.js";
import { windowCycleDirection } from "./shortcuts.js";

const PROTOCOL_VERSION = 1;
const isFramed = window.parent !== window;

/** Subscriptions by topic pattern. Each entry is a `{callback}` object, so one callback may be added twice. */
const subscriptions = new Map();

let resolveReady;
let rejectReady;
const ready = new Promise((resolve, reject) => {
  resolveReady = resolve;
  rejectReady = reject;
});
// Marks the rejection as handled, so that a page that never awaits `ready` logs no error.
ready.catch(() => {});

function post(type, fields = {}) {
  if (!isFramed) return;
  window.parent.postMessage({ miportal: PROTOCOL_VERSION, type, ...fields }, location.origin);
}

function onMessage(event) {
  if (event.source !== window.parent || event.origin !== location.origin) return;
  const message = event.data;
  if (message?.miportal !== PROTOCOL_VERSION) return;
  if (message.type === "welcome") {
    resolveReady(
      Object.freeze({
        user: message.user,
        tenant: message.tenant,
        csrfToken: message.csrf_token,
        windowId: message.window_id,
        params: Object.freeze({ ...message.params }),
      }),
    );
  } else if (message.type === "event") {
    dispatch(message.event);
  }
}

function dispatch(event) {
  for (const [pattern, entries] of subscriptions) {
    if (!topicMatches(pattern, event.topic)) continue;
    for (const entry of [...entries]) {
      try {
        entry.callback(event);
      } catch (error) {
        console.error("miportal sdk: subscriber to %s failed on event %s", pattern, event.seq, error);
      }
    }
  }
}

function requireString(value, name) {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function normalizeParams(params) {
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    throw new TypeError("params must be an object such as {ticket: \"42\"}");
  }
  const normalized = {};
  for (const [name, value] of Object.entries(params)) {
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new TypeError(`params.${name} must be a string, number or boolean, got ${typeof value}`);
    }
    normalized[name] = String(value);
  }
  return normalized;
}

function normalizeOpen(open) {
  if (open == null) return null;
  return { app: requireString(open.app, "open.app"), window: requireString(open.window, "open.window"), params: normalizeParams(open.params ?? {}) };
}

function setTitle(title) {
  post("set-title", { title: String(title) });
}

function setBadge(count) {
  if (count !== null && (!Number.isSafeInteger(count) || count < 0)) {
    throw new TypeError(`badge count must be null or an integer >= 0, got ${JSON.stringify(count)}`);
  }
  post("set-badge", { count });
}

function notify({ title, body = "", open = null } = {}) {
  requireString(title, "title");
  post("notify", { title, body: String(body), open: normalizeOpen(open) });
}

function openWindow(app, type, params = {}) {
  post("open-window", { app: requireString(app, "app"), window: requireString(type, "type"), params: normalizeParams(params) });
}

function subscribe(topic, callback) {
  const problem = describeInvalidPattern(topic);
  if (problem) throw new TypeError(problem);
  if (typeof callback !== "function") throw new TypeError(`callback for ${topic} must be a function`);

  let entries = subscriptions.get(topic);
  if (!entries) {
    entries = new Set();
    subscriptions.set(topic, entries);
    post("subscribe", { topic });
  }
  const entry = { callback };
  entries.add(entry);

  return function unsubscribe() {
    if (!entries.delete(entry) || entries.size > 0 || subscriptions.get(topic) !== entries) return;
    subscriptions.delete(topic);
    post("unsubscribe", { topic });
  };
}

if (isFramed) {
  window.addEventListener("message", onMessage);
  // Capture phase, so that app handlers that stop propagation cannot hide the press.
  window.addEventListener("pointerdown", () => post("pointerdown"), { capture: true });
  window.addEventListener(
    "keydown",
    (event) => {
      const direction = windowCycleDirection(event);
      if (direction === 0) return;
      event.preventDefault();
      post("cycle-windows", { direction });
    },
    { capture: true },
  );
  post("hello");
} else {
  rejectReady(new Error("MiPortal SDK: this page is not inside a MiPortal window. Open it from the desktop."));
}

export const portal = Object.freeze({ ready, setTitle, setBadge, notify, openWindow, subscribe });
