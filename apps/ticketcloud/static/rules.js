// The assignment rules window (admins): the rules in evaluation order, an editor with
// one form row per condition and action, and a dry run on a sample ticket.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { element, fillSelect, showStatus } from "./dom.js";

const LIST_OPERATORS = new Set(["in", "not_in"]);
const ID_ACTIONS = { set_category: "categories", set_team: "teams", set_assignee: "agents" };
const byId = (id) => document.getElementById(id);

/** Return the comma-separated `text` as a list of trimmed, non-empty values. */
function splitList(text) {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

class RulesWindow {
  #api;
  #rules = [];
  #pickers = { categories: [], teams: [], agents: [] };
  // The rule being edited: null for a new rule.
  #editing = null;
  #elements = {
    statusLine: byId("status"), list: byId("rules"), newRule: byId("new-rule"),
    editor: byId("editor"), dryRun: byId("dry-run"),
  };

  constructor(context) {
    this.#api = new Api(context.csrfToken);
  }

  async start() {
    byId("title").textContent = STRINGS.rulesTitle;
    this.#elements.newRule.textContent = STRINGS.newRule;
    this.#elements.newRule.addEventListener("click", () => this.#openEditor(null));
    this.#elements.list.addEventListener("click", (event) => this.#onListClick(event));
    this.#renderDryRun();
    try {
      const [categories, teams, agents] = await Promise.all([
        this.#api.get("categories"), this.#api.get("teams"), this.#api.get("agents"),
      ]);
      this.#pickers = { categories: categories.items, teams: teams.items, agents: agents.items };
    } catch (error) {
      this.#showError(error);
    }
    await this.load();
  }

  async load() {
    try {
      this.#rules = (await this.#api.get("rules")).items;
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.#renderList();
  }

  #renderList() {
    const { list } = this.#elements;
    if (this.#rules.length === 0) {
      list.replaceChildren(element("li", { className: "tc-muted", text: STRINGS.rulesEmpty }));
      return;
    }
    list.replaceChildren(...this.#rules.map((rule, index) => element("li", {
      className: "tc-rule",
      attributes: { "data-rule-id": rule.id, "data-enabled": String(rule.enabled) },
      children: [
        element("span", { className: "tc-muted", text: `${index + 1}.` }),
        element("span", { className: "tc-rule-name", text: rule.name }),
        element("small", {
          className: "tc-muted",
          text: format(STRINGS.ruleSummary, { conditions: rule.conditions.length, actions: rule.actions.length })
            + (rule.enabled ? "" : `, ${STRINGS.ruleDisabled}`),
        }),
        this.#button(STRINGS.moveUp, "up", index === 0),
        this.#button(STRINGS.moveDown, "down", index === this.#rules.length - 1),
        this.#button(STRINGS.editRule, "edit"),
        this.#button(STRINGS.deleteRule, "delete"),
      ],
    })));
  }

  #button(label, action, disabled = false) {
    return element("button", { text: label, attributes: { type: "button", "data-action": action, disabled } });
  }

  async #onListClick(event) {
    const button = event.target.closest("button[data-action]");
    const item = event.target.closest("[data-rule-id]");
    if (!button || !item) return;
    const index = this.#rules.findIndex((rule) => String(rule.id) === item.dataset.ruleId);
    const rule = this.#rules[index];
    if (!rule) return;
    const action = button.dataset.action;
    if (action === "edit") {
      this.#openEditor(rule);
    } else if (action === "delete") {
      if (!window.confirm(format(STRINGS.confirmDelete, { name: rule.name }))) return;
      await this.#call(() => this.#api.send("DELETE", `rules/${rule.id}`), STRINGS.ruleDeleted);
    } else {
      const position = action === "up" ? index - 1 : index + 1;
      await this.#call(() => this.#api.send("POST", "rules/reorder", { rule_id: rule.id, position }), "");
    }
  }

  /** Run `request`, then reload the list and show `done`, or show the error. */
  async #call(request, done) {
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

  #openEditor(rule) {
    this.#editing = rule;
    const { editor } = this.#elements;
    const name = element("input", { attributes: { id: "rule-name", maxlength: 200, required: true } });
    name.value = rule?.name ?? "";
    const enabled = element("input", { attributes: { type: "checkbox", id: "rule-enabled" } });
    enabled.checked = rule?.enabled ?? true;
    const match = element("select", { attributes: { id: "rule-match" } });
    fillSelect(match, [["all", STRINGS.matchAll], ["any", STRINGS.matchAny]], rule?.match ?? "all");
    const conditions = element("div", { attributes: { id: "rule-conditions" } });
    const actions = element("div", { attributes: { id: "rule-actions" } });
    for (const condition of rule?.conditions ?? [{ field: "subject", operator: "contains", value: "" }]) {
      conditions.append(this.#conditionRow(condition));
    }
    for (const action of rule?.actions ?? [{ type: "set_team" }]) actions.append(this.#actionRow(action));
    const addCondition = element("button", { text: STRINGS.addCondition, attributes: { type: "button" } });
    addCondition.addEventListener("click", () => conditions.append(this.#conditionRow({ field: "subject", operator: "contains", value: "" })));
    const addAction = element("button", { text: STRINGS.addAction, attributes: { type: "button" } });
    addAction.addEventListener("click", () => actions.append(this.#actionRow({ type: "add_tags" })));
    const cancel = element("button", { text: STRINGS.cancel, attributes: { type: "button" } });
    cancel.addEventListener("click", () => this.#closeEditor());
    editor.replaceChildren(
      element("div", { className: "tc-editor-row", children: [
        element("label", { text: STRINGS.ruleName, attributes: { for: "rule-name" } }), name,
        element("label", { children: [enabled, document.createTextNode(` ${STRINGS.ruleEnabled}`)] }),
        element("label", { text: STRINGS.ruleMatch, attributes: { for: "rule-match" } }), match,
      ] }),
      element("h2", { text: STRINGS.conditions }),
      element("small", { className: "tc-muted", text: STRINGS.choicesHint }),
      conditions, element("div", { children: [addCondition] }),
      element("h2", { text: STRINGS.actions }),
      actions, element("div", { children: [addAction] }),
      element("div", { className: "tc-composer-actions", children: [
        cancel, element("button", { className: "tc-primary", text: STRINGS.saveRule, attributes: { type: "submit" } }),
      ] }),
    );
    editor.onsubmit = (event) => {
      event.preventDefault();
      this.#save({
        name: name.value, enabled: enabled.checked, match: match.value,
        conditions: [...conditions.children].map((row) => row.readValue()),
        actions: [...actions.children].map((row) => row.readValue()),
      });
    };
    editor.hidden = false;
    name.focus();
  }

  #closeEditor() {
    this.#editing = null;
    this.#elements.editor.hidden = true;
    this.#elements.editor.replaceChildren();
  }

  async #save(definition) {
    const rule = this.#editing;
    const saved = await this.#call(() => (rule === null
      ? this.#api.send("POST", "rules", definition)
      : this.#api.send("PUT", `rules/${rule.id}`, definition)), STRINGS.ruleSaved);
    if (saved) this.#closeEditor();
  }

  #conditionRow(condition) {
    const field = element("select", { attributes: { "aria-label": STRINGS.conditionField } });
    fillSelect(field, Object.entries(STRINGS.conditionFields), condition.field);
    const operator = element("select", { attributes: { "aria-label": STRINGS.conditionOperator } });
    fillSelect(operator, Object.entries(STRINGS.operators), condition.operator);
    const value = element("input", { attributes: { "aria-label": STRINGS.conditionValue, maxlength: 500 } });
    value.value = Array.isArray(condition.value) ? condition.value.join(", ") : (condition.value ?? "");
    const row = this.#row([field, operator, value]);
    row.readValue = () => ({
      field: field.value, operator: operator.value,
      value: LIST_OPERATORS.has(operator.value) ? splitList(value.value) : value.value,
    });
    return row;
  }

  #actionRow(action) {
    const type = element("select", { attributes: { "aria-label": STRINGS.actionType } });
    fillSelect(type, Object.entries(STRINGS.actionTypes), action.type);
    const slot = element("span", { className: "tc-inline" });
    let readValue = () => undefined;
    const renderValue = (value) => {
      const picker = ID_ACTIONS[type.value];
      let control = null;
      if (picker) {
        control = element("select", { attributes: { "aria-label": STRINGS.actionValue } });
        fillSelect(control, this.#pickers[picker].map((item) => [item.id, item.name]), value ?? "");
        readValue = () => Number(control.value);
      } else if (type.value === "set_priority") {
        control = element("select", { attributes: { "aria-label": STRINGS.actionValue } });
        fillSelect(control, Object.entries(STRINGS.priorities), value ?? "normal");
        readValue = () => control.value;
      } else if (type.value === "add_tags") {
        control = element("input", { attributes: { "aria-label": STRINGS.actionValue } });
        control.value = Array.isArray(value) ? value.join(", ") : "";
        readValue = () => splitList(control.value.toLowerCase());
      } else {
        readValue = () => undefined;
      }
      slot.replaceChildren(...(control ? [control] : []));
    };
    renderValue(action.value);
    type.addEventListener("change", () => renderValue(undefined));
    const row = this.#row([type, slot]);
    row.readValue = () => {
      const value = readValue();
      return value === undefined ? { type: type.value } : { type: type.value, value };
    };
    return row;
  }

  #row(controls) {
    const row = element("div", { className: "tc-editor-row" });
    const remove = element("button", { text: STRINGS.removeRow, attributes: { type: "button" } });
    remove.addEventListener("click", () => row.remove());
    row.append(...controls, remove);
    return row;
  }

  #renderDryRun() {
    const { dryRun } = this.#elements;
    const input = (id, label, tag = "input") => {
      const control = element(tag, { attributes: { id, name: id } });
      return [control, element("label", { className: "tc-field", text: label, attributes: { for: id } })];
    };
    const [subject, subjectLabel] = input("sample-subject", STRINGS.sampleSubject);
    const [body, bodyLabel] = input("sample-body", STRINGS.sampleBody, "textarea");
    const [sender, senderLabel] = input("sample-sender", STRINGS.sampleSender);
    sender.type = "email";
    sender.required = true;
    const result = element("ul", { className: "tc-dry-run-result", attributes: { id: "dry-run-result", "aria-live": "polite" } });
    dryRun.replaceChildren(
      element("h2", { text: STRINGS.dryRunTitle }),
      subjectLabel, subject, bodyLabel, body, senderLabel, sender,
      element("div", { children: [element("button", { text: STRINGS.runDryRun, attributes: { type: "submit" } })] }),
      result,
    );
    dryRun.addEventListener("submit", async (event) => {
      event.preventDefault();
      let outcome;
      try {
        outcome = await this.#api.send("POST", "rules/dry-run", {
          subject: subject.value, body: body.value, sender_email: sender.value,
        });
      } catch (error) {
        this.#showError(error);
        return;
      }
      showStatus(this.#elements.statusLine, "", "");
      const lines = outcome.fired.length === 0
        ? [STRINGS.dryRunNone]
        : outcome.fired.map((decision) => format(STRINGS.dryRunFired, { name: decision.name }));
      const changes = Object.entries(outcome.result)
        .filter(([, value]) => value !== null && !(Array.isArray(value) && value.length === 0))
        .map(([name, value]) => `${STRINGS.resultFields[name] ?? name} = ${this.#describe(name, value)}`);
      lines.push(format(STRINGS.dryRunResult, { summary: changes.join(", ") || STRINGS.dryRunNothing }));
      result.replaceChildren(...lines.map((line) => element("li", { text: line })));
    });
  }

  #describe(name, value) {
    const lists = { category_id: "categories", team_id: "teams", assignee_id: "agents" };
    if (lists[name]) return this.#pickers[lists[name]].find((item) => item.id === value)?.name ?? String(value);
    if (name === "priority") return STRINGS.priorities[value] ?? value;
    return Array.isArray(value) ? value.join(", ") : String(value);
  }

  #showError(error) {
    showStatus(this.#elements.statusLine, error instanceof ApiError ? error.message : STRINGS.networkError, "error");
  }
}

const context = await portal.ready;
await new RulesWindow(context).start();
