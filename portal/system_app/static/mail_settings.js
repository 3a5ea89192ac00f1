// The Mail settings window: the workspace's support addresses (TicketCloud's through its
// own /settings/mail API), IMAP mailboxes (/apps/system/api/mail/mailboxes) and the
// outgoing relay (/api/admin/mail-settings). Passwords are write-only: the server only
// reports whether one is set, and an empty password field keeps the stored one. An error
// names its field, which is marked with aria-invalid and focused.
import { portal } from "/static/shell/sdk.js";

const MAILBOXES = "/apps/system/api/mail/mailboxes";
const TICKETCLOUD_MAIL = "/apps/ticketcloud/api/v1/settings/mail";
const RELAY = "/api/admin/mail-settings";

const statusLine = document.getElementById("status");
const addressList = document.getElementById("addresses");
const supportForm = document.getElementById("support-form");
const mailboxBody = document.querySelector("#mailboxes tbody");
const mailboxForm = document.getElementById("mailbox-form");
const mailboxError = document.getElementById("mailbox-error");
const relayForm = document.getElementById("relay-form");
const relayError = document.getElementById("relay-error");
let csrfToken = "";
let editing = null;

class RequestError extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

async function request(method, path, body) {
  const headers = { "X-CSRF-Token": csrfToken, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new RequestError(data.error?.message ?? `Request failed with HTTP ${response.status}.`,
      data.error?.field ?? null);
  }
  return data;
}

function clearErrors(form, errorLine) {
  for (const element of form.querySelectorAll("[aria-invalid]")) element.removeAttribute("aria-invalid");
  errorLine.hidden = true;
  errorLine.textContent = "";
}

function showFieldError(form, errorLine, error) {
  errorLine.textContent = error.message;
  errorLine.hidden = false;
  const input = error.field ? form.elements.namedItem(error.field) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", errorLine.id);
    input.focus();
  }
}

function button(label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = label;
  element.addEventListener("click", onClick);
  return element;
}

