// The Apps window: lists the apps of this portal and installs, uninstalls or purges them
// for the workspace through /api/admin/apps. Every name and error is set as text.
import { portal } from "/static/shell/sdk.js";

const statusLine = document.getElementById("status");
const tableBody = document.querySelector("#apps tbody");
const brokenSection = document.getElementById("broken-section");
const brokenList = document.getElementById("broken");
let csrfToken = "";

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

function button(label, onClick, { danger = false } = {}) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  if (danger) element.classList.add("danger");
  element.addEventListener("click", onClick);
  return element;
}

function cell(row, ...children) {
  const element = document.createElement("td");
  element.append(...children);
  row.append(element);
  return element;
}

async function act(label, method, path) {
  showStatus(`${label}…`);
  try {
    await request(method, path);
    showStatus(`${label}: done.`);
  } catch (error) {
    showStatus(`${label} failed: ${error.message}`, true);
  }
  await refresh();
}

function actionsFor(app) {
  const base = `/api/admin/apps/${encodeURIComponent(app.id)}`;
  if (app.builtin) return [document.createTextNode("Part of the portal")];
  const purge = button("Purge data", () => {
    if (confirm(`Delete all ${app.name} data of this workspace? This cannot be undone.`)) {
      act(`Purging ${app.name}`, "POST", `${base}/uninstall?purge=true`);
    }
  }, { danger: true });
  if (app.status === "installed") {
    return [button("Uninstall", () => act(`Uninstalling ${app.name}`, "POST", `${base}/uninstall`)), purge];
  }
  const install = button("Install", () => act(`Installing ${app.name}`, "POST", `${base}/install`));
  return app.status === "uninstalled" ? [install, purge] : [install];
}

function render({ apps, broken }) {
  tableBody.replaceChildren();
  for (const app of apps) {
    const row = document.createElement("tr");
    row.dataset.app = app.id;
    const name = document.createElement("strong");
    name.textContent = app.name;
    const description = document.createElement("div");
    description.className = "description";
    description.textContent = app.description;
    cell(row, name, description);
    cell(row, document.createTextNode(app.version));
    cell(row, document.createTextNode(app.status)).className = "status";
    cell(row, ...actionsFor(app));
    tableBody.append(row);
  }
  brokenSection.hidden = broken.length === 0;
  brokenList.replaceChildren(...broken.map((item) => {
    const entry = document.createElement("li");
    entry.textContent = `${item.origin}: ${item.error}`;
    return entry;
  }));
}

async function refresh() {
  try {
    render(await request("GET", "/api/admin/apps"));
  } catch (error) {
    showStatus(`Loading apps failed: ${error.message}`, true);
  }
}

const context = await portal.ready;
csrfToken = context.csrfToken;
portal.subscribe("portal.apps.changed", () => refresh());
// The buttons stay disabled until their handlers exist, so an early click is not lost.
for (const [id, type] of [["open-mail", "mail"], ["open-mail-settings", "mail_settings"], ["open-sync", "sync"]]) {
  const button = document.getElementById(id);
  button.addEventListener("click", () => portal.openWindow("system", type));
  button.disabled = false;
}
await refresh();
