// The Teams & categories window (admins): teams with their members, leads, strategy and
// away flags; categories; and the settings for the web form and auto-close.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { element, fillSelect, showStatus } from "./dom.js";

const byId = (id) => document.getElementById(id);

class TeamsWindow {
  #api;
  #state = { teams: [], categories: [], agents: new Map(), settings: null };
  #elements = {
    statusLine: byId("status"), teams: byId("teams"), newTeam: byId("new-team"),
    categories: byId("categories"), newCategory: byId("new-category"), settings: byId("settings"),
  };

  constructor(context) {
    this.#api = new Api(context.csrfToken);
  }

  async start() {
    byId("title").textContent = STRINGS.teamsTitle;
    byId("teams-heading").textContent = STRINGS.teamsHeading;
    byId("categories-heading").textContent = STRINGS.categoriesHeading;
    byId("settings-heading").textContent = STRINGS.settingsHeading;
    this.#renderNameForm(this.#elements.newTeam, "new-team-name", STRINGS.newTeamName, STRINGS.addTeam,
      (name) => this.#call(() => this.#api.send("POST", "teams", { name }), STRINGS.teamSaved));
    this.#renderNameForm(this.#elements.newCategory, "new-category-name", STRINGS.newCategoryName, STRINGS.addCategory,
      (name) => this.#call(() => this.#api.send("POST", "categories", { name }), STRINGS.categorySaved));
    this.#elements.teams.addEventListener("click", (event) => this.#onTeamClick(event));
    this.#elements.teams.addEventListener("change", (event) => this.#onTeamChange(event));
    this.#elements.categories.addEventListener("click", (event) => this.#onCategoryClick(event));
    this.#elements.settings.addEventListener("submit", (event) => this.#saveSettings(event));
    const sla = byId("open-sla");
    sla.textContent = STRINGS.openSlaSettings;
    sla.addEventListener("click", () => portal.openWindow("ticketcloud", "admin_sla"));
    // NOTE: no event announces team, category or away changes, so the window shows what it
    // loaded last; each change made here reloads it.
    await this.load();
  }

  async load() {
    try {
      const [teams, categories, agents, settings] = await Promise.all([
        this.#api.get("teams"), this.#api.get("categories"), this.#api.get("agents"), this.#api.get("settings"),
      ]);
      this.#state = {
        teams: teams.items, categories: categories.items, settings,
        agents: new Map(agents.items.map((agent) => [agent.id, agent])),
      };
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.#renderTeams();
    this.#renderCategories();
    this.#renderSettings();
  }

  /** Run `request`, then reload and show `done`, or show the error; return whether it worked. */
  async #call(request, done) {
    // Cleared first, so that the line shows `done` only once this request finished.
    showStatus(this.#elements.statusLine, "", "");
    try {
      await request();
    } catch (error) {
      this.#showError(error);
      return false;
    }
    await this.load();
    showStatus(this.#elements.statusLine, done, "info");
    return true;
  }

  #renderNameForm(form, id, label, action, submit) {
    const input = element("input", { attributes: { id, maxlength: 100, required: true } });
    form.replaceChildren(
      element("label", { text: label, attributes: { for: id } }), input,
      element("button", { text: action, attributes: { type: "submit" } }),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await submit(input.value)) input.value = "";
    });
  }

  #renderTeams() {
    const { teams } = this.#state;
    if (teams.length === 0) {
      this.#elements.teams.replaceChildren(element("li", { className: "tc-muted", text: STRINGS.teamsEmpty }));
      return;
    }
    this.#elements.teams.replaceChildren(...teams.map((team) => this.#teamItem(team)));
  }

  #teamItem(team) {
    const name = element("input", {
      attributes: { "aria-label": STRINGS.teamName, maxlength: 100, "data-field": "name" },
    });
    name.value = team.name;
    const strategy = element("select", { attributes: { "aria-label": STRINGS.strategyLabel, "data-field": "strategy" } });
    fillSelect(strategy, Object.entries(STRINGS.strategies), team.strategy);
    const candidates = [...this.#state.agents.values()].filter((agent) => !team.member_ids.includes(agent.id));
    const picker = element("select", { attributes: { "aria-label": STRINGS.memberPicker, "data-field": "new-member" } });
    fillSelect(picker, candidates.map((agent) => [agent.id, agent.name]), "");
    const members = team.member_ids.length === 0
      ? [element("li", { className: "tc-muted", text: STRINGS.membersEmpty })]
      : team.member_ids.map((userId) => this.#memberItem(team, userId));
    return element("li", {
      className: "tc-admin-item",
      attributes: { "data-team-id": team.id },
      children: [
        element("div", { className: "tc-editor-row", children: [
          name, this.#button(STRINGS.renameTeam, "rename"),
          element("label", { text: STRINGS.strategyLabel, children: [document.createTextNode(" "), strategy] }),
          this.#button(STRINGS.deleteTeam, "delete"),
        ] }),
        element("h3", { text: STRINGS.membersLabel }),
        element("ul", { className: "tc-members", children: members }),
        element("div", { className: "tc-editor-row", children: [
          picker, this.#button(STRINGS.addMember, "add-member", candidates.length === 0),
        ] }),
      ],
    });
  }

  #memberItem(team, userId) {
    const agent = this.#state.agents.get(userId);
    const isLead = team.lead_ids.includes(userId);
    const away = agent?.away ?? false;
    const badges = [];
    if (isLead) badges.push(element("span", { className: "tc-badge", text: STRINGS.leadBadge }));
    if (away) badges.push(element("span", { className: "tc-badge tc-badge-away", text: STRINGS.awayBadge }));
    return element("li", {
      attributes: { "data-user-id": userId, "data-lead": String(isLead), "data-away": String(away) },
      children: [
        element("span", { text: agent?.name ?? format(STRINGS.unknownAgent, { id: userId }) }),
        ...badges,
        this.#button(isLead ? STRINGS.removeLead : STRINGS.makeLead, "toggle-lead"),
        this.#button(away ? STRINGS.setBack : STRINGS.setAway, "toggle-away", agent === undefined),
        this.#button(STRINGS.removeMember, "remove-member"),
      ],
    });
  }

  #button(label, action, disabled = false) {
    return element("button", { text: label, attributes: { type: "button", "data-action": action, disabled } });
  }

  async #onTeamClick(event) {
    const button = event.target.closest("button[data-action]");
    const item = event.target.closest("[data-team-id]");
    if (!button || !item) return;
    const team = this.#state.teams.find((candidate) => String(candidate.id) === item.dataset.teamId);
    if (!team) return;
    const member = event.target.closest("[data-user-id]");
    const userId = member ? Number(member.dataset.userId) : null;
    const path = `teams/${team.id}`;
    switch (button.dataset.action) {
      case "rename":
        await this.#call(() => this.#api.send("PATCH", path, { name: item.querySelector("[data-field=name]").value }),
          STRINGS.teamSaved);
        break;
      case "delete":
        if (!window.confirm(format(STRINGS.confirmDeleteTeam, { name: team.name }))) return;
        await this.#call(() => this.#api.send("DELETE", path), STRINGS.teamDeleted);
        break;
      case "add-member":
        await this.#call(() => this.#api.send("POST", `${path}/members`, {
          user_id: Number(item.querySelector("[data-field=new-member]").value),
        }), STRINGS.teamSaved);
        break;
      case "toggle-lead":
        await this.#call(() => this.#api.send("PATCH", `${path}/members/${userId}`, {
          is_lead: member.dataset.lead !== "true",
        }), STRINGS.teamSaved);
        break;
      case "toggle-away":
        await this.#call(() => this.#api.send("PATCH", `agents/${userId}`, { away: member.dataset.away !== "true" }),
          STRINGS.saved);
        break;
      case "remove-member":
        await this.#call(() => this.#api.send("DELETE", `${path}/members/${userId}`), STRINGS.teamSaved);
        break;
      default:
    }
  }

  async #onTeamChange(event) {
    if (event.target.dataset.field !== "strategy") return;
    const item = event.target.closest("[data-team-id]");
    await this.#call(() => this.#api.send("PATCH", `teams/${item.dataset.teamId}`, { strategy: event.target.value }),
      STRINGS.teamSaved);
  }

  #renderCategories() {
    const { categories } = this.#state;
    if (categories.length === 0) {
      this.#elements.categories.replaceChildren(element("li", { className: "tc-muted", text: STRINGS.categoriesEmpty }));
      return;
    }
    this.#elements.categories.replaceChildren(...categories.map((category) => {
      const name = element("input", { attributes: { "aria-label": STRINGS.categoryName, maxlength: 100 } });
      name.value = category.name;
      return element("li", {
        className: "tc-admin-item",
        attributes: { "data-category-id": category.id },
        children: [element("div", { className: "tc-editor-row", children: [
          name, this.#button(STRINGS.renameCategory, "rename"), this.#button(STRINGS.deleteCategory, "delete"),
        ] })],
      });
    }));
  }

  async #onCategoryClick(event) {
    const button = event.target.closest("button[data-action]");
    const item = event.target.closest("[data-category-id]");
    if (!button || !item) return;
    const category = this.#state.categories.find((candidate) => String(candidate.id) === item.dataset.categoryId);
    if (!category) return;
    const path = `categories/${category.id}`;
    if (button.dataset.action === "rename") {
      await this.#call(() => this.#api.send("PATCH", path, { name: item.querySelector("input").value }),
        STRINGS.categorySaved);
    } else if (button.dataset.action === "delete") {
      if (!window.confirm(format(STRINGS.confirmDeleteCategory, { name: category.name }))) return;
      await this.#call(() => this.#api.send("DELETE", path), STRINGS.categoryDeleted);
    }
  }

  #renderSettings() {
    const { settings } = this.#state;
    const expose = element("input", { attributes: { type: "checkbox", id: "expose-category" } });
    expose.checked = settings.expose_category;
    const hours = element("input", {
      attributes: { type: "number", id: "auto-close-hours", min: 1, step: 1, required: true },
    });
    hours.value = String(settings.auto_close_hours);
    this.#elements.settings.replaceChildren(
      element("label", { children: [expose, document.createTextNode(` ${STRINGS.exposeCategoryLabel}`)] }),
      element("label", { text: STRINGS.autoCloseLabel, attributes: { for: "auto-close-hours" } }), hours,
      element("div", { children: [element("button", { className: "tc-primary", text: STRINGS.saveSettings, attributes: { type: "submit" } })] }),
    );
  }

  async #saveSettings(event) {
    event.preventDefault();
    const hours = byId("auto-close-hours").value;
    // A non-numeric entry goes to the server as text, so its error names the field.
    const autoCloseHours = /^\d+$/.test(hours) ? Number(hours) : hours;
    await this.#call(() => this.#api.send("PATCH", "settings", {
      auto_close_hours: autoCloseHours, expose_category: byId("expose-category").checked,
    }), STRINGS.settingsSaved);
  }

  #showError(error) {
    showStatus(this.#elements.statusLine, error instanceof ApiError ? error.message : STRINGS.networkError, "error");
  }
}

const context = await portal.ready;
document.title = STRINGS.teamsTitle;
await new TeamsWindow(context).start();
