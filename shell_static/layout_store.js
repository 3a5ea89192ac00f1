/**
 * Saves the desktop layout of the signed-in user on the portal (GET and PUT
 * /api/desktop/layout) and loads it back.
 *
 * Saves are debounced, run one at a time, and skipped when the layout did not change
 * since the last save. Saving starts only after enable(), so that a layout that failed
 * to load is never overwritten by the empty desktop of this session.
 *
 * Dispatches `save-error` with the error as detail when a save fails.
 */
import { requestJson } from "./api.js";

const LAYOUT_PATH = "/api/desktop/layout";
const SAVE_DELAY_MS = 400;

/** Maximum size in bytes of a stored layout. The portal rejects larger ones. */
export const MAX_LAYOUT_BYTES = 64 * 1024;

export class LayoutStore extends EventTarget {
  #csrfToken;
  #snapshot;
  #enabled = false;
  #timer = 0;
  #saving = null;
  #savedJson = null;
  #abort = new AbortController();

  /** Options: `csrfToken` from the boot data and `snapshot()`, which returns the layout to save. */
  constructor({ csrfToken, snapshot }) {
    super();
    this.#csrfToken = csrfToken;
    this.#snapshot = snapshot;
    // pagehide rather than unload, because pagehide also fires when the page enters the back/forward cache.
    window.addEventListener("pagehide", () => this.#flushOnExit(), { signal: this.#abort.signal });
  }

  /** Returns the stored layout or null. Throws ApiError or a network TypeError on failure. */
  async load() {
    const data = await requestJson(LAYOUT_PATH);
    const layout = data?.layout ?? null;
    this.#savedJson = layout === null ? null : JSON.stringify(layout);
    return layout;
  }

  /** Allows saving. Call it once the loaded layout has been restored. */
  enable() {
    this.#enabled = true;
  }

  /** Saves SAVE_DELAY_MS after the last call. */
  schedule() {
    if (!this.#enabled) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#saveNow(), SAVE_DELAY_MS);
  }

  /** Saves a pending change now and waits for it. `signal` can abort the request. */
  async flush({ signal } = {}) {
    if (!this.#enabled) return;
    clearTimeout(this.#timer);
    this.#timer = 0;
    await this.#saveNow(signal);
  }

  destroy() {
    clearTimeout(this.#timer);
    this.#abort.abort();
    this.#enabled = false;
  }

  /** Runs one save at a time. A change made during a save is saved right after it. */
  async #saveNow(signal) {
    this.#timer = 0;
    if (this.#saving) {
      await this.#saving;
      return this.#saveNow(signal);
    }
    const pending = this.#serialize();
    if (pending === null) return;
    this.#saving = this.#put(pending, signal);
    try {
      await this.#saving;
    } finally {
      this.#saving = null;
    }
  }

  async #put({ layout, json }, signal) {
    try {
      await requestJson(LAYOUT_PATH, { method: "PUT", body: layout, csrfToken: this.#csrfToken, signal });
      this.#savedJson = json;
    } catch (error) {
      console.error("miportal: saving the desktop layout failed", error);
      this.dispatchEvent(new CustomEvent("save-error", { detail: error }));
    }
  }

  /** Returns `{layout, json}` to save, or null when the layout is unchanged or too large to store. */
  #serialize() {
    const layout = this.#snapshot();
    const json = JSON.stringify(layout);
    if (json === this.#savedJson) return null;
    const bytes = new TextEncoder().encode(json).length;
    if (bytes > MAX_LAYOUT_BYTES) {
      const error = new RangeError(`the layout is ${bytes} bytes, more than the ${MAX_LAYOUT_BYTES} the portal stores. Close some windows`);
      console.error("miportal: not saving the desktop layout:", error.message);
      this.dispatchEvent(new CustomEvent("save-error", { detail: error }));
      return null;
    }
    return { layout, json };
  }

  /**
   * Sends an unsaved change while the page goes away. A keepalive request outlives the
   * page. Browsers cap its body at 64 KiB, the same as the layout limit.
   */
  #flushOnExit() {
    if (!this.#enabled) return;
    clearTimeout(this.#timer);
    this.#timer = 0;
    const pending = this.#serialize();
    if (pending === null) return;
    this.#savedJson = pending.json;
    requestJson(LAYOUT_PATH, { method: "PUT", body: pending.layout, csrfToken: this.#csrfToken, keepalive: true }).catch(
      (error) => console.error("miportal: saving the desktop layout on page exit failed", error),
    );
  }
}
