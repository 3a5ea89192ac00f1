// The SLA window's policy editor: name, enabled flag, calendar, conditions, the three
// targets as hours and minutes, the warning share and the escalation on a breach.
import { ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { element, fillSelect } from "./dom.js";
import { FieldErrors } from "./field_errors.js";

const TEXT = STRINGS.slaAdmin;
export const TARGET_FIELDS = {
  first_response: "first_response_minutes",
  next_response: "next_response_minutes",
  resolution: "resolution_minutes",
};
const RAISE_LIMITS = ["normal", "high", "urgent"];

/** Return `minutes` as "1h 30m", "45m" or "2h". */
export function formatMinutes(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return format(STRINGS.sla.minutes, { minutes: rest });
  if (rest === 0) return `${hours}h`;
  return format(STRINGS.sla.hoursMinutes, { hours, minutes: rest });
}

/** Return the minutes of an hours and minutes pair: null when both are empty, the text when either is not a whole number. */
function readDuration(hours, minutes) {
  const hoursText = hours.trim();
  const minutesText = minutes.trim();
  if (!hoursText && !minutesText) return null;
  if (/^\d*$/.test(hoursText) && /^\d*$/.test(minutesText)) {
    return Number(hoursText || 0) * 60 + Number(minutesText || 0);
  }
  // The server then rejects the value with an error that names the target's field.
  return `${hoursText}h ${minutesText}m`;
}

/** Return the comma-separated `text` as a list of trimmed, non-empty values. */
function splitList(text) {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

export class PolicyForm {
  #form;
  #api;
  #onSaved;
  #report;
  #returnFocus;
  #errors = new FieldErrors("policy");
  #policy = null;
  #choices = { calendars: [], categories: [], teams: [] };
  #read = () => ({});
  // The escalation action at each index of the last request, for errors such as `escalation[1].team_id`.
  #sentActions = [];

  /**
   * `onSaved(message)` runs after a save, and `report(error)` shows an error in the
   * window's status line. `returnFocus` gets the focus when the editor closes with the
   * focus in it.
   */
  constructor(form, { api, onSaved, report, returnFocus }) {
    this.#form = form;
    this.#api = api;
    this.#onSaved = onSaved;
    this.#report = report;
    this.#returnFocus = returnFocus;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#save();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
  }

  /** Open the editor on `policy` (null for a new one) with the workspace's `choices`. */
  open(policy, choices, shadowingName) {
    this.#policy = policy;
    this.#choices = choices;
    this.#errors.forgetAll();
    const draft = policy ?? {
      name: "", enabled: true, conditions: {}, calendar_id: null, warning_percent: 80,
      first_response_minutes: null, next_response_minutes: null, resolution_minutes: null,
      escalation: [{ action: "notify" }],
    };

    const name = element("input", { attributes: { id: "policy-name", maxlength: 100, required: true } });
    name.value = draft.name;
    const enabled = element("input", { attributes: { type: "checkbox", id: "policy-enabled" } });
    enabled.checked = draft.enabled;
    const calendar = element("select", { attributes: { id: "policy-calendar" } });
    fillSelect(calendar, [["", TEXT.alwaysOpen], ...choices.calendars.map((item) => [item.id, item.name])],
      draft.calendar_id ?? "");

    const conditions = this.#conditionsSection(draft.conditions);
    const targets = this.#targetsSection(draft);
    const escalation = this.#escalationSection(draft.escalation);
    const warning = shadowingName === null ? [] : [element("p", {
      className: "tc-warning", text: format(TEXT.shadowedBy, { name: shadowingName }), attributes: { role: "note" },
    })];

    this.#form.replaceChildren(
      element("h3", {
        text: policy === null ? TEXT.policyEditorNew : format(TEXT.policyEditorEdit, { name: policy.name }),
        attributes: { id: "policy-editor-heading" },
      }),
      ...warning,
      element("div", { className: "tc-editor-row", children: [
        element("label", { text: TEXT.policyName, attributes: { for: "policy-name" } }), name,
        element("label", { children: [enabled, document.createTextNode(` ${TEXT.policyEnabled}`)] }),
        element("label", { text: TEXT.calendar, attributes: { for: "policy-calendar" } }), calendar,
      ] }),
      this.#errors.slot("name", name),
      this.#errors.slot("enabled", enabled),
      this.#errors.slot("calendar_id", calendar),
      conditions.node, targets.node, escalation.node,
      element("div", { className: "tc-composer-actions", children: [
        this.#button(TEXT.cancel, () => this.close()),
        element("button", { className: "tc-primary", text: TEXT.savePolicy, attributes: { type: "submit" } }),
      ] }),
    );

    this.#read = () => ({
      name: name.value, enabled: enabled.checked,
      calendar_id: calendar.value === "" ? null : Number(calendar.value),
      conditions: conditions.read(), ...targets.read(), escalation: escalation.read(),
    });
    this.#form.hidden = false;
    name.focus();
  }

  close() {
    this.#policy = null;
    this.#errors.forgetAll();
    const hadFocus = this.#form.contains(document.activeElement);
    this.#form.hidden = true;
    this.#form.replaceChildren();
    if (hadFocus) this.#returnFocus.focus();
  }

  #conditionsSection(conditions) {
    const groups = [
      ["priorities", TEXT.priorities, Object.entries(STRINGS.priorities)],
      ["category_ids", TEXT.categories, this.#choices.categories.map((item) => [item.id, item.name])],
      ["team_ids", TEXT.teams, this.#choices.teams.map((item) => [item.id, item.name])],
    ].map(([field, legend, choices]) => this.#checkboxGroup(field, legend, choices, conditions[field] ?? []));
    const customers = element("input", { attributes: { id: "policy-customers", maxlength: 2000, autocomplete: "off" } });
    customers.value = (conditions.customers ?? []).join(", ");
    const node = element("fieldset", {
      className: "tc-policy-conditions",
      children: [
        element("legend", { text: TEXT.conditionsHeading }),
        element("p", { className: "tc-hint", text: TEXT.conditionsHint }),
        element("div", { className: "tc-choice-groups", children: groups.map((group) => group.node) }),
        element("label", { text: TEXT.customers, attributes: { for: "policy-customers" } }), customers,
        this.#errors.slot("conditions.customers", customers),
      ],
    });
    node.append(this.#errors.slot("conditions", customers));
    return {
      node,
      read: () => {
        const read = Object.fromEntries(groups.map((group) => [group.field, group.read()]));
        read.customers = splitList(customers.value);
        // An empty condition is left out, because the API rejects an empty list.
        return Object.fromEntries(Object.entries(read).filter(([, values]) => values.length > 0));
      },
    };
  }

  #checkboxGroup(field, legend, choices, selected) {
    const chosen = new Set(selected.map(String));
    const boxes = choices.map(([value, label]) => {
      const box = element("input", { attributes: { type: "checkbox", value, "data-field": field } });
      box.checked = chosen.has(String(value));
      return { box, label: element("label", { children: [box, document.createTextNode(` ${label}`)] }) };
    });
    const fieldset = element("fieldset", {
      className: "tc-choice-group",
      attributes: { "data-condition": field },
      children: [
        element("legend", { text: legend }),
        ...(boxes.length === 0 ? [element("span", { className: "tc-muted", text: TEXT.noChoices })] : boxes.map((item) => item.label)),
      ],
    });
    fieldset.append(this.#errors.slot(`conditions.${field}`, boxes[0]?.box ?? null));
    return {
      field,
      node: fieldset,
      read: () => boxes.filter((item) => item.box.checked)
        .map((item) => (field === "priorities" ? item.box.value : Number(item.box.value))),
    };
  }

  #targetsSection(draft) {
    const rows = Object.entries(TARGET_FIELDS).map(([kind, field]) => {
      const kindName = STRINGS.sla.kinds[kind];
      const value = draft[field];
      const hours = element("input", {
        attributes: { type: "number", min: 0, step: 1, "aria-label": format(TEXT.targetHours, { kind: kindName }), "data-target": kind, "data-part": "hours" },
      });
      const minutes = element("input", {
        attributes: { type: "number", min: 0, max: 59, step: 1, "aria-label": format(TEXT.targetMinutes, { kind: kindName }), "data-target": kind, "data-part": "minutes" },
      });
      if (value !== null && value !== undefined) {
        hours.value = String(Math.floor(value / 60));
        minutes.value = String(value % 60);
      }
      const row = element("div", {
        className: "tc-editor-row tc-target",
        children: [
          element("span", { className: "tc-target-kind", text: kindName, attributes: { "aria-hidden": "true" } }),
          hours, element("span", { text: TEXT.hoursUnit, attributes: { "aria-hidden": "true" } }),
          minutes, element("span", { text: TEXT.minutesUnit, attributes: { "aria-hidden": "true" } }),
        ],
      });
      return { field, hours, minutes, nodes: [row, this.#errors.slot(field, hours)] };
    });
    const warning = element("input", { attributes: { type: "number", id: "policy-warning", min: 1, max: 99, step: 1 } });
    warning.value = String(draft.warning_percent);
    const node = element("fieldset", {
      className: "tc-policy-targets",
      children: [
        element("legend", { text: TEXT.targetsHeading }),
        element("p", { className: "tc-hint", text: TEXT.targetsHint }),
        ...rows.flatMap((row) => row.nodes),
        element("div", { className: "tc-editor-row", children: [
          element("label", { text: TEXT.warningPercent, attributes: { for: "policy-warning" } }), warning,
        ] }),
        this.#errors.slot("warning_percent", warning),
      ],
    });
    return {
      node,
      read: () => ({
        ...Object.fromEntries(rows.map((row) => [row.field, readDuration(row.hours.value, row.minutes.value)])),
        warning_percent: /^\d+$/.test(warning.value) ? Number(warning.value) : warning.value,
      }),
    };
  }

  #escalationSection(escalation) {
    const byAction = new Map(escalation.map((item) => [item.action, item]));
    const raise = element("input", { attributes: { type: "checkbox", id: "escalate-raise" } });
    raise.checked = byAction.has("raise_priority");
    const raiseTo = element("select", { attributes: { id: "escalate-raise-to", "aria-label": TEXT.raiseTo } });
    fillSelect(raiseTo, [["", TEXT.raiseOneStep],
      ...RAISE_LIMITS.map((priority) => [priority, format(TEXT.raiseUpTo, { priority: STRINGS.priorities[priority] })])],
    byAction.get("raise_priority")?.priority ?? "");
    const reassign = element("input", { attributes: { type: "checkbox", id: "escalate-reassign" } });
    reassign.checked = byAction.has("reassign");
    const team = element("select", { attributes: { id: "escalate-team", "aria-label": TEXT.reassignTeam } });
    fillSelect(team, this.#choices.teams.map((item) => [item.id, item.name]), byAction.get("reassign")?.team_id ?? "");
    reassign.disabled = this.#choices.teams.length === 0 && !reassign.checked;
    const slots = {
      raise_priority: this.#errors.slot("escalation.raise_priority", raiseTo),
      reassign: this.#errors.slot("escalation.reassign", team),
    };
    const node = element("fieldset", {
      className: "tc-policy-escalation",
      children: [
        element("legend", { text: TEXT.escalationHeading }),
        element("p", { className: "tc-hint", text: TEXT.escalationHint }),
        element("div", { className: "tc-editor-row", children: [
          element("label", { children: [raise, document.createTextNode(` ${TEXT.raisePriority}`)] }), raiseTo,
        ] }),
        slots.raise_priority,
        element("div", { className: "tc-editor-row", children: [
          element("label", { children: [reassign, document.createTextNode(` ${TEXT.reassign}`)] }),
          ...(this.#choices.teams.length === 0 ? [element("span", { className: "tc-muted", text: TEXT.noTeams })] : [team]),
        ] }),
        slots.reassign,
      ],
    });
    node.append(this.#errors.slot("escalation", raise));
    return {
      node,
      read: () => {
        const actions = [];
        if (raise.checked) actions.push(raiseTo.value ? { action: "raise_priority", priority: raiseTo.value } : { action: "raise_priority" });
        if (reassign.checked) actions.push({ action: "reassign", team_id: Number(team.value) });
        return actions.length === 0 ? [{ action: "notify" }] : actions;
      },
    };
  }

  async #save() {
    this.#errors.clear();
    const definition = this.#read();
    this.#sentActions = definition.escalation.map((item) => item.action);
    const policy = this.#policy;
    try {
      if (policy === null) await this.#api.send("POST", "sla/policies", definition);
      else await this.#api.send("PUT", `sla/policies/${policy.id}`, definition);
    } catch (error) {
      this.#showError(error);
      return;
    }
    this.close();
    await this.#onSaved(TEXT.policySaved);
  }

  /** Return the editor's name for an API field: `escalation[1].team_id` becomes `escalation.reassign`. */
  #editorField(field) {
    const match = /^escalation\[(\d+)\]/.exec(field ?? "");
    const action = match ? this.#sentActions[Number(match[1])] : undefined;
    return action ? `escalation.${action}` : field;
  }

  #showError(error) {
    if (error instanceof ApiError) this.#errors.show(this.#editorField(error.field), error.message);
    // The status line shows every error too, because screen readers announce it there.
    this.#report(error);
  }

  #button(label, onClick) {
    const button = element("button", { text: label, attributes: { type: "button" } });
    button.addEventListener("click", onClick);
    return button;
  }
}
