/**
 * The launcher: a menu button on the taskbar whose menu lists every window type the user
 * may open. It follows the WAI-ARIA menu button pattern. Enter, Space and ArrowDown open
 * the menu on its first item, and ArrowUp on its last. In the menu, the arrow keys, Home,
 * End and the first letter of an item move focus. Escape or Tab closes it.
 */
import { createAppIcon, createButton, createElement } from "./dom.js";
import { STRINGS, format } from "./strings.js";

export class Launcher {
  #abort = new AbortController();
  #button;
  #menu;
  #onSelect;
  #open = false;

  /**
   * Options: `catalog` (an AppCatalog) and `onSelect({appId, type})`, called when the user
   * picks an item.
   */
  constructor({ catalog, onSelect }) {
    this.#onSelect = onSelect;
    this.#button = createButton({
      className: "mp-launcher-button",
      attributes: { "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": "mp-launcher-menu" },
      children: [
        createElement("span", { className: "mp-launcher-glyph", attributes: { "aria-hidden": "true" } }),
        createElement("span", { className: "mp-launcher-label", text: STRINGS.launcherButton }),
      ],
    });
    this.#menu = createElement("div", {
      className: "mp-launcher-menu",
      attributes: { id: "mp-launcher-menu", role: "menu", "aria-label": STRINGS.launcherMenuLabel, hidden: "" },
    });
    this.element = createElement("div", { className: "mp-launcher", children: [this.#button, this.#menu] });
    this.setCatalog(catalog);
    this.#listen();
  }

  get isOpen() {
    return this.#open;
  }

  /** Rebuilds the menu items from `catalog`. */
  setCatalog(catalog) {
    const entries = catalog.entries;
    const typeCounts = new Map();
    for (const { app } of entries) typeCounts.set(app.id, (typeCounts.get(app.id) ?? 0) + 1);

    const items = entries.map(({ app, windowType }) => {
      const typeTitle = windowType.title || windowType.type;
      const label =
        typeCounts.get(app.id) > 1 && typeTitle !== app.name
          ? format(STRINGS.launcherItemWithType, { app: app.name, window: typeTitle })
          : app.name;
      return createButton({
        className: "mp-launcher-item",
        attributes: { role: "menuitem", tabindex: "-1", "data-app": app.id, "data-window-type": windowType.type },
        children: [createAppIcon(app.icon, app.name, "mp-launcher-icon"), createElement("span", { text: label })],
      });
    });
    if (items.length === 0) {
      items.push(
        createElement("div", {
          className: "mp-launcher-empty",
          text: STRINGS.launcherEmpty,
          attributes: { role: "menuitem", "aria-disabled": "true", tabindex: "-1" },
        }),
      );
    }
    this.#menu.replaceChildren(...items);
  }

  /** Opens the menu and focuses its first item, or its last with `focusLast`. */
  open({ focusLast = false } = {}) {
    this.#open = true;
    this.#menu.hidden = false;
    this.#button.setAttribute("aria-expanded", "true");
    const items = this.#items();
    items[focusLast ? items.length - 1 : 0]?.focus();
  }

  /** Closes the menu. With `restoreFocus`, focus goes back to the menu button. */
  close({ restoreFocus = false } = {}) {
    if (!this.#open) return;
    this.#open = false;
    this.#menu.hidden = true;
    this.#button.setAttribute("aria-expanded", "false");
    if (restoreFocus) this.#button.focus();
  }

  destroy() {
    this.#abort.abort();
    this.element.remove();
  }

  #items() {
    return [...this.#menu.querySelectorAll('[role="menuitem"]')];
  }

  #listen() {
    const signal = this.#abort.signal;
    this.#button.addEventListener("click", () => (this.#open ? this.close() : this.open()), { signal });
    this.#button.addEventListener("keydown", (event) => this.#onButtonKeydown(event), { signal });
    this.#menu.addEventListener("keydown", (event) => this.#onMenuKeydown(event), { signal });
    this.#menu.addEventListener("click", (event) => this.#onMenuClick(event), { signal });
    // A press outside closes the menu. Presses inside an iframe never reach this document,
    // but they take focus from it, which fires blur on the window.
    document.addEventListener("pointerdown", (event) => this.#onDocumentPointerdown(event), { signal, capture: true });
    window.addEventListener("blur", () => this.close(), { signal });
    document.addEventListener("keydown", (event) => this.#onDocumentKeydown(event), { signal });
  }

  #onDocumentKeydown(event) {
    if (event.key !== "Escape" || !this.#open) return;
    event.preventDefault();
    this.close({ restoreFocus: true });
  }

  #onButtonKeydown(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      event.stopPropagation();
      this.open({ focusLast: event.key === "ArrowUp" });
    }
  }

  #onMenuKeydown(event) {
    const items = this.#items();
    const index = items.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: items.length - 1 };

    if (event.key === "Tab") {
      this.close();
    } else if (event.key in moves) {
      event.preventDefault();
      event.stopPropagation();
      items[(moves[event.key] + items.length) % items.length]?.focus();
    } else if (event.key.length === 1 && /\S/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      this.#focusByFirstLetter(items, index, event.key.toLowerCase());
    }
  }

  /** Moves focus to the next item, after the current one, whose label starts with `letter`. */
  #focusByFirstLetter(items, index, letter) {
    for (let offset = 1; offset <= items.length; offset++) {
      const item = items[(index + offset) % items.length];
      if (item.textContent.trim().toLowerCase().startsWith(letter)) {
        item.focus();
        return;
      }
    }
  }

  #onMenuClick(event) {
    const item = event.target.closest(".mp-launcher-item");
    if (!item) return;
    this.close();
    this.#onSelect({ appId: item.dataset.app, type: item.dataset.windowType });
  }

  #onDocumentPointerdown(event) {
    if (this.#open && !this.element.contains(event.target)) this.close();
  }
}
