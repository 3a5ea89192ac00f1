// The queue window: lists the workspace's tickets by view, filter, search and sort, and
// follows ticket events live. A click on a row opens the ticket's own window.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { debounce, element, fillSelect, formatNodes, formatTime, showStatus } from "./dom.js";
import { SlaTicker } from "./sla_badge.js";

const OPEN_STATUSES = ["new", "open", "pending", "on_hold"];
const DONE_STATUSES = ["solved", "closed"];
const PER_PAGE = 25;
// The API returns at most 100 tickets a page, so a refresh reloads at most that many rows.
const MAX_PER_PAGE = 100;
// The badge counts at most this many pages of the caller's open tickets.
const MAX_BADGE_PAGES = 10;
const REFRESH_DELAY_MS = 300;
const SEARCH_DELAY_MS = 350;

// Each view is an API query, so the server filters, sorts and pages every view.
const VIEWS = {
  mine: { query: { assignee: "me", status: OPEN_STATUSES.join(",") } },
  unassigned: { query: { assignee: "none", status: OPEN_STATUSES.join(",") } },
  teams: { query: { team: "mine", status: OPEN_STATUSES.join(",") } },
  open: { query: { status: OPEN_STATUSES.join(",") } },
  // A target past due keeps running while its ticket waits, so these list every status.
  overdue: { query: { sla: "overdue" } },
  at_risk: { query: { sla: "at_risk" } },
  solved: { query: { status: DONE_STATUSES.join(",") }, sort: "updated_at" },
};

