/**
 * The taskbar at the bottom of the desktop: the launcher, one button per open window,
 * the live-update status, the signed-in user and the sign-out button.
 *
 * It is an ARIA toolbar with one tab stop. Tab enters and leaves it, and the arrow keys,
 * Home and End move between its buttons (roving tabindex).
 */
import { createAppIcon, createButton, createElement } from "./dom.js";
import { STRINGS, format } from "./strings.js";
import { WindowState } from "./window.js";

/** Badge counts above this show as "99+". */
const MAX_BADGE_SHOWN = 99;

const TOOLBAR_ITEMS = ".mp-launcher-button, .mp-taskbar-button, .mp-signout-button";

export class Taskbar {
  #abort = new AbortController();
  #manager;
  #buttons = new Map();
  #windowList;
  #connection;
  #signOutForm;
  #onSignOut;

  /**
   * Options: `manager` (the WindowManager), `launcher` (its element goes first), `user`
   * and `tenant` from the boot data, `csrfToken`, and `onSignOut()`, awaited before the
   * sign-out form is posted to /logout.
   */
  constructor({ manager, launcher, user, tenant, csrfToken, onSignOut = async () => {} }) {
    this.#manager = manager;
    this.#onSignOut = onSignOut;
    this.#windowList = createElement("div", { className: "mp-taskbar-windows" });
    this.#connection = createElement("span", { className: "mp-connection", attributes: { "data-status": "connecting" } });
    this.#signOutForm = this.#buildSignOutForm(csrfToken);

    const userLabel = format(STRINGS.signedInAs, { user: user?.name ?? "", tenant: tenant?.name ?? "" });
    this.element = createElement("footer", {
      className: "mp-taskbar",
      attributes: { role: "toolbar", "aria-label": STRINGS.taskbarLabel, "aria-orientation": "horizontal" },
      children: [
        launcher.element,
        this.#windowList,
        createElement("div", {
          className: "mp-taskbar-status",
          children: [this.#connection, createElement("span", { className: "mp-user", text: userLabel }), this.#signOutForm],
        }),
      ],
    });

    this.#listen();
    this.setConnectionStatus("connecting");
    this.#render();
    this.#updateTabStop(this.element.querySelector(".mp-launcher-button"));
  }

  /** Shows the live-update connection status: "connecting", "open" or "offline". */
  setConnectionStatus(status) {
    const labels = { open: STRINGS.connectionOpen, connecting: STRINGS.connectionConnecting, offline: STRINGS.connectionOffline };
    this.#connection.dataset.status = status;
    this.#connection.title = labels[status] ?? status;
    this.#connection.textContent = "";
    this.#connection.append(createElement("span", { className: "mp-visually-hidden", text: this.#connection.title }));
  }

  /** Moves keyboard focus to the button of window `id`, or to the launcher button. */
  focusButton(id = null) {
    const button = (id && this.#buttons.get(id)) || this.element.querySelector(".mp-launcher-button");
    this.#updateTabStop(button);
    button.focus();
  }

  destroy() {
    this.#abort.abort();
    this.element.remove();
  }

  #listen() {
    const signal = this.#abort.signal;
    this.#manager.addEventListener("change", (event) => this.#onManagerChange(event.detail), { signal });
    this.#windowList.addEventListener("click", (event) => this.#onWindowButtonClick(event), { signal });
    this.element.addEventListener("keydown", (event) => this.#onKeydown(event), { signal });
    this.element.addEventListener("focusin", (event) => this.#onFocusIn(event.target), { signal });
    this.#signOutForm.addEventListener("submit", (event) => this.#onSubmitSignOut(event), { signal });
  }

  #buildSignOutForm(csrfToken) {
    const token = createElement("input", { attributes: { type: "hidden", name: "csrf_token" } });
    token.value = csrfToken;
    const button = createElement("button", {
      className: "mp-signout-button",
      text: STRINGS.signOut,
      attributes: { type: "submit", tabindex: "-1" },
    });
    return createElement("form", {
      className: "mp-signout",
      attributes: { method: "post", action: "/logout" },
      children: [token, button],
    });
  }

  #onManagerChange({ reason }) {
    if (reason === "geometry") return;
    this.#render();
  }

  /** Brings the button list in line with the open windows, reusing existing buttons. */
  #render() {
    const windows = this.#manager.windows;
    const openIds = new Set(windows.map((win) => win.id));
    for (const [id, button] of this.#buttons) {
      if (openIds.has(id)) continue;
      const hadTabStop = button.tabIndex === 0;
      button.remove();
      this.#buttons.delete(id);
      if (hadTabStop) this.#updateTabStop(this.element.querySelector(".mp-launcher-button"));
    }
    for (const win of windows) {
      let button = this.#buttons.get(win.id);
      if (!button) {
        // Only new buttons are appended, because moving a focused button would blur it.
        button = this.#createButton(win);
        this.#windowList.append(button);
      }
      this.#renderButton(button, win);
    }
  }

