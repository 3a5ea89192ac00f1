/**
 * The window manager: opens, restores and closes app windows and owns the one stacking
 * (z-order) and focus stack of the desktop. Nothing else changes the stack.
 *
 * It dispatches `change` with detail `{reason, window}` after every change, where
 * `reason` is "open", "close", "focus", "state", "geometry", "title" or "badge".
 */
import { AppWindow, WindowState } from "./window.js";
import { buildFrameUrl, validateParams } from "./app_catalog.js";
import { cascadeGeometry, effectiveMinSize, fitGeometry } from "./geometry.js";
import { STRINGS, format } from "./strings.js";

/** Maximum number of open windows. The portal rejects layouts with more. */
export const MAX_WINDOWS = 50;

/** Window ids the portal accepts in a layout. */
const WINDOW_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const DEFAULT_SIZE = Object.freeze({ width: 640, height: 440 });
const STATES = new Set(Object.values(WindowState));

/** A window that could not be opened. `code` is "unavailable", "limit" or "invalid_url". */
export class WindowOpenError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "WindowOpenError";
    this.code = code;
  }
}

export class WindowManager extends EventTarget {
  #abort = new AbortController();
  #container;
  #catalog;
  #onFocusLost;
  #windows = new Map();
  #stack = [];
  #focused = null;
  #nextNumber = 1;
  #cascadeSlot = 0;
  #activeGestures = 0;

  /**
   * Options: `container` (the desktop area element), `catalog` (an AppCatalog) and
   * `onFocusLost(window)`. The manager calls `onFocusLost` when the focused window was
   * minimized or closed and no other window can take keyboard focus. Its argument is the
   * minimized window, or null after a close.
   */
  constructor({ container, catalog, onFocusLost = () => {} }) {
    super();
    this.#container = container;
    this.#catalog = catalog;
    this.#onFocusLost = onFocusLost;
    this.#listen();
  }

