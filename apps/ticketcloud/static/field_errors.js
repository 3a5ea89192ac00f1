// Field errors of a form: the API names the invalid field of a request (`hours.mon[1]`,
// `escalation[0].team_id`), and the message is shown next to the control for it.
import { element } from "./dom.js";

/** Return `field` and its parents, most specific first: `hours.mon[1]`, `hours.mon`, `hours`. */
export function fieldAncestors(field) {
  const names = [];
  let current = field;
  while (current) {
    names.push(current);
    const cut = Math.max(current.lastIndexOf("."), current.lastIndexOf("["));
    current = cut > 0 ? current.slice(0, cut) : "";
  }
  return names;
}

export class FieldErrors {
  #slots = new Map();
  #shown = null;
  #prefix;
  #count = 0;

  /** `prefix` keeps the ids of the message elements unique within the page. */
  constructor(prefix) {
    this.#prefix = prefix;
  }

  /** Return a new message element for `field`, shown when an error names it, and tie it to `control`. */
  slot(field, control) {
    this.#count += 1;
    const message = element("p", {
      className: "tc-field-error",
      attributes: { id: `${this.#prefix}-error-${this.#count}`, hidden: true },
    });
    this.#slots.set(field, { control, message });
    return message;
  }

  /** Forget the slots of the fields below `field`, such as a day's intervals before they are drawn again. */
  forgetBelow(field) {
    for (const name of [...this.#slots.keys()]) {
      if (name.startsWith(`${field}.`) || name.startsWith(`${field}[`)) this.#slots.delete(name);
    }
  }

  forgetAll() {
    this.clear();
    this.#slots.clear();
  }

  /**
   * Show `message` at the slot of `field` or of its nearest parent, move the focus to its
   * control and return true; return false when no slot matches.
   */
  show(field, message) {
    this.clear();
    if (!field) return false;
    const name = fieldAncestors(field).find((candidate) => this.#slots.has(candidate));
    if (name === undefined) return false;
    const slot = this.#slots.get(name);
    slot.message.textContent = message;
    slot.message.hidden = false;
    if (slot.control) {
      slot.control.setAttribute("aria-invalid", "true");
      slot.control.setAttribute("aria-describedby", slot.message.id);
      slot.control.focus();
    }
    this.#shown = slot;
    return true;
  }

  clear() {
    if (this.#shown === null) return;
    const { control, message } = this.#shown;
    message.textContent = "";
    message.hidden = true;
    if (control) {
      control.removeAttribute("aria-invalid");
      control.removeAttribute("aria-describedby");
    }
    this.#shown = null;
  }
}