function line(text, className = "") {
  const element = document.createElement("div");
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

function formatTime(value) {
  return value ? new Date(value).toLocaleString() : "never";
}

// Support addresses

async function loadAddresses() {
  const { items, mail_apps: mailApps } = await request("GET", "/apps/system/api/mail/addresses");
  addressList.replaceChildren(...items.map((item) => {
    const entry = document.createElement("li");
    entry.textContent = `${item.address} → ${item.app_id}`;
    return entry;
  }));
  if (items.length === 0) addressList.replaceChildren(line("No addresses yet.", "description"));
  const appSelect = mailboxForm.elements.namedItem("app_id");
  appSelect.replaceChildren(...mailApps.map((app) => new Option(app.name, app.id)));
  // The form shows only once it holds the stored address, so nothing typed before the
  // address arrived can be overwritten by it.
  const offered = mailApps.some((app) => app.id === "ticketcloud");
  if (offered) {
    const { support_address: address, trusted_authserv_id: trusted } = await request("GET", TICKETCLOUD_MAIL);
    supportForm.elements.namedItem("support_address").value = address ?? "";
    supportForm.elements.namedItem("trusted_authserv_id").value = trusted ?? "";
  }
  supportForm.hidden = !offered;
}

async function saveSupportAddress(event) {
  event.preventDefault();
  const errorLine = supportForm.querySelector(".field-error");
  errorLine.id = "support-error";
  clearErrors(supportForm, errorLine);
  const value = supportForm.elements.namedItem("support_address").value.trim();
  const trusted = supportForm.elements.namedItem("trusted_authserv_id").value.trim();
  try {
    await request("PUT", TICKETCLOUD_MAIL, { support_address: value || null, trusted_authserv_id: trusted });
    showStatus(value ? `Mail to ${value} now becomes tickets.` : "TicketCloud receives no mail by address now.");
    await loadAddresses();
  } catch (error) {
    showFieldError(supportForm, errorLine, error);
  }
}

// IMAP mailboxes

function stateLines(mailbox) {
  const state = mailbox.state;
  const lines = [
    line(mailbox.enabled ? "enabled" : "disabled"),
    line(`last poll ${formatTime(state.last_poll_at)}`, "description"),
    line(`${state.fetched_total} message(s) fetched`, "description"),
  ];
  if (mailbox.enabled && state.next_poll_at) lines.push(line(`next poll ${formatTime(state.next_poll_at)}`, "description"));
  if (state.failures) lines.push(line(`${state.failures} failed poll(s) in a row`, "description error"));
  if (state.last_error) lines.push(line(state.last_error, "description error"));
  return lines;
}

function renderMailboxes(items) {
  mailboxBody.replaceChildren();
  for (const mailbox of items) {
    const row = document.createElement("tr");
    row.dataset.mailbox = String(mailbox.id);
    const name = document.createElement("td");
    name.append(line(mailbox.name), line(`${mailbox.username} @ ${mailbox.host}:${mailbox.port} (${mailbox.security}), folder ${mailbox.folder} → ${mailbox.app_id}`, "description"));
    const state = document.createElement("td");
    state.className = "status";
    state.append(...stateLines(mailbox));
    const actions = document.createElement("td");
    actions.append(
      button("Edit", () => openMailboxForm(mailbox)),
      button("Test connection", () => mailboxAction(mailbox, "check")),
      button("Poll now", () => mailboxAction(mailbox, "poll")),
      button(mailbox.enabled ? "Disable" : "Enable", () => toggleMailbox(mailbox)),
      button("Delete", () => deleteMailbox(mailbox)),
    );
    row.append(name, state, actions);
    mailboxBody.append(row);
  }
  if (items.length === 0) {
    const row = document.createElement("tr");
    const empty = document.createElement("td");
    empty.colSpan = 3;
    empty.textContent = "No IMAP mailboxes.";
    row.append(empty);
    mailboxBody.append(row);
  }
}

async function loadMailboxes() {
  renderMailboxes((await request("GET", MAILBOXES)).items);
}

function openMailboxForm(mailbox = null) {
  editing = mailbox;
  clearErrors(mailboxForm, mailboxError);
  mailboxForm.reset();
  document.getElementById("mailbox-form-title").textContent = mailbox ? `Edit ${mailbox.name}` : "Add mailbox";
  const password = mailboxForm.elements.namedItem("password");
  password.placeholder = mailbox?.password_set ? "set; leave empty to keep it" : "";
  if (mailbox) {
    for (const name of ["name", "app_id", "host", "port", "security", "username", "folder", "interval_seconds"]) {
      mailboxForm.elements.namedItem(name).value = String(mailbox[name]);
    }
    mailboxForm.elements.namedItem("move_to").value = mailbox.move_to ?? "";
    mailboxForm.elements.namedItem("ca_file").value = mailbox.ca_file ?? "";
    mailboxForm.elements.namedItem("enabled").checked = mailbox.enabled;
  }
  mailboxForm.hidden = false;
  mailboxForm.elements.namedItem("name").focus();
}

function mailboxFields() {
  const form = mailboxForm.elements;
  const data = {
    name: form.namedItem("name").value, app_id: form.namedItem("app_id").value,
    host: form.namedItem("host").value, port: Number(form.namedItem("port").value),
    security: form.namedItem("security").value, username: form.namedItem("username").value,
    folder: form.namedItem("folder").value, move_to: form.namedItem("move_to").value || null,
    ca_file: form.namedItem("ca_file").value || null,
    interval_seconds: Number(form.namedItem("interval_seconds").value),
    enabled: form.namedItem("enabled").checked,
  };
  const password = form.namedItem("password").value;
  if (password || !editing) data.password = password;
  return data;
}

async function saveMailbox(event) {
  event.preventDefault();
  clearErrors(mailboxForm, mailboxError);
  try {
    if (editing) await request("PATCH", `${MAILBOXES}/${editing.id}`, mailboxFields());
    else await request("POST", MAILBOXES, mailboxFields());
    showStatus(editing ? `Saved ${editing.name}.` : "Mailbox added; it is polled within seconds.");
    mailboxForm.hidden = true;
    editing = null;
    await loadMailboxes();
  } catch (error) {
    showFieldError(mailboxForm, mailboxError, error);
  }
}

async function mailboxAction(mailbox, action) {
  showStatus(action === "check" ? `Testing ${mailbox.name}…` : `Polling ${mailbox.name}…`);
  try {
    const result = await request("POST", `${MAILBOXES}/${mailbox.id}/${action}`);
    if (action === "check") showStatus(`${mailbox.name}: ${result.message}`, !result.ok);
    else if (result.ok) showStatus(`${mailbox.name}: ${result.stored} new message(s) stored.`);
    else showStatus(`${mailbox.name}: ${result.error}`, true);
  } catch (error) {
    showStatus(`${mailbox.name}: ${error.message}`, true);
  }
  await loadMailboxes();
}

async function toggleMailbox(mailbox) {
  try {
    await request("PATCH", `${MAILBOXES}/${mailbox.id}`, { enabled: !mailbox.enabled });
    showStatus(`${mailbox.name} is ${mailbox.enabled ? "disabled" : "enabled"}.`);
  } catch (error) {
    showStatus(`Changing ${mailbox.name} failed: ${error.message}`, true);
  }
  await loadMailboxes();
}

async function deleteMailbox(mailbox) {
  if (!confirm(`Delete the mailbox ${mailbox.name}? Mail already fetched stays.`)) return;
  try {
    await request("DELETE", `${MAILBOXES}/${mailbox.id}`);
    showStatus(`Deleted ${mailbox.name}.`);
  } catch (error) {
    showStatus(`Deleting ${mailbox.name} failed: ${error.message}`, true);
  }
  await loadMailboxes();
}

// Outgoing relay

function renderRelay(settings) {
  const form = relayForm.elements;
  for (const name of ["from_address", "from_name", "relay_host", "relay_port", "relay_username"]) {
    form.namedItem(name).value = settings[name] ?? "";
  }
  form.namedItem("relay_security").value = settings.relay_security ?? "none";
  form.namedItem("relay_password").value = "";
  form.namedItem("relay_password").placeholder = settings.relay_password_set ? "set; leave empty to keep it" : "";
  document.getElementById("relay-effective").textContent = settings.effective_relay
    ? `Mail leaves through ${settings.effective_relay}${settings.uses_portal_relay ? " (the portal's relay)" : ""}, from ${settings.from_address ?? settings.default_from_address}.`
    : "No relay is configured: outgoing mail waits until one is set.";
}

async function saveRelay(event) {
  event.preventDefault();
  clearErrors(relayForm, relayError);
  const form = relayForm.elements;
  const data = {};
  for (const name of ["from_address", "from_name", "relay_host", "relay_username", "relay_security"]) {
    data[name] = form.namedItem(name).value.trim() || null;
  }
  const port = form.namedItem("relay_port").value;
  data.relay_port = port ? Number(port) : null;
  const password = form.namedItem("relay_password").value;
  if (password) data.relay_password = password;
  try {
    renderRelay(await request("PUT", RELAY, data));
    showStatus("Saved the outgoing mail settings; waiting mail is sent now.");
  } catch (error) {
    showFieldError(relayForm, relayError, error);
  }
}

const context = await portal.ready;
csrfToken = context.csrfToken;
supportForm.addEventListener("submit", saveSupportAddress);
mailboxForm.addEventListener("submit", saveMailbox);
relayForm.addEventListener("submit", saveRelay);
document.getElementById("add-mailbox").addEventListener("click", () => openMailboxForm());
document.getElementById("cancel-mailbox").addEventListener("click", () => { mailboxForm.hidden = true; editing = null; });
try {
  await Promise.all([loadAddresses(), loadMailboxes(), request("GET", RELAY).then(renderRelay)]);
} catch (error) {
  showStatus(`Loading the mail settings failed: ${error.message}`, true);
}