  /** Open windows in the order they were opened. */
  get windows() {
    return [...this.#windows.values()];
  }

  /** Open windows in stacking order, back to front. */
  get stack() {
    return [...this.#stack];
  }

  get focusedWindow() {
    return this.#focused;
  }

  get(id) {
    return this.#windows.get(id) ?? null;
  }

  /** Returns the window whose iframe has `contentWindow` as its window, or null. */
  windowForFrame(contentWindow) {
    return this.#stack.find((win) => win.iframe.contentWindow === contentWindow) ?? null;
  }

  /**
   * Opens a window of `type` of app `appId` with `params` (string to string) and focuses
   * it. A singleton window type that is already open is focused instead, with its own
   * params. Throws WindowOpenError when the window type is not available to the user, the
   * window limit is reached, or the app's URL is invalid, and TypeError for invalid params.
   */
  open({ appId, type, params = {} }) {
    validateParams(params);
    const found = this.#catalog.find(appId, type);
    if (!found) {
      throw new WindowOpenError("unavailable", format(STRINGS.windowUnavailable, { app: appId, window: type }));
    }
    if (found.windowType.singleton === true) {
      const existing = this.windows.find((win) => win.appId === appId && win.type === type);
      if (existing) {
        this.focus(existing, { moveFocus: true });
        return existing;
      }
    }
    if (this.#windows.size >= MAX_WINDOWS) {
      throw new WindowOpenError("limit", format(STRINGS.windowLimit, { max: MAX_WINDOWS }));
    }

    const area = this.areaSize();
    const minSize = effectiveMinSize(found.windowType.min_size);
    const requested = found.windowType.default_size ?? DEFAULT_SIZE;
    const width = Number(requested.width) || DEFAULT_SIZE.width;
    const height = Number(requested.height) || DEFAULT_SIZE.height;
    const size = fitGeometry({ x: 0, y: 0, width, height }, minSize, area);
    const occupied = this.#stack.map((win) => win.geometry);
    const { geometry, slot } = cascadeGeometry({ width: size.width, height: size.height }, this.#cascadeSlot, occupied, area);
    this.#cascadeSlot = slot + 1;

    const win = this.#create({ id: this.#newId(), found, params, title: null, geometry });
    this.#emit("open", win);
    this.focus(win, { moveFocus: true });
    return win;
  }

  /**
   * Raises `win` to the top and focuses it, restoring it first if it is minimized. With
   * `moveFocus`, keyboard focus moves into the window too.
   */
  focus(win, { moveFocus = false } = {}) {
    if (!this.#windows.has(win.id)) return;
    if (win.state === WindowState.MINIMIZED && !win.unminimize()) return;

    const changed = this.#focused !== win || this.#stack.at(-1) !== win;
    if (changed) {
      this.#stack.splice(this.#stack.indexOf(win), 1);
      this.#stack.push(win);
      this.#renderStack();
      this.#setFocused(win);
    }
    if (moveFocus) win.focusContent();
    if (changed) this.#emit("focus", win);
  }

  /**
   * Focuses the next window (direction 1) or the previous one (-1). Forward raises the
   * bottom window, so repeated presses visit every window. Backward sends the top window
   * to the bottom and focuses the one below it, which undoes a forward step.
   */
  cycle(direction) {
    if (this.#stack.length === 0) return;
    let target = this.#stack[0];
    if (direction < 0 && this.#stack.length > 1) {
      this.#stack.unshift(this.#stack.pop());
      target = this.#stack.at(-1);
      this.#renderStack();
    }
    this.focus(target, { moveFocus: true });
  }

  /** Closes `win` unless a `window-close` listener vetoes it. */
  close(win) {
    return win.close();
  }

  /** Returns the size of the desktop area in CSS pixels. */
  areaSize() {
    return { width: this.#container.clientWidth, height: this.#container.clientHeight };
  }

  /** Returns the layout to store: windows back to front and the focused window's id. */
  snapshot() {
    return {
      version: 1,
      windows: this.#stack.map((win) => ({
        id: win.id,
        app: win.appId,
        type: win.type,
        params: { ...win.params },
        title: win.title,
        ...win.geometry,
        state: win.state,
      })),
      focused: this.#focused?.id ?? null,
    };
  }

  /**
   * Opens the windows of a stored layout, in its stacking order, and focuses its focused
   * window. Entries that are invalid or name a window type no longer available are skipped
   * and logged. Returns the number of windows restored.
   */
  restore(layout) {
    const entries = Array.isArray(layout?.windows) ? layout.windows : [];
    for (const [index, entry] of entries.entries()) {
      const problem = this.#restoreEntry(entry);
      if (problem) console.warn("miportal: skipped layout window %d (%s): %s", index, entry?.id, problem);
    }
    const focused = this.#windows.get(layout?.focused);
    if (focused?.visible) this.focus(focused);
    else this.#focusTopVisible({ moveFocus: false });
    return this.#windows.size;
  }

  /** Closes nothing, but removes every window element and every listener. */
  destroy() {
    this.#abort.abort();
    for (const win of this.#windows.values()) win.destroy();
    this.#windows.clear();
    this.#stack = [];
    this.#focused = null;
  }

  #listen() {
    const signal = this.#abort.signal;
    const container = this.#container;
    container.addEventListener("window-activate", (event) => this.focus(event.detail.window), { signal });
    container.addEventListener("window-change", (event) => this.#onWindowChange(event.detail), { signal });
    container.addEventListener("window-gesture", (event) => this.#onGesture(event.detail.active), { signal });
    // Tabbing or clicking into a window raises it. A click inside an iframe reaches this
    // document neither as pointerdown nor as focusin (Chromium 156), but the window loses
    // focus and the iframe becomes the active element. Apps that load the SDK also report
    // the click as a pointerdown message.
    container.addEventListener("focusin", (event) => this.#focusWindowOf(event.target), { signal });
    window.addEventListener("blur", () => this.#focusWindowOf(document.activeElement), { signal });
    // The HTML standard fires resize at most once per rendering update, so fitting at once is cheap.
    window.addEventListener("resize", () => this.#fitAll(), { signal });
  }

  #focusWindowOf(element) {
    const windowElement = element?.closest?.(".mp-window");
    const win = windowElement && this.#windows.get(windowElement.dataset.windowId);
    if (win) this.focus(win);
  }

  #onWindowChange({ what, window: win }) {
    if (what === "closed") {
      this.#remove(win);
      return;
    }
    if (what === "state" && win.state === WindowState.MINIMIZED && this.#focused === win) {
      this.#setFocused(null);
      if (!this.#focusTopVisible({ moveFocus: true })) this.#onFocusLost(win);
    }
    this.#emit(what, win);
  }

  #onGesture(active) {
    this.#activeGestures = Math.max(0, this.#activeGestures + (active ? 1 : -1));
    this.#container.toggleAttribute("data-gesture", this.#activeGestures > 0);
  }

  /** Fits every window into the area, so that each title bar stays reachable. */
  #fitAll() {
    for (const win of this.#stack) win.setGeometry(win.geometry);
  }

  /** Creates, mounts and stacks a window on top without focusing it. */
  #create({ id, found, params, title, geometry }) {
    const src = buildFrameUrl(found.windowType, params, id);
    if (!src) {
      throw new WindowOpenError("invalid_url", format(STRINGS.windowInvalidUrl, { app: found.app.id, window: found.windowType.type }));
    }
    const minSize = effectiveMinSize(found.windowType.min_size);
    const win = new AppWindow({
      id,
      appId: found.app.id,
      app: found.app,
      windowType: found.windowType,
      params,
      title,
      geometry: fitGeometry(geometry, minSize, this.areaSize()),
      minSize,
      src,
      area: () => this.areaSize(),
    });
    this.#windows.set(id, win);
    this.#stack.push(win);
    this.#container.append(win.element);
    this.#renderStack();
    return win;
  }

  /** Restores one layout entry. Returns why it was skipped, or null. */
  #restoreEntry(entry) {
    if (this.#windows.size >= MAX_WINDOWS) return `more than ${MAX_WINDOWS} windows`;
    if (typeof entry?.id !== "string" || !WINDOW_ID_PATTERN.test(entry.id)) return "invalid id";
    if (this.#windows.has(entry.id)) return "duplicate id";
    const found = this.#catalog.find(entry.app, entry.type);
    if (!found) return `window type ${entry.app}/${entry.type} is not available`;
    if (found.windowType.singleton === true && this.windows.some((win) => win.appId === entry.app && win.type === entry.type)) {
      return "second window of a singleton type";
    }
    const geometry = { x: entry.x, y: entry.y, width: entry.width, height: entry.height };
    if (!Object.values(geometry).every(Number.isFinite)) return "invalid geometry";
    if (!STATES.has(entry.state)) return `invalid state ${JSON.stringify(entry.state)}`;
    const params = entry.params ?? {};
    try {
      validateParams(params);
    } catch (error) {
      return error.message;
    }

    let win;
    try {
      win = this.#create({ id: entry.id, found, params, title: typeof entry.title === "string" ? entry.title : null, geometry });
    } catch (error) {
      return error.message;
    }
    if (entry.state !== WindowState.NORMAL) win.setState(entry.state);
    const number = /^w(\d+)$/.exec(entry.id);
    if (number) this.#nextNumber = Math.max(this.#nextNumber, Number(number[1]) + 1);
    return null;
  }

  #remove(win) {
    if (!this.#windows.delete(win.id)) return;
    const wasFocused = this.#focused === win;
    this.#stack.splice(this.#stack.indexOf(win), 1);
    if (wasFocused) this.#focused = null;
    win.destroy();
    this.#renderStack();
    this.#emit("close", win);
    if (wasFocused && !this.#focusTopVisible({ moveFocus: true })) this.#onFocusLost(null);
  }

  /** Focuses the top-most window that is not minimized. Returns false when there is none. */
  #focusTopVisible({ moveFocus }) {
    const top = this.#stack.findLast((win) => win.visible);
    if (!top) {
      this.#setFocused(null);
      return false;
    }
    this.focus(top, { moveFocus });
    return true;
  }

  #setFocused(win) {
    this.#focused?.setFocused(false);
    this.#focused = win;
    win?.setFocused(true);
  }

  #renderStack() {
    this.#stack.forEach((win, index) => win.setStackIndex(index));
  }

  #newId() {
    let id;
    do id = `w${this.#nextNumber++}`;
    while (this.#windows.has(id));
    return id;
  }

  #emit(reason, win) {
    this.dispatchEvent(new CustomEvent("change", { detail: { reason, window: win } }));
  }
}