  #createButton(win) {
    const button = createButton({
      className: "mp-taskbar-button",
      attributes: { "data-window-id": win.id, "data-app": win.appId, tabindex: "-1" },
      children: [
        createAppIcon(win.iconUrl, win.appName, "mp-taskbar-icon"),
        // dir="auto" keeps a right-to-left title (or a stray override character in it)
        // from reordering the badge label after it.
        createElement("span", { className: "mp-taskbar-title", attributes: { dir: "auto" } }),
        createElement("span", { className: "mp-taskbar-badge", attributes: { "aria-hidden": "true" } }),
        createElement("span", { className: "mp-visually-hidden mp-taskbar-badge-label" }),
      ],
    });
    this.#buttons.set(win.id, button);
    return button;
  }

  #renderButton(button, win) {
    button.querySelector(".mp-taskbar-title").textContent = win.title;
    button.title = win.title;
    button.dataset.state = win.state;
    button.setAttribute("aria-pressed", String(win.focused));

    const badge = button.querySelector(".mp-taskbar-badge");
    const badgeLabel = button.querySelector(".mp-taskbar-badge-label");
    badge.hidden = win.badge === null;
    badge.textContent = "";
    badgeLabel.textContent = "";
    if (win.badge !== null) {
      badge.textContent = win.badge > MAX_BADGE_SHOWN ? `${MAX_BADGE_SHOWN}+` : String(win.badge);
      badgeLabel.textContent = `, ${format(STRINGS.badgeLabel, { count: win.badge })}`;
    }
  }

  /**
   * A minimized window is restored, the focused one is minimized (as on common desktop
   * taskbars) and any other one is raised and focused.
   */
  #onWindowButtonClick(event) {
    const button = event.target.closest(".mp-taskbar-button");
    const win = button && this.#manager.get(button.dataset.windowId);
    if (!win) return;
    if (win.state !== WindowState.MINIMIZED && win.focused) {
      win.minimize();
    } else {
      this.#manager.focus(win, { moveFocus: true });
    }
  }

  #onKeydown(event) {
    const items = [...this.element.querySelectorAll(TOOLBAR_ITEMS)];
    const index = items.indexOf(event.target);
    if (index === -1) return;
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: items.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = items[(moves[event.key] + items.length) % items.length];
    this.#updateTabStop(next);
    next.focus();
  }

  #onFocusIn(target) {
    if (target.matches?.(TOOLBAR_ITEMS)) this.#updateTabStop(target);
  }

  #updateTabStop(current) {
    for (const item of this.element.querySelectorAll(TOOLBAR_ITEMS)) item.tabIndex = item === current ? 0 : -1;
  }

  async #onSubmitSignOut(event) {
    event.preventDefault();
    try {
      await this.#onSignOut();
    } catch (error) {
      console.error("miportal: saving before sign-out failed, signing out anyway", error);
    }
    this.#signOutForm.submit();
  }
}
