/**
 * One app window: its element, title bar, resize handles and iframe, and its state
 * machine (normal, minimized, maximized).
 *
 * The window does not know the other windows. It reports to the window manager through
 * DOM events that bubble from its element:
 * - `window-close` (cancelable): before the window closes. Call preventDefault() to keep it.
 * - `window-state-change` (cancelable): before a state transition, detail `{from, to}`.
 * - `window-change`: after a change, detail `{what}` with "state", "geometry", "title",
 *   "badge" or "closed".
 * - `window-activate`: the user pressed a pointer inside the window.
 * - `window-gesture`: a move or resize started or ended, detail `{active}`.
 * Every detail also has `window`, this object.
 */
import { createAppIcon, createButton, createElement } from "./dom.js";
import { STRINGS } from "./strings.js";
import { TITLE_BAR_HEIGHT, fitGeometry, roundGeometry, sameGeometry } from "./geometry.js";
import { WindowGesture } from "./window_gesture.js";

export const WindowState = Object.freeze({
  NORMAL: "normal",
  MINIMIZED: "minimized",
  MAXIMIZED: "maximized",
});

/** States each state may change to. A change to the same state is invalid. */
const ALLOWED_TRANSITIONS = Object.freeze({
  normal: ["minimized", "maximized"],
  maximized: ["normal", "minimized"],
  minimized: ["normal", "maximized"],
});

export class InvalidTransitionError extends Error {
  constructor(windowId, from, to) {
    const allowed = ALLOWED_TRANSITIONS[from]?.join(" or ") ?? "nothing";
    super(`invalid state change of window ${windowId} from ${from} to ${to}. From ${from} it can change to ${allowed}.`);
    this.name = "InvalidTransitionError";
  }
}

const RESIZE_EDGES = ["n", "s", "e", "w", "ne", "nw", "se", "sw"];

/** Two title bar presses this close in time (ms) and space (CSS pixels) count as a double click. */
// How far one arrow key moves a focused title bar's window, or resizes it with Shift.
const KEY_STEP_PX = 10;
const ARROW_STEPS = Object.freeze({
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
});
const DOUBLE_PRESS_MS = 450;
const DOUBLE_PRESS_DISTANCE = 8;

/** Maximum title length in characters. Longer titles from apps are cut. */
export const MAX_TITLE_LENGTH = 200;

export class AppWindow {
  #abort = new AbortController();
  #state = WindowState.NORMAL;
  #stateBeforeMinimize = WindowState.NORMAL;
  #geometry;
  #title;
  #badge = null;
  #focused = false;
  #gesture = null;
  #lastTitlebarPress = null;
  #area;
  #elements;

  /**
   * Options: `id`, `appId`, `app` (the catalog entry), `windowType` (its entry in the
   * app's `windows`), `params` (string to string), `title`, `geometry`, `minSize`,
   * `src` (the iframe URL) and `area()` (returns the desktop area size).
   * The window starts in the normal state; call setState to restore another one.
   */
  constructor({ id, appId, app, windowType, params, title, geometry, minSize, src, area }) {
    this.id = id;
    this.appId = appId;
    this.type = windowType.type;
    this.singleton = windowType.singleton === true;
    this.params = Object.freeze({ ...params });
    this.minSize = minSize;
    this.iconUrl = app.icon ?? null;
    this.appName = app.name;
    this.#area = area;
    this.#geometry = roundGeometry(geometry);
    this.defaultTitle = windowType.title || app.name;
    this.#title = title || this.defaultTitle;

    this.#elements = this.#build(src);
    this.element = this.#elements.root;
    this.iframe = this.#elements.iframe;
    this.#listen();
    this.#renderGeometry();
    this.#renderState();
  }

  get state() {
    return this.#state;
  }

