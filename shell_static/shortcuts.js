/**
 * Keyboard shortcuts of the shell, shared with the app SDK so that they also work while
 * focus is inside an app iframe, where the shell receives no key events.
 */

/**
 * Returns 1 to cycle to the next window, -1 to cycle back, or 0 when `event` is no
 * cycling shortcut. Alt+` (Alt+Shift+` backwards) matches by physical key, because the
 * backquote moves between layouts. Ctrl+Alt+ArrowRight (ArrowLeft backwards) is the
 * alternative for systems that take Alt+` for themselves, as GNOME does.
 */
export function windowCycleDirection(event) {
  if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "Backquote") {
    return event.shiftKey ? -1 : 1;
  }
  if (event.altKey && event.ctrlKey && !event.metaKey && !event.shiftKey) {
    if (event.key === "ArrowRight") return 1;
    if (event.key === "ArrowLeft") return -1;
  }
  return 0;
}