class QueueWindow {
  #api;
  #user;
  #state = {
    view: "mine", sort: "updated_at", order: "desc", status: "", priority: "", q: "",
    tickets: [], next: null, agents: new Map(), away: false,
  };
  #teamNames = new Map();
  #ticker = new SlaTicker();
  // Counts loads, so that a slow response to an older query never replaces a newer one.
  #generation = 0;
  #elements = {
    views: document.getElementById("views"),
    search: document.getElementById("search"),
    statusFilter: document.getElementById("status-filter"),
    priorityFilter: document.getElementById("priority-filter"),
    sort: document.getElementById("sort"),
    order: document.getElementById("order"),
    statusLine: document.getElementById("status"),
    columns: document.getElementById("columns"),
    rows: document.getElementById("rows"),
    empty: document.getElementById("empty"),
    count: document.getElementById("count"),
    more: document.getElementById("more"),
    away: document.getElementById("away"),
  };

  constructor(context) {
    this.#api = new Api(context.csrfToken);
    this.#user = context.user;
  }

  async start() {
    this.#renderControls();
    this.#listen();
    const refresh = debounce(() => this.refresh(), REFRESH_DELAY_MS);
    portal.subscribe("ticketcloud.ticket.*", refresh);
    portal.subscribe("ticketcloud.sla.*", refresh);
    portal.subscribe("ticketcloud.ticket.rated", debounce(() => this.#loadRatings(), REFRESH_DELAY_MS));
    await this.#loadPickers();
    await Promise.all([this.load(), this.updateBadge(), this.#loadRatings()]);
  }

  /** Load the first page of the current view, replacing the list. */
  async load() {
    await this.#fetchPage({ replace: true, perPage: PER_PAGE });
  }

  /** Reload the list after a change elsewhere, keeping as many rows as were shown. */
  async refresh() {
    const perPage = Math.min(MAX_PER_PAGE, Math.max(PER_PAGE, this.#state.tickets.length));
    await Promise.all([this.#fetchPage({ replace: true, perPage }), this.updateBadge()]);
  }

  /** Show the number of open tickets assigned to the caller on the taskbar button. */
  async updateBadge() {
    let count = 0;
    let next = null;
    try {
      for (let page = 0; page < MAX_BADGE_PAGES; page += 1) {
        const data = next
          ? await this.#api.get(next)
          : await this.#api.get("tickets", { ...VIEWS.mine.query, per_page: MAX_PER_PAGE, sort: "number" });
        count += data.items.length;
        next = data.next;
        if (!next) break;
      }
    } catch (error) {
      this.#showError(error);
      return;
    }
    portal.setBadge(count);
  }

  async #fetchPage({ replace, perPage }) {
    const generation = ++this.#generation;
    const state = this.#state;
    let data;
    try {
      data = replace || !state.next
        ? await this.#api.get("tickets", { ...this.#query(), per_page: perPage })
        : await this.#api.get(state.next);
    } catch (error) {
      if (generation === this.#generation) this.#showError(error);
      return;
    }
    if (generation !== this.#generation) return;
    state.tickets = replace ? data.items : [...state.tickets, ...data.items];
    state.next = data.next;
    showStatus(this.#elements.statusLine, "", "");
    this.#renderRows();
  }

  #query() {
    const state = this.#state;
    const query = { ...VIEWS[state.view].query, sort: state.sort, order: state.order };
    // A chosen status narrows the view to that one status.
    if (state.status) query.status = state.status;
    if (state.priority) query.priority = state.priority;
    if (state.q.trim()) query.q = state.q.trim();
    return query;
  }

  async #loadPickers() {
    try {
      const [agents, teams] = await Promise.all([this.#api.get("agents"), this.#api.get("teams")]);
      this.#state.agents = new Map(agents.items.map((agent) => [agent.id, agent.name]));
      this.#state.away = agents.items.some((agent) => agent.id === this.#user.id && agent.away);
      this.#renderAway();
      this.#teamNames = new Map(teams.items.map((team) => [team.id, team.name]));
    } catch (error) {
      this.#showError(error);
    }
  }

  async #loadRatings() {
    const section = document.getElementById("ratings");
    let report;
    try {
      report = await this.#api.get("ratings/report");
    } catch (error) {
      // Roles without the report get 403, and the section then stays hidden.
      if (!(error instanceof ApiError && error.status === 403)) this.#showError(error);
      return;
    }
    document.getElementById("ratings-title").textContent = STRINGS.ratingsTitle;
    document.getElementById("ratings-agents-title").textContent = STRINGS.ratingsAgents;
    document.getElementById("ratings-teams-title").textContent = STRINGS.ratingsTeams;
    const rows = (items, nameOf) => (items.length === 0
      ? [element("li", { className: "tc-muted", text: STRINGS.ratingsEmpty })]
      : items.map((item) => element("li", {
        children: formatNodes(STRINGS.ratingsRow, {
          name: nameOf(item.id), average: Number(item.average).toFixed(2), count: item.count,
        }),
      })));
    document.getElementById("ratings-agents").replaceChildren(...rows(report.agents, (id) => this.#agentName(id)));
    document.getElementById("ratings-teams").replaceChildren(...rows(report.teams,
      (id) => this.#teamNames.get(id) ?? format(STRINGS.unknownTeam, { id })));
    section.hidden = false;
  }

  #renderControls() {
    const { views, sort, order, statusFilter, priorityFilter, search, columns, more } = this.#elements;
    views.setAttribute("aria-label", STRINGS.viewLabel);
    views.replaceChildren(...Object.entries(STRINGS.views).map(([name, label]) => element("button", {
      className: "tc-tab", text: label,
      attributes: { type: "button", "data-view": name, "aria-pressed": String(name === this.#state.view) },
    })));
    document.getElementById("search-label").textContent = STRINGS.searchLabel;
    document.getElementById("status-label").textContent = STRINGS.statusFilterLabel;
    document.getElementById("priority-label").textContent = STRINGS.priorityFilterLabel;
    document.getElementById("sort-label").textContent = STRINGS.sortLabel;
    document.getElementById("order-label").textContent = STRINGS.orderLabel;
    search.placeholder = STRINGS.searchPlaceholder;
    fillSelect(sort, Object.entries(STRINGS.sorts), this.#state.sort);
    fillSelect(order, Object.entries(STRINGS.orders), this.#state.order);
    fillSelect(statusFilter, [["", STRINGS.anyValue], ...Object.entries(STRINGS.statuses)], "");
    fillSelect(priorityFilter, [["", STRINGS.anyValue], ...Object.entries(STRINGS.priorities)], "");
    columns.replaceChildren(...Object.entries(STRINGS.columns).map(([name, label]) => element("th", {
      text: label, className: `tc-col-${name}`, attributes: { scope: "col" },
    })));
    more.textContent = STRINGS.loadMore;
    const rules = document.getElementById("open-rules");
    rules.textContent = STRINGS.openRules;
    rules.hidden = this.#user.role !== "admin";
    rules.addEventListener("click", () => portal.openWindow("ticketcloud", "admin_rules"));
    const teams = document.getElementById("open-teams");
    teams.textContent = STRINGS.openTeams;
    teams.hidden = this.#user.role !== "admin";
    teams.addEventListener("click", () => portal.openWindow("ticketcloud", "admin_teams"));
    const sla = document.getElementById("open-sla");
    sla.textContent = STRINGS.openSla;
    sla.hidden = this.#user.role !== "admin";
    sla.addEventListener("click", () => portal.openWindow("ticketcloud", "admin_sla"));
    const reports = document.getElementById("open-reports");
    reports.textContent = STRINGS.openReports;
    reports.hidden = false;
    reports.addEventListener("click", () => portal.openWindow("ticketcloud", "reports"));
    this.#elements.away.textContent = STRINGS.awayToggle;
    this.#elements.away.addEventListener("click", () => this.#toggleAway());
  }

  #renderAway() {
    const { away } = this.#elements;
    away.setAttribute("aria-pressed", String(this.#state.away));
    away.hidden = false;
  }

  /** Set the caller away (team assignment skips them) or back. */
  async #toggleAway() {
    let agent;
    try {
      agent = await this.#api.send("PATCH", `agents/${this.#user.id}`, { away: !this.#state.away });
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.#state.away = agent.away;
    this.#renderAway();
    showStatus(this.#elements.statusLine, agent.away ? STRINGS.awayOn : STRINGS.awayOff, "info");
  }

  #listen() {
    const { views, sort, order, statusFilter, priorityFilter, search, rows, more } = this.#elements;
    views.addEventListener("click", (event) => {
      const tab = event.target.closest("[data-view]");
      if (tab) this.#selectView(tab.dataset.view);
    });
    const change = (name) => (event) => {
      this.#state[name] = event.target.value;
      this.load();
    };
    sort.addEventListener("change", change("sort"));
    order.addEventListener("change", change("order"));
    statusFilter.addEventListener("change", change("status"));
    priorityFilter.addEventListener("change", change("priority"));
    search.addEventListener("input", debounce(() => {
      this.#state.q = search.value;
      this.load();
    }, SEARCH_DELAY_MS));
    more.addEventListener("click", () => this.#fetchPage({ replace: false, perPage: PER_PAGE }));
    rows.addEventListener("click", (event) => {
      const row = event.target.closest("tr[data-number]");
      if (row) this.#open(row.dataset.number);
    });
    rows.addEventListener("keydown", (event) => {
      const row = event.target.closest("tr[data-number]");
      if (row && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        this.#open(row.dataset.number);
      }
    });
  }

  #selectView(view) {
    if (!(view in VIEWS)) return;
    this.#state.view = view;
    if (VIEWS[view].sort) {
      this.#state.sort = VIEWS[view].sort;
      this.#elements.sort.value = this.#state.sort;
    }
    for (const tab of this.#elements.views.querySelectorAll("[data-view]")) {
      tab.setAttribute("aria-pressed", String(tab.dataset.view === view));
    }
    this.load();
  }

  #open(number) {
    portal.openWindow("ticketcloud", "ticket", { ticket: String(number) });
  }

  #renderRows() {
    const { tickets, next } = this.#state;
    const { rows, empty, count, more } = this.#elements;
    this.#ticker.clear();
    rows.replaceChildren(...tickets.map((ticket) => this.#row(ticket)));
    empty.textContent = STRINGS.emptyQueue;
    empty.hidden = tickets.length > 0;
    count.textContent = tickets.length > 0 ? format(STRINGS.shownCount, { count: tickets.length }) : "";
    more.hidden = !next;
  }

  #row(ticket) {
    const requester = ticket.requester.name || ticket.requester.email;
    const assignee = ticket.assignee_id === null ? STRINGS.unassignedName : this.#agentName(ticket.assignee_id);
    const cell = (name, text, extra = {}) => element("td", { className: `tc-col-${name}`, text, ...extra });
    return element("tr", {
      className: "tc-row",
      attributes: { "data-number": ticket.number, "data-status": ticket.status, tabindex: "0" },
      children: [
        cell("number", ticket.number),
        cell("subject", ticket.subject, { attributes: { title: ticket.subject } }),
        cell("requester", requester, { attributes: { title: ticket.requester.email } }),
        cell("status", null, { children: [element("span", {
          className: `tc-pill tc-status-${ticket.status}`, text: STRINGS.statuses[ticket.status] ?? ticket.status,
        })] }),
        cell("priority", null, { children: [element("span", {
          className: `tc-priority tc-priority-${ticket.priority}`,
          text: STRINGS.priorities[ticket.priority] ?? ticket.priority,
        })] }),
        cell("assignee", assignee),
        cell("due", null, { children: [this.#ticker.badge(listedDue(ticket))?.node ?? ""] }),
        cell("updated", formatTime(ticket.updated_at), { attributes: { title: ticket.updated_at } }),
      ],
    });
  }

  #agentName(id) {
    return this.#state.agents.get(id) ?? format(STRINGS.unknownAgent, { id });
  }

  #showError(error) {
    const message = error instanceof ApiError ? error.message : STRINGS.networkError;
    showStatus(this.#elements.statusLine, message, "error");
  }
}

const context = await portal.ready;
document.title = STRINGS.appName;
await new QueueWindow(context).start();

/**
 * Return what the due column shows for a list item: its SLA target due first, or the
 * due time an agent set when that comes sooner (or the ticket has no running target),
 * as a target of kind "agent_due". Solved and closed tickets show only their SLA state.
 */
function listedDue(ticket) {
  const sla = ticket.sla_due;
  if (!ticket.due_at || ticket.status === "solved" || ticket.status === "closed") return sla;
  const own = { kind: "agent_due", state: "running", due_at: ticket.due_at };
  const slaRunning = sla && sla.state === "running" && sla.due_at;
  return !slaRunning || Date.parse(own.due_at) < Date.parse(sla.due_at) ? own : sla;
}