  /** The restored (normal) geometry, also while the window is maximized or minimized. */
  get geometry() {
    return { ...this.#geometry };
  }

  get title() {
    return this.#title;
  }

  get badge() {
    return this.#badge;
  }

  get focused() {
    return this.#focused;
  }

  get visible() {
    return this.#state !== WindowState.MINIMIZED;
  }

  /**
   * Changes the state. Throws InvalidTransitionError for a transition the state machine
   * does not allow. Returns false when a `window-state-change` listener vetoed it.
   */
  setState(next) {
    const from = this.#state;
    if (!ALLOWED_TRANSITIONS[from]?.includes(next)) throw new InvalidTransitionError(this.id, from, next);
    if (!this.#dispatch("window-state-change", { from, to: next }, { cancelable: true })) return false;

    // A drag that restores a maximized window changes the state to normal and goes on.
    if (next !== WindowState.NORMAL) this.#gesture?.cancel();
    if (next === WindowState.MINIMIZED) this.#stateBeforeMinimize = from;
    this.#state = next;
    this.#renderState();
    this.#dispatch("window-change", { what: "state" });
    return true;
  }

  minimize() {
    return this.#state !== WindowState.MINIMIZED && this.setState(WindowState.MINIMIZED);
  }

  /** Brings a minimized window back to the state it had before it was minimized. */
  unminimize() {
    return this.#state === WindowState.MINIMIZED && this.setState(this.#stateBeforeMinimize);
  }

  toggleMaximize() {
    if (this.#state === WindowState.MINIMIZED) return false;
    return this.setState(this.#state === WindowState.MAXIMIZED ? WindowState.NORMAL : WindowState.MAXIMIZED);
  }

  /** Sets the restored geometry, fitted into the area. Returns whether it changed. */
  setGeometry(geometry) {
    const next = fitGeometry(geometry, this.minSize, this.#area());
    if (sameGeometry(next, this.#geometry)) return false;
    this.#geometry = next;
    this.#renderGeometry();
    this.#dispatch("window-change", { what: "geometry" });
    return true;
  }

  /** Sets the title shown in the title bar and on the taskbar. An empty title restores the default. */
  setTitle(title) {
    const next = String(title).trim().slice(0, MAX_TITLE_LENGTH) || this.defaultTitle;
    if (next === this.#title) return;
    this.#title = next;
    this.#elements.title.textContent = next;
    this.iframe.title = next;
    this.#dispatch("window-change", { what: "title" });
  }

  /** Sets the badge count. Null or 0 hides it. */
  setBadge(count) {
    const next = count ? count : null;
    if (next === this.#badge) return;
    this.#badge = next;
    this.#dispatch("window-change", { what: "badge" });
  }

  setFocused(focused) {
    this.#focused = focused;
    this.element.toggleAttribute("data-focused", focused);
  }

  setStackIndex(index) {
    this.element.style.zIndex = String(index + 1);
  }

  /** Moves keyboard focus into the app, or onto the window when the iframe cannot take it. */
  focusContent() {
    if (!this.visible) return;
    this.iframe.focus({ preventScroll: true });
    if (document.activeElement !== this.iframe) this.element.focus({ preventScroll: true });
  }

  /**
   * Closes the window unless a `window-close` listener vetoes it. Returns whether the
   * window closed. The window manager removes the element on the `closed` change.
   */
  close() {
    if (!this.#dispatch("window-close", {}, { cancelable: true })) return false;
    this.#gesture?.cancel();
    this.#dispatch("window-change", { what: "closed" });
    return true;
  }

  /** Removes every listener and the element. Safe to call more than once. */
  destroy() {
    this.#gesture?.destroy();
    this.#gesture = null;
    this.#abort.abort();
    this.element.remove();
  }

  #build(src) {
    const titleId = `mp-window-title-${this.id}`;
    // A title is often user text, such as a ticket's subject. With dir="auto" its first
    // strong character sets its direction, and it is isolated from the text around it.
    const keysId = `mp-window-keys-${this.id}`;
    // The title is focusable so that the arrow keys can move and resize the window.
    const title = createElement("h2", {
      className: "mp-window-title",
      text: this.#title,
      attributes: { id: titleId, dir: "auto", tabindex: "0", "aria-describedby": keysId },
    });
    const keysHint = createElement("span", {
      className: "mp-visually-hidden",
      text: STRINGS.windowKeys,
      attributes: { id: keysId },
    });
    const minimize = createButton({ className: "mp-window-button mp-window-minimize", label: STRINGS.minimize });
    const maximize = createButton({ className: "mp-window-button mp-window-maximize", label: STRINGS.maximize });
    const close = createButton({ className: "mp-window-button mp-window-close", label: STRINGS.close });
    const titlebar = createElement("div", {
      className: "mp-window-titlebar",
      children: [
        createAppIcon(this.iconUrl, this.appName, "mp-window-icon"),
        title,
        keysHint,
        createElement("div", { className: "mp-window-controls", children: [minimize, maximize, close] }),
      ],
    });

    const iframe = createElement("iframe", { className: "mp-window-frame" });
    iframe.title = this.#title;
    iframe.src = src;
    const body = createElement("div", { className: "mp-window-body", children: [iframe] });

    const handles = RESIZE_EDGES.map((edge) =>
      createElement("div", { className: `mp-resize mp-resize-${edge}`, attributes: { "data-edge": edge, "aria-hidden": "true" } }),
    );

    const root = createElement("section", {
      className: "mp-window",
      attributes: {
        role: "dialog",
        "aria-labelledby": titleId,
        tabindex: "-1",
        "data-window-id": this.id,
        "data-app": this.appId,
        "data-window-type": this.type,
      },
      children: [titlebar, body, ...handles],
    });
    return { root, titlebar, title, minimize, maximize, close, iframe, handles };
  }

  #listen() {
    const signal = this.#abort.signal;
    const { root, titlebar, title, minimize, maximize, close, handles } = this.#elements;

    // Capture phase, so that the window is raised before any handler inside runs.
    root.addEventListener("pointerdown", () => this.#dispatch("window-activate", {}), { signal, capture: true });
    minimize.addEventListener("click", () => this.minimize(), { signal });
    maximize.addEventListener("click", () => this.toggleMaximize(), { signal });
    close.addEventListener("click", () => this.close(), { signal });
    this.iframe.addEventListener("load", () => this.#watchFramePointer(), { signal });
    titlebar.addEventListener("pointerdown", (event) => this.#onTitlebarPointerdown(event), { signal });
    title.addEventListener("keydown", (event) => this.#onTitleKeydown(event), { signal });
    for (const handle of handles) {
      handle.addEventListener("pointerdown", (event) => this.#startGesture(event, "resize", handle), { signal });
    }
  }

  /**
   * Raises the window on a press inside its iframe, also for apps that do not load the SDK.
   * Presses inside an iframe never reach this document, so the listener goes on the app's
   * own window, which the shell can reach because apps are served from its origin.
   */
  #watchFramePointer() {
    try {
      this.iframe.contentWindow.addEventListener("pointerdown", () => this.#dispatch("window-activate", {}), {
        capture: true,
        signal: this.#abort.signal,
      });
    } catch (error) {
      if (error.name !== "SecurityError") throw error;
    }
  }

  /**
   * Moves the window by KEY_STEP_PX per arrow key while its title has focus, or resizes
   * it with Shift held. Only a normal (restored) window moves. The area's bounds and the
   * minimum size apply as for a drag.
   */
  #onTitleKeydown(event) {
    const step = ARROW_STEPS[event.key];
    if (!step || event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    if (this.#state !== WindowState.NORMAL) return;
    const [dx, dy] = step.map((sign) => sign * KEY_STEP_PX);
    const geometry = this.geometry;
    if (event.shiftKey) {
      this.setGeometry({ ...geometry, width: geometry.width + dx, height: geometry.height + dy });
    } else {
      this.setGeometry({ ...geometry, x: geometry.x + dx, y: geometry.y + dy });
    }
  }

  #onTitlebarPointerdown(event) {
    if (event.target.closest("button")) return;
    if (this.#isDoublePress(event)) {
      event.preventDefault();
      this.toggleMaximize();
      return;
    }
    this.#startGesture(event, "move", this.#elements.titlebar);
  }

  /**
   * Detects a double click from pointerdown events alone, because the shell listens to
   * pointer events only (a `dblclick` listener would be a mouse event and miss touch).
   */
  #isDoublePress(event) {
    const previous = this.#lastTitlebarPress;
    const press = { time: event.timeStamp, x: event.clientX, y: event.clientY };
    const isDouble =
      previous !== null &&
      press.time - previous.time < DOUBLE_PRESS_MS &&
      Math.hypot(press.x - previous.x, press.y - previous.y) < DOUBLE_PRESS_DISTANCE;
    this.#lastTitlebarPress = isDouble ? null : press;
    return isDouble;
  }

  #startGesture(event, kind, handle) {
    if (!event.isPrimary || (event.pointerType === "mouse" && event.button !== 0)) return;
    if (this.#gesture?.active || this.#state === WindowState.MINIMIZED) return;
    if (kind === "resize" && this.#state === WindowState.MAXIMIZED) return;

    // Stops text selection. It also stops the focus change of the press, so focus moves
    // here by hand, because Escape must reach the shell and not an iframe that had focus.
    event.preventDefault();
    this.element.focus({ preventScroll: true });

    const startedMaximized = this.#state === WindowState.MAXIMIZED;
    this.#gesture = new WindowGesture({
      kind,
      edge: handle.dataset.edge,
      event,
      handle,
      minSize: this.minSize,
      area: this.#area,
      geometry: () => this.geometry,
      isMaximized: () => this.#state === WindowState.MAXIMIZED,
      restoreForDrag: (pointerX, pointerY) => this.#restoreUnderPointer(pointerX, pointerY),
      onChange: (geometry) => this.#applyGestureGeometry(geometry),
      onEnd: ({ committed }) => this.#endGesture(committed, startedMaximized),
    });
    this.#dispatch("window-gesture", { active: true });
  }

  /**
   * Restores a maximized window that the user drags by its title bar, keeping the grabbed
   * point of the title bar under the pointer. Returns the geometry the drag starts from.
   */
  #restoreUnderPointer(pointerX, pointerY) {
    const areaRect = this.element.parentElement.getBoundingClientRect();
    const fraction = areaRect.width > 0 ? (pointerX - areaRect.left) / areaRect.width : 0.5;
    const start = {
      ...this.#geometry,
      x: pointerX - areaRect.left - fraction * this.#geometry.width,
      y: Math.max(0, pointerY - areaRect.top - TITLE_BAR_HEIGHT / 2),
    };
    if (!this.setState(WindowState.NORMAL)) return this.geometry;
    this.#applyGestureGeometry(start);
    return this.geometry;
  }

  /** Renders a gesture's geometry without fitting it, since the gesture already clamps. */
  #applyGestureGeometry(geometry) {
    this.#geometry = roundGeometry(geometry);
    this.#renderGeometry();
  }

  #endGesture(committed, startedMaximized) {
    this.#gesture?.destroy();
    this.#gesture = null;
    if (!committed && startedMaximized && this.#state === WindowState.NORMAL) this.setState(WindowState.MAXIMIZED);
    this.#dispatch("window-gesture", { active: false });
    this.#dispatch("window-change", { what: "geometry" });
  }

  #renderGeometry() {
    if (this.#state === WindowState.MAXIMIZED) return;
    const style = this.element.style;
    style.left = `${this.#geometry.x}px`;
    style.top = `${this.#geometry.y}px`;
    style.width = `${this.#geometry.width}px`;
    style.height = `${this.#geometry.height}px`;
  }

  #renderState() {
    const maximized = this.#state === WindowState.MAXIMIZED;
    this.element.dataset.state = this.#state;
    this.element.hidden = this.#state === WindowState.MINIMIZED;
    this.#elements.maximize.setAttribute("aria-label", maximized ? STRINGS.restore : STRINGS.maximize);
    if (maximized) {
      const style = this.element.style;
      style.left = "0px";
      style.top = "0px";
      style.width = "100%";
      style.height = "100%";
    } else {
      this.#renderGeometry();
    }
  }

  #dispatch(type, detail, { cancelable = false } = {}) {
    return this.element.dispatchEvent(
      new CustomEvent(type, { bubbles: true, cancelable, detail: { ...detail, window: this } }),
    );
  }
}
