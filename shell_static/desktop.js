/**
 * Entry point of the desktop shell. Reads the boot data from the
 * `<script type="application/json" id="miportal-boot">` element, builds the desktop
 * (window area, taskbar with launcher, toasts), restores the saved layout and connects
 * to the live event bus.
 *
 * The desktop mounts into `#miportal-desktop` when the page has one, else into a new
 * element at the end of <body>, and adds desktop.css to the page if it is missing.
 */
import { ApiError, requestJson } from "./api.js";
import { AppCatalog, parseOpenTarget } from "./app_catalog.js";
import { BusClient } from "./bus_client.js";
import { createElement } from "./dom.js";
import { TITLE_BAR_HEIGHT } from "./geometry.js";
import { Launcher } from "./launcher.js";
import { LayoutStore } from "./layout_store.js";
import { SdkBridge } from "./sdk_bridge.js";
import { windowCycleDirection } from "./shortcuts.js";
import { STRINGS, format } from "./strings.js";
import { Taskbar } from "./taskbar.js";
import { Toasts } from "./toasts.js";
import { WindowManager, WindowOpenError } from "./window_manager.js";

const APPS_PATH = "/api/desktop/apps";
const APPS_CHANGED_TOPIC = "portal.apps.changed";

/** Maximum time in ms that sign-out waits for the last layout save. */
const SIGN_OUT_SAVE_TIMEOUT_MS = 2000;

export class Desktop {
  #abort = new AbortController();
  #boot;
  #catalog = new AppCatalog();
  #saveErrorShown = false;
  #signingOut = false;

  /** Builds the desktop into `root` from `boot`, the parsed boot data. Call start() next. */
  constructor(boot, root) {
    this.#boot = boot;
    this.root = root;
    root.classList.add("mp-desktop");
    root.style.setProperty("--mp-titlebar-height", `${TITLE_BAR_HEIGHT}px`);

    this.area = createElement("main", { className: "mp-desktop-area", attributes: { "aria-label": STRINGS.desktopLabel } });
    this.toasts = new Toasts();
    this.windowManager = new WindowManager({
      container: this.area,
      catalog: this.#catalog,
      onFocusLost: (win) => this.taskbar.focusButton(win?.id ?? null),
    });
    this.launcher = new Launcher({ catalog: this.#catalog, onSelect: (target) => this.openWindow(target) });
    this.taskbar = new Taskbar({
      manager: this.windowManager,
      launcher: this.launcher,
      user: boot.user,
      tenant: boot.tenant,
      csrfToken: boot.csrf_token,
      onSignOut: () => this.#beforeSignOut(),
    });
    // The bridge listens for SDK messages before any iframe exists, so no hello is missed.
    this.sdkBridge = new SdkBridge({
      manager: this.windowManager,
      boot,
      toasts: this.toasts,
      openWindow: (target) => this.openWindow(target),
    });
    this.layoutStore = new LayoutStore({ csrfToken: boot.csrf_token, snapshot: () => this.windowManager.snapshot() });
    this.busClient = new BusClient({ path: boot.ws_path, storageKey: `miportal:last-seq:${boot.tenant?.id}:${boot.user?.id}` });

    root.append(this.area, this.taskbar.element, this.toasts.element);
    this.#listen();
  }

  /** Loads the apps and the saved layout, restores the windows and connects to the bus. */
  async start() {
    const [apps, layout] = await Promise.allSettled([requestJson(APPS_PATH), this.layoutStore.load()]);

    if (apps.status === "fulfilled") {
      this.#setApps(apps.value);
    } else {
      console.error("miportal: loading %s failed", APPS_PATH, apps.reason);
      this.toasts.showError(STRINGS.appsLoadFailed);
    }

    if (layout.status === "rejected") {
      console.error("miportal: loading the desktop layout failed", layout.reason);
      this.toasts.showError(STRINGS.layoutLoadFailed);
    } else if (apps.status === "fulfilled") {
      const count = this.windowManager.restore(layout.value);
      console.info("miportal: restored %d of %d saved windows", count, layout.value?.windows?.length ?? 0);
      this.layoutStore.enable();
    }

    this.busClient.start();
  }

  /**
   * Opens a window, `{appId, type, params}`, or focuses an open singleton. Errors are shown
   * as a toast and logged. Returns the window or null.
   */
  openWindow(target) {
    try {
      return this.windowManager.open(target);
    } catch (error) {
      if (!(error instanceof WindowOpenError)) throw error;
      console.warn("miportal: could not open %s/%s: %s", target.appId, target.type, error.message);
      this.toasts.showError(error.message);
      return null;
    }
  }

  destroy() {
    this.#abort.abort();
    this.busClient.destroy();
    this.layoutStore.destroy();
    this.sdkBridge.destroy();
    this.taskbar.destroy();
    this.launcher.destroy();
    this.windowManager.destroy();
    this.toasts.destroy();
    this.area.remove();
  }

  #listen() {
    const signal = this.#abort.signal;
    this.windowManager.addEventListener("change", (event) => {
      if (event.detail.reason !== "badge") this.layoutStore.schedule();
    }, { signal });
    this.layoutStore.addEventListener("save-error", (event) => this.#onSaveError(event.detail), { signal });
    this.busClient.addEventListener("bus-event", (event) => this.#onBusEvent(event.detail), { signal });
    this.busClient.addEventListener("status", (event) => {
      this.taskbar.setConnectionStatus(event.detail);
      if (event.detail === "offline" && !this.#signingOut) this.#checkSession();
    }, { signal });
    document.addEventListener("keydown", (event) => this.#onKeydown(event), { signal });
  }

  #onKeydown(event) {
    const direction = windowCycleDirection(event);
    if (direction === 0) return;
    event.preventDefault();
    this.launcher.close();
    this.windowManager.cycle(direction);
  }

  #setApps(response) {
    this.#catalog.setApps(response?.apps);
    this.launcher.setCatalog(this.#catalog);
  }

  /** Reloads the launcher after an admin installed or removed an app for the workspace. */
  async #reloadApps() {
    try {
      this.#setApps(await requestJson(APPS_PATH));
    } catch (error) {
      console.error("miportal: reloading %s failed", APPS_PATH, error);
    }
  }

  /**
   * Sends the browser to the sign-in page when the socket dropped because the session
   * ended. A refused handshake looks like any other failed connection, so the session is
   * checked with a plain request.
   */
  async #checkSession() {
    try {
      await requestJson(APPS_PATH);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) location.assign("/login");
    }
  }

  #onBusEvent(event) {
    if (event.topic === APPS_CHANGED_TOPIC) this.#reloadApps();
    try {
      this.sdkBridge.deliver(event);
    } catch (error) {
      console.error("miportal: delivering event %d (%s) to windows failed", event.seq, event.topic, error);
    }
    const notification = event.notification;
    if (!notification || typeof notification !== "object") return;

    let onOpen = null;
    if (notification.open) {
      try {
        const target = parseOpenTarget(notification.open);
        onOpen = () => this.openWindow(target);
      } catch (error) {
        console.warn("miportal: event %d has an invalid notification.open: %s", event.seq, error.message);
      }
    }
    this.toasts.show({ title: notification.title, body: notification.body ?? "", onOpen });
  }

