// The Sync health window: read-only figures from /apps/system/api/sync/health. The
// upper table is this installation's push state towards its master; the lower one
// lists the child installations that deliver into this workspace. While "Refresh every
// 5 seconds" is checked and the window is visible, it polls, as the Mail log does.
// Every value is set as text, never as HTML.
import { portal } from "/static/shell/sdk.js";

const REFRESH_MS = 5000;

const statusLine = document.getElementById("status");
const liveToggle = document.getElementById("live");
const childTable = document.getElementById("child");
const childNone = document.getElementById("child-none");
const childrenTable = document.getElementById("children");
const childrenNone = document.getElementById("children-none");
let timer = null;
let loading = false;

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function formatTime(value) {
  return value ? new Date(value).toLocaleString() : "never";
}

function line(text, className = "") {
  const element = document.createElement("div");
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function cell(row, ...children) {
  const element = document.createElement("td");
  element.append(...children);
  row.append(element);
  return element;
}

function figureRow(name, label, value, className = "") {
  const row = document.createElement("tr");
  row.dataset.figure = name;
  const header = document.createElement("th");
  header.scope = "row";
  header.textContent = label;
  row.append(header);
  cell(row, line(value, className));
  return row;
}

function renderChild(child) {
  childNone.hidden = child !== null;
  childTable.hidden = child === null;
  const body = childTable.tBodies[0];
  body.replaceChildren();
  if (child === null) return;
  body.append(
    figureRow("master", "Master", child.master_url),
    figureRow("queue_depth", "Queue depth", `${child.queue_depth} pending`),
    figureRow("oldest_pending", "Oldest pending", child.oldest_pending_at ? formatTime(child.oldest_pending_at) : "none"),
    figureRow("last_delivered", "Last delivered", formatTime(child.last_delivered_at)),
    figureRow("delivered", "Delivered", `${child.delivered} items`),
    figureRow("last_error", "Last error", child.last_error ?? "none", child.last_error ? "description error" : ""),
    figureRow("next_retry", "Next retry", child.next_attempt_at ? formatTime(child.next_attempt_at) : "not scheduled"),
  );
}

function renderChildren(children) {
  childrenNone.hidden = children.length > 0;
  childrenTable.hidden = children.length === 0;
  const body = childrenTable.tBodies[0];
  body.replaceChildren();
  for (const child of children) {
    const row = document.createElement("tr");
    row.dataset.installation = child.installation_id;
    cell(row, line(child.name), line(child.installation_id, "description"));
    cell(row, line(formatTime(child.last_contact_at)),
      line(`last success ${formatTime(child.last_success_at)}`, "description"));
    cell(row, line(`${child.items_applied} changes`),
      line(`${child.batches_received} batches`, "description"));
    const errors = cell(row, line(`${child.error_count} errors`));
    if (child.last_error) {
      errors.append(line(`${child.last_error} (${formatTime(child.last_error_at)})`, "description error"));
    }
    body.append(row);
  }
}

async function refresh() {
  if (loading) return;
  loading = true;
  try {
    const response = await fetch("/apps/system/api/sync/health", {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error(body.error?.message ?? `Request failed with HTTP ${response.status}.`);
    }
    renderChild(body.child);
    renderChildren(body.children);
    showStatus("");
  } catch (error) {
    showStatus(`Loading sync health failed: ${error.message}`, true);
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

await portal.ready;
liveToggle.addEventListener("change", schedule);
document.addEventListener("visibilitychange", schedule);
document.getElementById("refresh").addEventListener("click", () => refresh());
window.addEventListener("pagehide", () => clearInterval(timer));
await refresh();
schedule();
