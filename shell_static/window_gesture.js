/**
 * One drag (move) or resize of a window by a pointer, from pointerdown to its end.
 *
 * The handle captures the pointer, so moves keep arriving when the pointer runs over an
 * iframe or leaves the window. Capture alone is not enough over iframes in every browser,
 * so the window manager also sets `pointer-events: none` on all iframes while a gesture
 * is active. Escape cancels and puts the window back where it was.
 */
import { moveGeometry, resizeGeometry } from "./geometry.js";

/** Distance in CSS pixels a maximized window's title bar must be dragged before it restores. */
const RESTORE_DRAG_THRESHOLD = 6;

export class WindowGesture {
  #abort = new AbortController();
  #handle;
  #pointerId;
  #startX;
  #startY;
  #options;
  #startGeometry;
  #waitingForRestore;
  #ended = false;

  /**
   * Options:
   * - `kind` ("move" or "resize") and, for a resize, `edge` ("n", "se", ...).
   * - `event`, the pointerdown that starts the gesture, and `handle`, the element it hit.
   * - `geometry()` (the window's current geometry), `minSize` and `area()` (the desktop area size).
   * - `isMaximized()` and `restoreForDrag(pointerX, pointerY)`. A move of a maximized
   *   window restores it first, and the callback returns the restored geometry.
   * - `onChange(geometry)` and `onEnd({committed, startGeometry})`.
   */
  constructor(options) {
    this.#options = options;
    const { event, handle } = options;
    this.#handle = handle;
    this.#pointerId = event.pointerId;
    this.#startX = event.clientX;
    this.#startY = event.clientY;
    this.#startGeometry = options.geometry();
    this.#waitingForRestore = options.kind === "move" && options.isMaximized();

    handle.setPointerCapture(event.pointerId);
    const signal = this.#abort.signal;
    handle.addEventListener("pointermove", (e) => this.#onMove(e), { signal });
    handle.addEventListener("pointerup", (e) => this.#onUp(e), { signal });
    handle.addEventListener("pointercancel", (e) => this.#onCancel(e), { signal });
    handle.addEventListener("lostpointercapture", (e) => this.#onLostCapture(e), { signal });
    document.addEventListener("keydown", (e) => this.#onKeydown(e), { signal, capture: true });
  }

  get active() {
    return !this.#ended;
  }

  /** Ends the gesture and puts the window back to where it started. */
  cancel() {
    if (this.#ended) return;
    this.#options.onChange(this.#startGeometry);
    this.#end(false);
  }

  destroy() {
    this.#abort.abort();
    this.#ended = true;
  }

  #onMove(event) {
    if (event.pointerId !== this.#pointerId || this.#ended) return;
    const dx = event.clientX - this.#startX;
    const dy = event.clientY - this.#startY;
    const { kind, edge, minSize, area } = this.#options;

    if (this.#waitingForRestore) {
      if (Math.hypot(dx, dy) < RESTORE_DRAG_THRESHOLD) return;
      this.#waitingForRestore = false;
      this.#startGeometry = this.#options.restoreForDrag(this.#startX, this.#startY);
    }

    const geometry =
      kind === "move"
        ? moveGeometry(this.#startGeometry, dx, dy, area())
        : resizeGeometry(this.#startGeometry, edge, dx, dy, minSize, area());
    this.#options.onChange(geometry);
  }

  #onUp(event) {
    if (event.pointerId !== this.#pointerId) return;
    this.#end(true);
  }

  #onCancel(event) {
    if (event.pointerId !== this.#pointerId) return;
    this.cancel();
  }

  /** Ends the gesture and keeps the geometry when capture is lost without a pointerup (which ends it first). */
  #onLostCapture(event) {
    if (event.pointerId !== this.#pointerId) return;
    this.#end(true);
  }

  #onKeydown(event) {
    if (event.key !== "Escape") return;
    event.preventDefault();
    event.stopPropagation();
    this.cancel();
  }

  #end(committed) {
    if (this.#ended) return;
    this.#ended = true;
    this.#abort.abort();
    if (this.#handle.hasPointerCapture(this.#pointerId)) this.#handle.releasePointerCapture(this.#pointerId);
    this.#options.onEnd({ committed, startGeometry: this.#startGeometry });
  }
}
