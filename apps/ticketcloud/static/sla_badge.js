// SLA due-time badges with live countdowns, for the queue list and the ticket window.
// A badge shows a target as the API sends it (`sla_due` of a list item, or an entry of a
// ticket's `sla`). Times are shown in the browser's time zone, which is the agent's own
// zone on their machine; the server stores and sends UTC.
import { STRINGS, format } from "./strings.js";
import { element } from "./dom.js";

const TICK_MS = 1000;
const MINUTE_MS = 60 * 1000;

/** Return "ok", "warning", "breached" or "paused" for a target at time `now` (ms). */
export function badgeState(target, now) {
  if (target.state === "paused" || !target.due_at) return "paused";
  if (now >= Date.parse(target.due_at)) return "breached";
  if (target.warn_at && now >= Date.parse(target.warn_at)) return "warning";
  return "ok";
}

/** Return a duration as "2d 3h", "1h 20m" or "5m"; under a minute is "<1m". */
export function formatDuration(ms) {
  const minutes = Math.floor(Math.abs(ms) / MINUTE_MS);
  if (minutes < 1) return STRINGS.sla.underMinute;
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days > 0) return format(STRINGS.sla.daysHours, { days, hours });
  if (hours > 0) return format(STRINGS.sla.hoursMinutes, { hours, minutes: rest });
  return format(STRINGS.sla.minutes, { minutes: rest });
}

/** Return the running target due first of a ticket's `sla` list, else a paused one, else null. */
export function nextDueTarget(targets) {
  const active = (targets ?? []).filter((target) => target.state === "running" || target.state === "paused");
  const running = active.filter((target) => target.state === "running" && target.due_at)
    .sort((a, b) => Date.parse(a.due_at) - Date.parse(b.due_at));
  return running[0] ?? active[0] ?? null;
}

/** One badge element; `update(now)` rewrites its text when the countdown changed. */
export class SlaBadge {
  #target;
  #text = "";

  constructor(target) {
    this.#target = target;
    this.node = element("span", { className: "tc-sla", attributes: { role: "img" } });
    this.update(Date.now());
  }

  update(now) {
    const target = this.#target;
    const state = badgeState(target, now);
    const kind = STRINGS.sla.kinds[target.kind] ?? target.kind;
    let text;
    let spoken;
    if (state === "paused") {
      text = STRINGS.sla.paused;
      spoken = format(STRINGS.sla.pausedSpoken, { kind });
    } else {
      const left = Date.parse(target.due_at) - now;
      const duration = formatDuration(left);
      const at = new Date(target.due_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      text = format(state === "breached" ? STRINGS.sla.overdue : STRINGS.sla.left, { duration });
      spoken = format(state === "breached" ? STRINGS.sla.overdueSpoken : STRINGS.sla.leftSpoken,
        { kind, duration, at });
    }
    if (text === this.#text && this.node.dataset.state === state) return;
    this.#text = text;
    this.node.textContent = text;
    this.node.dataset.state = state;
    this.node.className = `tc-sla tc-sla-${state}`;
    // The label carries the target kind and the local due time for screen readers; the
    // title shows the same sentence on hover.
    this.node.setAttribute("aria-label", spoken);
    this.node.title = spoken;
  }
}

/** Updates each of its badges once a second; `destroy()` stops the timer. */
export class SlaTicker {
  #badges = new Set();
  #timer = null;

  /** Return a badge for `target` that this ticker keeps current, or null without target. */
  badge(target) {
    if (!target) return null;
    const badge = new SlaBadge(target);
    this.#badges.add(badge);
    this.#start();
    return badge;
  }

  /** Forget every badge, such as before a list is rendered again. */
  clear() {
    this.#badges.clear();
  }

  destroy() {
    this.clear();
    clearInterval(this.#timer);
    this.#timer = null;
  }

  #start() {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const badge of this.#badges) {
        if (!badge.node.isConnected) this.#badges.delete(badge);
        else badge.update(now);
      }
    }, TICK_MS);
  }
}
