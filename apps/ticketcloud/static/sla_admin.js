// The SLA window (admins): business calendars and the ordered SLA policies, each list
// with its editor (sla_calendar_form.js, sla_policy_form.js).
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { element, showStatus } from "./dom.js";
import { CalendarForm, weeklyMinutes } from "./sla_calendar_form.js";
import { PolicyForm, TARGET_FIELDS, formatMinutes } from "./sla_policy_form.js";

const TEXT = STRINGS.slaAdmin;
const byId = (id) => document.getElementById(id);

class SlaWindow {
  #api;
  #state = { calendars: [], policies: [], categories: [], teams: [] };
  #elements = {
    statusLine: byId("status"), calendars: byId("calendars"), policies: byId("policies"),
    newCalendar: byId("new-calendar"), newPolicy: byId("new-policy"),
  };
  #calendarForm;
  #policyForm;

  constructor(context) {
    this.#api = new Api(context.csrfToken);
    const report = (error) => this.#showError(error);
    this.#calendarForm = new CalendarForm(byId("calendar-editor"), {
      api: this.#api, report, returnFocus: this.#elements.newCalendar,
      onSaved: async (calendar, message) => {
        await this.load();
        this.#showInfo(message);
      },
    });
    this.#policyForm = new PolicyForm(byId("policy-editor"), {
      api: this.#api, report, returnFocus: this.#elements.newPolicy,
      onSaved: async (message) => {
        await this.load();
        this.#showInfo(message);
      },
    });
  }

  async start() {
    byId("title").textContent = TEXT.title;
    byId("calendars-heading").textContent = TEXT.calendarsHeading;
    byId("calendars-hint").textContent = TEXT.calendarsHint;
    byId("policies-heading").textContent = TEXT.policiesHeading;
    byId("policies-hint").textContent = TEXT.policiesHint;
    this.#elements.newCalendar.textContent = TEXT.newCalendar;
    this.#elements.newPolicy.textContent = TEXT.newPolicy;
    this.#elements.newCalendar.addEventListener("click", () => this.#calendarForm.open(null));
    this.#elements.newPolicy.addEventListener("click", () => this.#openPolicy(null));
    this.#elements.calendars.addEventListener("click", (event) => this.#onCalendarClick(event));
    this.#elements.policies.addEventListener("click", (event) => this.#onPolicyClick(event));
    // NOTE: no event announces SLA changes, so the window shows what it loaded last; each
    // change made here reloads it.
    await this.load();
    // The editors need the calendars, categories and teams, so they open only after the first load.
    this.#elements.newCalendar.disabled = false;
    this.#elements.newPolicy.disabled = false;
  }

  async load() {
    try {
      const [calendars, policies, categories, teams] = await Promise.all([
        this.#api.get("sla/calendars"), this.#api.get("sla/policies"),
        this.#api.get("categories"), this.#api.get("teams"),
      ]);
      this.#state = {
        calendars: calendars.items, policies: policies.items,
        categories: categories.items, teams: teams.items,
      };
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.#renderCalendars();
    this.#renderPolicies();
  }

  #renderCalendars() {
    const { calendars } = this.#state;
    const list = this.#elements.calendars;
    if (calendars.length === 0) {
      list.replaceChildren(element("li", { className: "tc-muted", text: TEXT.calendarsEmpty }));
      return;
    }
    list.replaceChildren(...calendars.map((calendar) => {
      const minutes = weeklyMinutes(calendar.hours) ?? 0;
      return element("li", {
        className: "tc-admin-item tc-sla-item",
        attributes: { "data-calendar-id": calendar.id },
        children: [
          element("span", { className: "tc-sla-name", text: calendar.name }),
          element("small", { className: "tc-muted", text: format(TEXT.calendarSummary, {
            zone: calendar.time_zone, hours: formatMinutes(minutes), holidays: calendar.holidays.length,
          }) }),
          this.#button(TEXT.edit, "edit", format(TEXT.editCalendar, { name: calendar.name })),
          this.#button(TEXT.delete, "delete", format(TEXT.deleteCalendar, { name: calendar.name })),
          element("p", { className: "tc-field-error", attributes: { "data-role": "error", hidden: true } }),
        ],
      });
    }));
  }

  async #onCalendarClick(event) {
    const button = event.target.closest("button[data-action]");
    const item = event.target.closest("[data-calendar-id]");
    if (!button || !item) return;
    const calendar = this.#state.calendars.find((candidate) => String(candidate.id) === item.dataset.calendarId);
    if (!calendar) return;
    if (button.dataset.action === "edit") {
      this.#calendarForm.open(calendar);
      return;
    }
    if (!window.confirm(format(TEXT.confirmDeleteCalendar, { name: calendar.name }))) return;
    this.#clearStatus();
    try {
      await this.#api.send("DELETE", `sla/calendars/${calendar.id}`);
    } catch (error) {
      this.#showCalendarError(item, calendar, error);
      return;
    }
    if (this.#calendarForm.calendarId === calendar.id) this.#calendarForm.close();
    await this.load();
    this.#showInfo(TEXT.calendarDeleted);
  }

  /** Show a failed delete at the calendar's item; `calendar_in_use` names the policies that use it. */
  #showCalendarError(item, calendar, error) {
    let message = error instanceof ApiError ? error.message : STRINGS.networkError;
    if (error instanceof ApiError && error.code === "calendar_in_use") {
      const users = this.#state.policies.filter((policy) => policy.calendar_id === calendar.id);
      message = format(TEXT.calendarInUse, {
        name: calendar.name, policies: users.map((policy) => `“${policy.name}”`).join(TEXT.listSeparator),
      });
    }
    const line = item.querySelector("[data-role=error]");
    line.textContent = message;
    line.hidden = false;
    showStatus(this.#elements.statusLine, message, "error");
  }

  #renderPolicies() {
    const { policies } = this.#state;
    const list = this.#elements.policies;
    if (policies.length === 0) {
      list.replaceChildren(element("li", { className: "tc-muted", text: TEXT.policiesEmpty }));
      return;
    }
    list.replaceChildren(...policies.map((policy, index) => {
      const children = [
        element("span", { className: "tc-muted", text: `${index + 1}.` }),
        element("span", { className: "tc-sla-name", text: policy.name }),
      ];
      if (!policy.enabled) children.push(element("span", { className: "tc-badge", text: TEXT.policyDisabled }));
      children.push(
        element("small", { className: "tc-muted tc-sla-summary", text: this.#policySummary(policy) }),
        this.#button(TEXT.moveUp, "up", format(TEXT.movePolicyUp, { name: policy.name }), index === 0),
        this.#button(TEXT.moveDown, "down", format(TEXT.movePolicyDown, { name: policy.name }), index === policies.length - 1),
        this.#button(TEXT.edit, "edit", format(TEXT.editPolicy, { name: policy.name })),
        this.#button(TEXT.delete, "delete", format(TEXT.deletePolicy, { name: policy.name })),
      );
      if (policy.shadowed_by !== null) {
        children.push(element("p", {
          className: "tc-warning", text: format(TEXT.shadowedBy, { name: this.#policyName(policy.shadowed_by) }),
          attributes: { "data-role": "shadowed" },
        }));
      }
      return element("li", {
        className: "tc-admin-item tc-sla-item",
        attributes: { "data-policy-id": policy.id, "data-enabled": String(policy.enabled) },
        children,
      });
    }));
  }

  #policySummary(policy) {
    const names = (items, ids) => ids.map((id) => items.find((item) => item.id === id)?.name ?? String(id))
      .join(TEXT.listSeparator);
    const { conditions } = policy;
    const parts = [];
    if (conditions.priorities) {
      parts.push(format(TEXT.summaryPriorities, {
        values: conditions.priorities.map((value) => STRINGS.priorities[value] ?? value).join(TEXT.listSeparator),
      }));
    }
    if (conditions.category_ids) parts.push(format(TEXT.summaryCategories, { values: names(this.#state.categories, conditions.category_ids) }));
    if (conditions.team_ids) parts.push(format(TEXT.summaryTeams, { values: names(this.#state.teams, conditions.team_ids) }));
    if (conditions.customers) parts.push(format(TEXT.summaryCustomers, { values: conditions.customers.join(TEXT.listSeparator) }));
    if (parts.length === 0) parts.push(TEXT.anyTicket);
    for (const [kind, field] of Object.entries(TARGET_FIELDS)) {
      if (policy[field] !== null) parts.push(format(TEXT.summaryTarget, { kind: STRINGS.sla.kinds[kind], duration: formatMinutes(policy[field]) }));
    }
    const calendar = policy.calendar_id === null
      ? TEXT.alwaysOpen
      : this.#state.calendars.find((item) => item.id === policy.calendar_id)?.name
        ?? format(TEXT.unknownCalendar, { id: policy.calendar_id });
    parts.push(format(TEXT.summaryCalendar, { name: calendar }));
    return parts.join(TEXT.partSeparator);
  }

  #policyName(id) {
    return this.#state.policies.find((policy) => policy.id === id)?.name ?? format(TEXT.unknownPolicy, { id });
  }

  #openPolicy(policy) {
    const { calendars, categories, teams } = this.#state;
    const shadowing = policy?.shadowed_by ?? null;
    this.#policyForm.open(policy, { calendars, categories, teams },
      shadowing === null ? null : this.#policyName(shadowing));
  }

  async #onPolicyClick(event) {
    const button = event.target.closest("button[data-action]");
    const item = event.target.closest("[data-policy-id]");
    if (!button || !item) return;
    const index = this.#state.policies.findIndex((candidate) => String(candidate.id) === item.dataset.policyId);
    const policy = this.#state.policies[index];
    if (!policy) return;
    const action = button.dataset.action;
    if (action === "edit") {
      this.#openPolicy(policy);
    } else if (action === "delete") {
      if (!window.confirm(format(TEXT.confirmDeletePolicy, { name: policy.name }))) return;
      await this.#call(() => this.#api.send("DELETE", `sla/policies/${policy.id}`), TEXT.policyDeleted);
    } else {
      await this.#move(policy, action === "up" ? index - 1 : index + 1, action);
    }
  }

  /** Save the policy at `position`; the focus stays on the moved policy's button. */
  async #move(policy, position, action) {
    this.#clearStatus();
    let moved;
    try {
      moved = await this.#api.send("POST", "sla/policies/reorder", { policy_id: policy.id, position });
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.#state.policies = moved.items;
    this.#renderPolicies();
    this.#showInfo(TEXT.policyMoved);
    const item = this.#elements.policies.querySelector(`[data-policy-id="${policy.id}"]`);
    const same = item?.querySelector(`button[data-action=${action}]`);
    const other = item?.querySelector(`button[data-action=${action === "up" ? "down" : "up"}]`);
    (same && !same.disabled ? same : other)?.focus();
  }

  /** Run `request`, then reload and show `done`, or show the error. */
  async #call(request, done) {
    this.#clearStatus();
    try {
      await request();
    } catch (error) {
      this.#showError(error);
      return;
    }
    await this.load();
    this.#showInfo(done);
  }

  #button(label, action, ariaLabel, disabled = false) {
    return element("button", {
      text: label, attributes: { type: "button", "data-action": action, "aria-label": ariaLabel, disabled },
    });
  }

  #clearStatus() {
    showStatus(this.#elements.statusLine, "", "");
  }

  #showInfo(message) {
    showStatus(this.#elements.statusLine, message, "info");
  }

  #showError(error) {
    showStatus(this.#elements.statusLine, error instanceof ApiError ? error.message : STRINGS.networkError, "error");
  }
}

const context = await portal.ready;
document.title = TEXT.title;
await new SlaWindow(context).start();
