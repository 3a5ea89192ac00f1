// DOM helpers for TicketCloud's windows. Text always goes in with textContent, because
// subjects, bodies, names and tags are written by users and customers.

/** Create an element with `className`, `text`, `attributes` and `children`. */
export function element(tag, { className = "", text = null, attributes = {}, children = [] } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null && text !== undefined) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/**
 * Return `template` with its `{name}` placeholders filled from `values`, as nodes: the
 * template's own text as text nodes and each value in its own `<bdi>`. A value written by
 * a user may carry right-to-left overrides (U+202E) or right-to-left script, and the
 * isolate keeps those from reordering the text around it, such as " (57 bytes)" after a
 * file name. The nodes' textContent equals `format(template, values)`.
 */
export function formatNodes(template, values) {
  const nodes = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    if (!(match[1] in values)) continue;
    nodes.push(document.createTextNode(template.slice(last, match.index)), isolated(values[match[1]]));
    last = match.index + match[0].length;
  }
  nodes.push(document.createTextNode(template.slice(last)));
  return nodes;
}

/** Return a `<bdi>` that contains `text`, for a user's value inside a line of other text. */
export function isolated(text) {
  return element("bdi", { text });
}

/** Return a new `<option>`, selected when `selected` is true. */
export function option(value, label, selected = false) {
  const node = element("option", { text: label, attributes: { value } });
  node.selected = selected;
  return node;
}

/** Fill `select` with `choices` ([value, label] pairs) and select `current`. */
export function fillSelect(select, choices, current) {
  select.replaceChildren(...choices.map(([value, label]) => option(value, label, String(value) === String(current))));
}

/** Show `message` in a status line. `kind` is "error" or "info", and an empty message clears the line. */
export function showStatus(line, message, kind = "info") {
  line.textContent = message;
  line.dataset.kind = message ? kind : "";
}

/** Return an ISO time as a short local date and time. */
export function formatTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay
    ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : when.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" });
}

/** Return a function that runs `callback` once `delay` ms after the last call. */
export function debounce(callback, delay) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => callback(...args), delay);
  };
}
