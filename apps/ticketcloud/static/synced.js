// The master's view of tickets that child installations pushed: a filterable list that
// reloads when `ticketcloud.sync.received` arrives, and the messages of one ticket.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { debounce, element, formatTime, showStatus } from "./dom.js";

const REFRESH_DELAY_MS = 300;

class SyncedWindow {
  #api;
  #sources = new Map();

  constructor(context) {
    this.#api = new Api(context.csrfToken);
  }

  async start() {
    const reload = debounce(() => this.load(), REFRESH_DELAY_MS);
    for (const id of ["installation", "status-filter"]) document.getElementById(id).addEventListener("change", reload);
    document.getElementById("search").addEventListener("input", reload);
    document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
    portal.subscribe("ticketcloud.sync.received", reload);
    await this.load();
  }

  async load() {
    try {
      const data = await this.#api.get("synced-tickets", {
        installation: document.getElementById("installation").value,
        status: document.getElementById("status-filter").value,
        q: document.getElementById("search").value.trim(),
      });
      this.#renderSources(data.sources);
      this.#renderRows(data.tickets);
      showStatus(document.getElementById("status"), data.tickets.length ? "" : "No synced tickets match.");
    } catch (error) {
      this.#showError(error);
    }
  }

  #renderSources(sources) {
    const select = document.getElementById("installation");
    for (const source of sources) {
      if (this.#sources.has(source.installation_id)) continue;
      this.#sources.set(source.installation_id, source.name);
      select.append(element("option", { text: source.name, attributes: { value: source.installation_id } }));
    }
  }

  #renderRows(tickets) {
    const rows = tickets.map((ticket) => {
      const open = element("button", { text: ticket.subject, className: "tc-link", attributes: { type: "button" } });
      open.addEventListener("click", () => this.#showDetail(ticket.id));
      const cells = [`${ticket.source} (${ticket.workspace})`, `#${ticket.number}`, open, ticket.status,
        ticket.assignee_name ?? "", ticket.requester_name || ticket.requester_email, ticket.message_count,
        ticket.version, formatTime(ticket.received_at)];
      return element("tr", { children: cells.map((cell) => element("td", typeof cell === "object" ? { children: [cell] } : { text: cell })) });
    });
    document.getElementById("rows").replaceChildren(...rows);
  }

  async #showDetail(id) {
    try {
      const ticket = await this.#api.get(`synced-tickets/${id}`);
      const detail = document.getElementById("detail");
      const messages = ticket.messages.map((message) => element("article", {
        className: message.visibility === "internal" ? "tc-note" : "tc-reply",
        children: [
          element("h3", { text: `${message.author} · ${formatTime(message.created)}${message.visibility === "internal" ? " · internal note" : ""}` }),
          element("p", { text: message.body }),
          ...message.attachments.map((item) => element("p", { className: "tc-muted", text: `${item.filename} (${item.size} bytes${item.inline ? "" : ", by reference"})` })),
        ],
      }));
      detail.replaceChildren(element("h2", { text: `#${ticket.number} ${ticket.subject}` }), ...messages);
      detail.hidden = false;
    } catch (error) {
      this.#showError(error);
    }
  }

  #showError(error) {
    showStatus(document.getElementById("status"), error instanceof ApiError ? error.message : "The portal cannot be reached; try again.", "error");
  }
}

const context = await portal.ready;
await new SyncedWindow(context).start();
