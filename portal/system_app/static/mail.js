// The Mail log window: the workspace's received and sent mail in one list through
// /apps/system/api/mail/log, with the quarantine's errors and a Replay button, and the
// outbox's attempts, next retry and a "Retry now" button. While "Refresh every 5 seconds"
// is checked and the window is visible, the list polls the server. Polling is simpler
// than events here, and it costs one small query per window every 5 seconds. Every value that came in a
// message is set as text, never as HTML.
import { portal } from "/static/shell/sdk.js";

const REFRESH_MS = 5000;
const RETRYABLE = new Set(["failed", "retrying", "no_relay"]);
const STATUS_LABELS = { no_relay: "waiting for a relay" };

const statusLine = document.getElementById("status");
const directionFilter = document.getElementById("direction");
const statusFilter = document.getElementById("filter");
const liveToggle = document.getElementById("live");
const tableBody = document.querySelector("#mail tbody");
const emptyNote = document.getElementById("empty");
let csrfToken = "";
let timer = null;
let loading = false;

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

async function request(method, path) {
  const response = await fetch(path, {
    method,
    headers: { "X-CSRF-Token": csrfToken, Accept: "application/json" },
    credentials: "same-origin",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error?.message ?? `Request failed with HTTP ${response.status}.`);
  }
  return body;
}

function cell(row, ...children) {
  const element = document.createElement("td");
  element.append(...children);
  row.append(element);
  return element;
}

function line(text, className = "") {
  const element = document.createElement("div");
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function formatTime(value) {
  return value ? new Date(value).toLocaleString() : "";
}

async function act(label, path) {
  showStatus(`${label}…`);
  try {
    const result = await request("POST", path);
    const status = result.status ?? result.item?.status;
    showStatus(`${label}: now ${STATUS_LABELS[status] ?? status}.`, status === "quarantined");
  } catch (error) {
    showStatus(`${label} failed: ${error.message}`, true);
  }
  await refresh();
}

function progress(item) {
  const lines = [];
  if (item.attempts) lines.push(line(`${item.attempts} attempt(s)`, "description"));
  if (item.next_attempt_at) lines.push(line(`next try ${formatTime(item.next_attempt_at)}`, "description"));
  if (item.sent_at) lines.push(line(`sent ${formatTime(item.sent_at)}`, "description"));
  if (item.direction === "in" && item.outcome) lines.push(line(item.outcome, "description"));
  if (item.error) lines.push(line(item.error, "description error"));
  return lines;
}

function actions(item) {
  if (item.direction === "in" && item.status === "quarantined") {
    return [button("Replay", () => act(`Replaying message ${item.id}`, `/apps/system/api/mail/${item.id}/replay`))];
  }
  if (item.direction === "out" && RETRYABLE.has(item.status)) {
    return [button("Retry now", () => act(`Retrying mail ${item.id}`, `/apps/system/api/mail/outbox/${item.id}/retry`))];
  }
  return [];
}

function render(items) {
  tableBody.replaceChildren();
  emptyNote.hidden = items.length > 0;
  for (const item of items) {
    const row = document.createElement("tr");
    row.dataset.mail = `${item.direction}-${item.id}`;
    cell(row, line(formatTime(item.time)), line(item.direction === "in" ? "received" : "sent", "description"));
    const who = item.direction === "in"
      ? `From ${item.from || "(unknown sender)"} to ${item.to.join(", ")}`
      : `To ${item.to.join(", ")}`;
    cell(row, line(item.subject || "(no subject)"), line(who, "description"));
    const status = cell(row, line(STATUS_LABELS[item.status] ?? item.status), ...progress(item));
    status.className = "status";
    cell(row, ...actions(item));
    tableBody.append(row);
  }
}

async function refresh() {
  if (loading) return;
  loading = true;
  const query = new URLSearchParams({ direction: directionFilter.value });
  if (statusFilter.value) query.set("status", statusFilter.value);
  try {
    render((await request("GET", `/apps/system/api/mail/log?${query}`)).items);
  } catch (error) {
    showStatus(`Loading mail failed: ${error.message}`, true);
  } finally {
    loading = false;
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if (liveToggle.checked && document.visibilityState === "visible") {
    timer = setInterval(refresh, REFRESH_MS);
  }
}

const context = await portal.ready;
csrfToken = context.csrfToken;
directionFilter.addEventListener("change", () => refresh());
statusFilter.addEventListener("change", () => refresh());
liveToggle.addEventListener("change", schedule);
document.addEventListener("visibilitychange", schedule);
document.getElementById("refresh").addEventListener("click", () => refresh());
document.getElementById("open-settings").addEventListener("click", () => portal.openWindow("system", "mail_settings"));
window.addEventListener("pagehide", () => clearInterval(timer));
await refresh();
schedule();