  /**
   * Saves the layout, then closes the event socket, so that it ends with a normal closure
   * while the page is still here instead of with the page's unload.
   */
  async #beforeSignOut() {
    try {
      await this.layoutStore.flush({ signal: AbortSignal.timeout(SIGN_OUT_SAVE_TIMEOUT_MS) });
    } finally {
      // The socket's "offline" status must not start a session check, which would race
      // with the sign-out request.
      this.#signingOut = true;
      this.busClient.stop();
    }
  }

  /** Shows the first save error of a session as a toast. Later ones are only logged. */
  #onSaveError(error) {
    if (this.#saveErrorShown) return;
    this.#saveErrorShown = true;
    this.toasts.showError(format(STRINGS.layoutSaveFailed, { reason: error.message }));
  }
}

/** Returns the parsed boot data. Throws Error naming what is missing. */
export function readBootData(documentRef = document) {
  const element = documentRef.getElementById("miportal-boot");
  if (!element) throw new Error('boot data missing: the page has no <script id="miportal-boot"> element');
  const boot = JSON.parse(element.textContent);
  for (const field of ["user", "tenant"]) {
    if (typeof boot?.[field] !== "object" || boot[field] === null) throw new Error(`boot data invalid: ${field} must be an object`);
  }
  for (const field of ["csrf_token", "ws_path"]) {
    if (typeof boot[field] !== "string" || boot[field] === "") throw new Error(`boot data invalid: ${field} must be a non-empty string`);
  }
  return boot;
}

function ensureStylesheet(href) {
  const present = [...document.querySelectorAll('link[rel="stylesheet"]')].some((link) => link.href === href);
  if (!present) document.head.append(createElement("link", { attributes: { rel: "stylesheet", href } }));
}

function main() {
  ensureStylesheet(new URL("./desktop.css", import.meta.url).href);
  let boot;
  try {
    boot = readBootData();
  } catch (error) {
    console.error("miportal: cannot start the desktop", error);
    document.body.append(createElement("p", { className: "mp-fatal", text: error.message }));
    return;
  }
  const root = document.getElementById("miportal-desktop") ?? document.body.appendChild(createElement("div"));
  const desktop = new Desktop(boot, root);
  // A read-only handle for debugging in the console. The shell itself never reads it.
  Object.defineProperty(window, "miportalDesktop", { value: desktop, writable: false, configurable: false });
  desktop.start().catch((error) => console.error("miportal: starting the desktop failed", error));
}

main();
