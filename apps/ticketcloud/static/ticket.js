// The ticket window: one ticket's conversation, a composer for public replies and
// internal notes, its fields and its history. Field changes send the ticket's version,
// so an edit based on an outdated view is rejected (409 stale_version) and reloaded.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { debounce, element, fillSelect, formatNodes, formatTime, isolated, showStatus } from "./dom.js";
import { mailParts, mailPeople, skippedLine } from "./mail_parts.js";
import { SlaTicker, nextDueTarget } from "./sla_badge.js";

// The statuses a ticket may move to, as the server's status.TRANSITIONS allows.
const TRANSITIONS = {
  new: ["open", "pending", "on_hold", "solved"],
  open: ["pending", "on_hold", "solved"],
  pending: ["open", "on_hold", "solved"],
  on_hold: ["open", "pending", "solved"],
  solved: ["open", "closed"],
  closed: [],
};
const STATUS_ORDER = ["new", "open", "pending", "on_hold", "solved", "closed"];
const RELOAD_DELAY_MS = 200;

const byId = (id) => document.getElementById(id);

function mailErrorLine(item) {
  return element("p", {
    className: "tc-mail-error",
    children: formatNodes(STRINGS.mailFailed, { to: item.to.join(", "), error: item.error }),
  });
}

class TicketWindow {
  #api;
  #number;
  #ticket = null;
  #pickers = { categories: [], teams: [], agents: [] };
  #disclosures = [];
  #ticker = new SlaTicker();
  #elements = {
    number: byId("number"),
    subject: byId("subject"),
    requester: byId("requester"),
    mailPeople: byId("mail-people"),
    statusLine: byId("status"),
    messages: byId("messages"),
    composer: byId("composer"),
    composerBody: byId("composer-body"),
    reply: byId("reply"),
    note: byId("note"),
    status: byId("status-control"),
    priority: byId("priority-control"),
    category: byId("category-control"),
    team: byId("team-control"),
    assignee: byId("assignee-control"),
    tagsForm: byId("tags-form"),
    tags: byId("tags-control"),
    dueForm: byId("due-form"),
    due: byId("due-control"),
    dueShown: byId("due-shown"),
    clearDue: byId("clear-due"),
    history: byId("history"),
  };

  constructor(context, number) {
    this.#api = new Api(context.csrfToken);
    this.#number = number;
  }

  async start() {
    this.#renderLabels();
    this.#listen();
    const reload = debounce(() => this.load(), RELOAD_DELAY_MS);
    const reloadOwn = (event) => {
      if (String(event.payload?.number) === this.#number) reload();
    };
    portal.subscribe("ticketcloud.ticket.*", reloadOwn);
    portal.subscribe("ticketcloud.sla.*", reloadOwn);
    await this.#loadPickers();
    await this.load();
  }

  /** Load the ticket and its history and render both. */
  async load() {
    let ticket;
    let history;
    try {
      [ticket, history] = await Promise.all([
        this.#api.get(`tickets/${this.#number}`),
        this.#api.get(`tickets/${this.#number}/history`),
      ]);
    } catch (error) {
      this.#showError(error);
      return false;
    }
    this.#ticket = ticket;
    this.#render(ticket, history.items);
    this.#loadSync();
    return true;
  }

  /** Show the ticket's push state to the master; the line stays hidden without one. */
  async #loadSync() {
    const line = byId("sync-state");
    let sync;
    try {
      sync = await this.#api.get(`tickets/${this.#number}/sync`);
    } catch (error) {
      // The sync line is secondary: a failure leaves the line as it was, and the
      // conversation and fields stay usable.
      console.warn("Loading the sync state of ticket", this.#number, "failed:", error);
      return;
    }
    line.hidden = !sync.has_master && sync.state === "not_synced";
    line.dataset.state = sync.state;
    const text = {
      synced: format(STRINGS.syncSynced, { version: sync.version, time: formatTime(sync.last_delivered_at) }),
      pending: format(STRINGS.syncPending, { time: formatTime(sync.oldest_pending_at), count: sync.pending }),
      not_synced: STRINGS.syncNotSynced,
    }[sync.state];
    const parts = [text];
    if (sync.last_error) parts.push(format(STRINGS.syncLastError, { error: sync.last_error }));
    line.textContent = parts.join(" ");
  }

  async #loadPickers() {
    try {
      const [categories, teams, agents] = await Promise.all([
        this.#api.get("categories"), this.#api.get("teams"), this.#api.get("agents"),
      ]);
      this.#pickers = { categories: categories.items, teams: teams.items, agents: agents.items };
    } catch (error) {
      this.#showError(error);
    }
  }

  #renderLabels() {
    const labels = {
      "conversation-title": STRINGS.conversation, "composer-label": STRINGS.composerLabel,
      reply: STRINGS.replyPublicly, note: STRINGS.addInternalNote, "fields-title": STRINGS.fields,
      "status-control-label": STRINGS.statusLabel, "priority-control-label": STRINGS.priorityLabel,
      "category-control-label": STRINGS.categoryLabel, "team-control-label": STRINGS.teamLabel,
      "assignee-control-label": STRINGS.assigneeLabel, "tags-control-label": STRINGS.tagsLabel,
      "save-tags": STRINGS.saveTags, "tags-hint": STRINGS.tagsHint, "history-title": STRINGS.history,
      "due-control-label": STRINGS.dueLabel, "save-due": STRINGS.saveDue, "clear-due": STRINGS.clearDue,
    };
    for (const [id, text] of Object.entries(labels)) byId(id).textContent = text;
    this.#elements.composerBody.placeholder = STRINGS.composerPlaceholder;
  }

  #listen() {
    const { composer, status, priority, category, team, assignee, tagsForm, tags, dueForm, due, clearDue } = this.#elements;
    composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#sendMessage(event.submitter?.dataset.kind === "note" ? "note" : "reply");
    });
    status.addEventListener("change", () => this.#update({ status: status.value }));
    priority.addEventListener("change", () => this.#update({ priority: priority.value }));
    category.addEventListener("change", () => this.#update({ category_id: idOrNull(category.value) }));
    team.addEventListener("change", () => this.#update({ team_id: idOrNull(team.value) }));
    assignee.addEventListener("change", () => this.#update({ assignee_id: idOrNull(assignee.value) }));
    tagsForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const list = tags.value.split(",").map((tag) => tag.trim().toLowerCase()).filter(Boolean);
      this.#update({ tags: [...new Set(list)] });
    });
    // The server reads the wall-clock time in the browser's zone and rejects a time
    // that the zone skips or repeats when its clocks change.
    dueForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!due.value) {
        showStatus(this.#elements.statusLine, STRINGS.dueMissing, "error");
        return;
      }
      this.#update({ due_local: due.value, time_zone: browserZone() });
    });
    clearDue.addEventListener("click", () => this.#update({ due_at: null }));
  }

  /** Send `changes` with the version this window shows, and reload on a stale version. */
  async #update(changes) {
    if (this.#ticket === null) return;
    this.#setBusy(true);
    try {
      const ticket = await this.#api.send("PATCH", `tickets/${this.#number}`, { ...changes, version: this.#ticket.version });
      this.#ticket = ticket;
      await this.load();
      showStatus(this.#elements.statusLine, STRINGS.saved, "info");
    } catch (error) {
      if (error instanceof ApiError && error.code === "stale_version") {
        await this.load();
        showStatus(this.#elements.statusLine, STRINGS.staleVersion, "error");
      } else {
        this.#showError(error);
        // Put the controls back to the values the server holds.
        this.#renderFields(this.#ticket);
      }
    } finally {
      this.#setBusy(false);
    }
  }

  async #sendMessage(kind) {
    const body = this.#elements.composerBody.value;
    if (!body.trim()) {
      showStatus(this.#elements.statusLine, STRINGS.emptyMessage, "error");
      return;
    }
    this.#setBusy(true);
    try {
      await this.#api.send("POST", `tickets/${this.#number}/${kind === "note" ? "notes" : "replies"}`, { body });
      this.#elements.composerBody.value = "";
      await this.load();
      showStatus(this.#elements.statusLine, kind === "note" ? STRINGS.noteAdded : STRINGS.replySent, "info");
    } catch (error) {
      this.#showError(error);
    } finally {
      this.#setBusy(false);
    }
  }

  /** Ask, then clear the bounce mark of `email`, so this ticket's mail goes there again. */
  async #clearBouncing(email) {
    if (!window.confirm(format(STRINGS.confirmClearBouncing, { email }))) return;
    try {
      await this.#api.send("POST", `tickets/${this.#number}/bouncing/clear`, { email });
      await this.load();
      showStatus(this.#elements.statusLine, format(STRINGS.bouncingCleared, { email }), "info");
    } catch (error) {
      this.#showError(error);
    }
  }

  #setBusy(busy) {
    const { reply, note, status, priority, category, team, assignee, tagsForm, dueForm, clearDue } = this.#elements;
    for (const control of [reply, note, status, priority, category, team, assignee, ...tagsForm.elements, ...dueForm.elements]) {
      control.disabled = busy;
    }
    // Clearing needs a due time to clear.
    if (!busy) clearDue.disabled = !this.#ticket?.due_at;
    document.body.setAttribute("aria-busy", String(busy));
  }

  #render(ticket, history) {
    const { number, subject, requester } = this.#elements;
    number.textContent = `#${ticket.number}`;
    subject.textContent = ticket.subject;
    requester.replaceChildren(...formatNodes(STRINGS.requesterLine, {
      name: ticket.requester.name || ticket.requester.email, email: ticket.requester.email,
    }));
    portal.setTitle(format(STRINGS.ticketTitle, { number: ticket.number, subject: ticket.subject }));
    document.title = `#${ticket.number}`;
    document.body.dataset.version = String(ticket.version);
    this.#renderDue(ticket.sla);
    this.#elements.mailPeople.replaceChildren(...mailPeople(ticket, { onClear: (email) => this.#clearBouncing(email) }));
    this.#renderMessages(ticket.messages, ticket.mail_errors ?? [], ticket.mail_skipped ?? []);
    this.#renderFields(ticket);
    this.#renderHistory(history);
  }

  /** Show the badge of the target due first, counting down in the agent's time zone. */
  #renderDue(targets) {
    this.#ticker.clear();
    const badge = this.#ticker.badge(nextDueTarget(targets));
    byId("sla-due").replaceChildren(...(badge ? [badge.node] : []));
  }

  #renderMessages(messages, mailErrors, mailSkipped) {
    // Mail that carried no message (a confirmation, a rating request) fails for the
    // ticket as a whole, so its line follows the conversation.
    const ticketErrors = [
      ...mailErrors.filter((item) => item.message_id === null).map(mailErrorLine),
      ...mailSkipped.filter((item) => item.message_id === null).map(skippedLine),
    ];
    for (const disclosure of this.#disclosures) disclosure.destroy();
    this.#disclosures = [];
    const items = messages.map((message) => {
      const mail = mailParts(message, { api: this.#api, number: this.#number });
      this.#disclosures.push(...mail.disclosures);
      const internal = message.visibility === "internal";
      let label = STRINGS.customerMessage;
      if (internal) label = STRINGS.internalNote;
      else if (message.from_agent) label = STRINGS.publicReply;
      const attachments = message.attachments.map((item) => element("li", {
        children: [element("a", {
          children: formatNodes(STRINGS.attachmentLine, { filename: item.filename, size: item.size }),
          attributes: { href: new URL(`attachments/${item.id}`, new URL("/apps/ticketcloud/api/v1/", location.origin)).href, download: "" },
        })],
      }));
      return element("li", {
        className: `tc-message${internal ? " tc-message-internal" : ""}${message.from_agent ? " tc-message-agent" : ""}`,
        attributes: { "data-message-id": message.id, "data-visibility": message.visibility },
        children: [
          element("div", {
            className: "tc-message-meta",
            children: [
              element("span", { className: "tc-message-label", text: label }),
              element("strong", { className: "tc-message-author", text: message.author }),
              element("time", { text: formatTime(message.created_at), attributes: { datetime: message.created_at, title: message.created_at } }),
            ],
          }),
          element("div", { className: "tc-message-body", text: message.body }),
          ...mail.nodes,
          ...(attachments.length ? [element("ul", { className: "tc-attachments", children: attachments })] : []),
          ...mailErrors.filter((item) => item.message_id === message.id).map(mailErrorLine),
          ...mailSkipped.filter((item) => item.message_id === message.id).map(skippedLine),
        ],
      });
    });
    if (ticketErrors.length) {
      items.push(element("li", { className: "tc-mail-errors", children: ticketErrors }));
    }
    this.#elements.messages.replaceChildren(...items);
  }

  #renderFields(ticket) {
    const { status, priority, category, team, assignee, tags } = this.#elements;
    const statuses = STATUS_ORDER.filter((name) => name === ticket.status || TRANSITIONS[ticket.status]?.includes(name));
    fillSelect(status, statuses.map((name) => [name, STRINGS.statuses[name]]), ticket.status);
    fillSelect(priority, Object.entries(STRINGS.priorities), ticket.priority);
    const none = ["", STRINGS.noneOption];
    fillSelect(category, [none, ...this.#pickers.categories.map((item) => [item.id, item.name])], ticket.category_id ?? "");
    fillSelect(team, [none, ...this.#pickers.teams.map((item) => [item.id, item.name])], ticket.team_id ?? "");
    fillSelect(assignee, [none, ...this.#pickers.agents.map((item) => [
      item.id, item.away ? item.name + STRINGS.awaySuffix : item.name,
    ])], ticket.assignee_id ?? "");
    // Keep what the agent is typing when a live update arrives.
    if (document.activeElement !== tags) tags.value = ticket.tags.join(", ");
    this.#renderAgentDue(ticket.due_at);
  }

  /** Show the agent-set due time in the browser's zone, in the input and as text. */
  #renderAgentDue(dueAt) {
    const { due, dueShown, clearDue } = this.#elements;
    clearDue.disabled = !dueAt;
    if (document.activeElement !== due) due.value = dueAt ? localInputValue(new Date(dueAt)) : "";
    if (!dueAt) {
      dueShown.textContent = STRINGS.dueNone;
      delete dueShown.dataset.state;
      return;
    }
    const overdue = Date.parse(dueAt) <= Date.now();
    dueShown.textContent = format(overdue ? STRINGS.dueOverdue : STRINGS.dueShown,
      { time: localDateTime(dueAt), zone: browserZone() });
    dueShown.title = dueAt;
    dueShown.dataset.state = overdue ? "overdue" : "set";
  }

  #renderHistory(entries) {
    const { history } = this.#elements;
    if (entries.length === 0) {
      history.replaceChildren(element("li", { className: "tc-muted", text: STRINGS.historyEmpty }));
      return;
    }
    const agentNames = new Map(this.#pickers.agents.map((agent) => [agent.id, agent.name]));
    history.replaceChildren(...[...entries].reverse().map((entry) => {
      let actor = STRINGS.historySystem;
      if (entry.rule_name) actor = format(STRINGS.historyByRule, { name: entry.rule_name });
      else if (entry.actor_user_id !== null) actor = agentNames.get(entry.actor_user_id) ?? format(STRINGS.unknownAgent, { id: entry.actor_user_id });
      return element("li", {
        children: [
          element("div", { children: formatNodes(STRINGS.historyLine, {
            field: STRINGS.historyFields[entry.field] ?? entry.field,
            old: this.#historyValue(entry.field, entry.old), new: this.#historyValue(entry.field, entry.new),
          }) }),
          element("small", { className: "tc-muted", children: [isolated(actor), ` · ${formatTime(entry.created_at)}`] }),
          ...(entry.reason ? [element("small", { className: "tc-muted tc-block", text: entry.reason })] : []),
        ],
      });
    }));
  }

  #historyValue(field, value) {
    if (value === null || value === undefined || value === "") return STRINGS.emptyValue;
    if (field === "status") return STRINGS.statuses[value] ?? value;
    if (field === "priority") return STRINGS.priorities[value] ?? value;
    if (field === "due") return localDateTime(value);
    return value;
  }

  #showError(error) {
    showStatus(this.#elements.statusLine, error instanceof ApiError ? error.message : STRINGS.networkError, "error");
  }
}

/** Return the browser's IANA time zone, which is the agent's own zone on their machine. */
function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Return an ISO time as date and time of day in the browser's zone. */
function localDateTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return iso;
  return when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** Return a Date as a datetime-local input's value, "YYYY-MM-DDTHH:MM", in the browser's zone. */
function localInputValue(when) {
  const pad = (number) => String(number).padStart(2, "0");
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}` +
    `T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

function idOrNull(value) {
  return value === "" ? null : Number(value);
}

const context = await portal.ready;
const number = context.params.ticket ?? new URLSearchParams(location.search).get("ticket");
if (!number || !/^\d+$/.test(number)) {
  showStatus(byId("status"), STRINGS.missingTicket, "error");
} else {
  await new TicketWindow(context, number).start();
}
