/**
 * Toast notifications in an `aria-live="polite"` region. A toast shows a title and a
 * body, closes itself after DISMISS_AFTER_MS, and opens a window when clicked if it has
 * an `onOpen` action. The timer pauses while the pointer or keyboard focus is on the
 * toast, so that it can be read and reached.
 */
import { createButton, createElement } from "./dom.js";
import { STRINGS } from "./strings.js";

const DISMISS_AFTER_MS = 8000;

/** Maximum number of toasts shown at once. A new toast beyond it removes the oldest. */
const MAX_TOASTS = 5;

class Toast {
  #abort = new AbortController();
  #timer = 0;
  #remaining = DISMISS_AFTER_MS;
  #startedAt = 0;
  #onRemove;

  constructor({ title, body, kind, onOpen, onRemove }) {
    this.#onRemove = onRemove;
    // Titles and bodies are text written by users and apps, so they go in as textContent,
    // each with dir="auto": its own direction, isolated from the other.
    const text = [
      createElement("span", { className: "mp-toast-title", text: String(title ?? ""), attributes: { dir: "auto" } }),
    ];
    if (body) {
      text.push(createElement("span", { className: "mp-toast-body", text: String(body), attributes: { dir: "auto" } }));
    }
    const content = onOpen
      ? createButton({ className: "mp-toast-content mp-toast-open", children: text })
      : createElement("div", { className: "mp-toast-content", children: text });
    const close = createButton({ className: "mp-toast-close", label: STRINGS.dismissNotification });

    this.element = createElement("div", {
      className: "mp-toast",
      attributes: { "data-kind": kind, "data-openable": onOpen ? "true" : null },
      children: [content, close],
    });

    const signal = this.#abort.signal;
    close.addEventListener("click", () => this.remove(), { signal });
    if (onOpen) {
      this.element.addEventListener(
        "click",
        (event) => {
          if (close.contains(event.target)) return;
          this.remove();
          onOpen();
        },
        { signal },
      );
    }
    this.element.addEventListener("pointerenter", () => this.#pause(), { signal });
    this.element.addEventListener("pointerleave", () => this.#resume(), { signal });
    this.element.addEventListener("focusin", () => this.#pause(), { signal });
    this.element.addEventListener("focusout", (event) => {
      if (!this.element.contains(event.relatedTarget)) this.#resume();
    }, { signal });
    this.#resume();
  }

  remove() {
    clearTimeout(this.#timer);
    this.#abort.abort();
    this.element.remove();
    this.#onRemove(this);
  }

  #pause() {
    if (!this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = 0;
    this.#remaining -= performance.now() - this.#startedAt;
  }

  #resume() {
    if (this.#timer) return;
    this.#startedAt = performance.now();
    this.#timer = setTimeout(() => this.remove(), Math.max(this.#remaining, 1000));
  }
}

export class Toasts {
  #toasts = [];

  constructor() {
    this.element = createElement("div", {
      className: "mp-toasts",
      attributes: { "aria-live": "polite", "aria-label": STRINGS.notificationsLabel, role: "region" },
    });
  }

  /**
   * Shows a toast. `kind` is "info" or "error". `onOpen`, if given, runs when the user
   * clicks the toast. Returns the toast, whose remove() closes it.
   */
  show({ title, body = "", kind = "info", onOpen = null }) {
    while (this.#toasts.length >= MAX_TOASTS) this.#toasts[0].remove();
    const toast = new Toast({ title, body, kind, onOpen, onRemove: (removed) => this.#forget(removed) });
    this.#toasts.push(toast);
    this.element.append(toast.element);
    return toast;
  }

  /** Shows an error toast with the generic error title. */
  showError(message) {
    return this.show({ title: STRINGS.errorTitle, body: message, kind: "error" });
  }

  destroy() {
    for (const toast of [...this.#toasts]) toast.remove();
    this.element.remove();
  }

  #forget(toast) {
    this.#toasts = this.#toasts.filter((candidate) => candidate !== toast);
  }
}
