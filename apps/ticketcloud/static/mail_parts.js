// The parts of a mail message in the ticket window besides its new text. The quoted
// history and signature sit behind a toggle, the HTML version loads on request, and
// attachments that were too large to store are named. The ticket's bouncing addresses
// (each with a button that clears the mark) and participants get a line each, and so
// does each recipient that the ticket's mail skipped because the address bounced.
//
// Mail HTML is written by strangers. It is never inserted into this window's document:
// it goes into an <iframe sandbox srcdoc>, and the empty sandbox keeps scripts, forms,
// plugins and top-level navigation off. The document also carries a
// Content-Security-Policy from the server that blocks scripts and remote loads.
import { STRINGS, format } from "./strings.js";
import { element, formatNodes, isolated } from "./dom.js";

/** A toggle button that shows and hides `panel`, with aria-expanded kept in step. */
class Disclosure {
  #button;
  #panel;
  #expanded = false;
  #onClick = () => this.toggle();

  constructor(button, panel, { onFirstOpen = null } = {}) {
    this.#button = button;
    this.#panel = panel;
    this.onFirstOpen = onFirstOpen;
    this.#button.setAttribute("aria-expanded", "false");
    this.#panel.hidden = true;
    this.#button.addEventListener("click", this.#onClick);
  }

  toggle() {
    this.#expanded = !this.#expanded;
    this.#button.setAttribute("aria-expanded", String(this.#expanded));
    this.#panel.hidden = !this.#expanded;
    if (this.#expanded && this.onFirstOpen) {
      const load = this.onFirstOpen;
      this.onFirstOpen = null;
      load();
    }
  }

  destroy() {
    this.#button.removeEventListener("click", this.#onClick);
  }
}

/**
 * Return the nodes to show below a message's body, and the disclosures to destroy when
 * the conversation is rendered again. `api` fetches the HTML version of message
 * `message.id` of ticket `number`.
 */
export function mailParts(message, { api, number }) {
  const mail = message.mail;
  if (!mail) return { nodes: [], disclosures: [] };
  const nodes = [];
  const disclosures = [];
  const hidden = [mail.quoted_text, mail.signature].filter((part) => part).join("\n\n");
  if (hidden) {
    const panelId = `quoted-${message.id}`;
    const button = element("button", { className: "tc-link tc-quoted-toggle", text: STRINGS.showQuoted, attributes: { type: "button", "aria-controls": panelId } });
    const panel = element("pre", { className: "tc-quoted", text: hidden, attributes: { id: panelId } });
    disclosures.push(new Disclosure(button, panel));
    nodes.push(button, panel);
  }
  if (mail.has_html) {
    const button = element("button", { className: "tc-link tc-html-toggle", text: STRINGS.showHtml, attributes: { type: "button" } });
    const panel = element("div", { className: "tc-mail-html" });
    disclosures.push(new Disclosure(button, panel, { onFirstOpen: () => loadHtml(panel, api, number, message.id) }));
    nodes.push(button, panel);
  }
  for (const item of mail.skipped ?? []) {
    nodes.push(element("p", { className: "tc-muted tc-skipped", children: formatNodes(STRINGS.attachmentSkipped, item) }));
  }
  return { nodes, disclosures };
}

async function loadHtml(panel, api, number, messageId) {
  panel.replaceChildren(element("p", { className: "tc-muted", text: STRINGS.loading }));
  try {
    const { document: html } = await api.get(`tickets/${number}/messages/${messageId}/html`);
    const frame = element("iframe", {
      className: "tc-mail-frame",
      // An empty sandbox: no scripts, no same-origin access, no forms, no navigation.
      attributes: { sandbox: "", referrerpolicy: "no-referrer", title: STRINGS.htmlVersion },
    });
    frame.srcdoc = html;
    panel.replaceChildren(frame);
  } catch (error) {
    panel.replaceChildren(element("p", { className: "tc-mail-error", text: error.message }));
  }
}

/** Return a line for a recipient that ticket mail skipped because the address bounced. */
export function skippedLine(item) {
  let children;
  if (item.reason === "unmailable") {
    children = formatNodes(STRINGS.mailUnmailable, { email: item.email });
  } else {
    const date = new Date(item.bounced_at).toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    children = formatNodes(STRINGS.mailSkipped, { email: item.email, date });
  }
  return element("p", {
    className: "tc-mail-error tc-mail-skipped",
    attributes: { "data-email": item.email, "data-reason": item.reason ?? "bounced" },
    children,
  });
}

/**
 * Return lines about the ticket's bouncing addresses and its participants. Each
 * bouncing line has a button that calls `onClear(email)`.
 */
export function mailPeople(ticket, { onClear = null } = {}) {
  const lines = [];
  for (const item of ticket.bouncing ?? []) {
    const children = formatNodes(STRINGS.addressBouncing, { email: item.email, reason: item.diagnostic || item.status });
    if (onClear) {
      const clear = element("button", {
        className: "tc-link tc-clear-bouncing", text: STRINGS.clearBouncing,
        attributes: { type: "button", "aria-label": format(STRINGS.clearBouncingLabel, { email: item.email }) },
      });
      clear.addEventListener("click", () => onClear(item.email));
      children.push(" ", clear);
    }
    lines.push(element("p", { className: "tc-mail-error tc-bouncing", attributes: { "data-email": item.email }, children }));
  }
  // Each name and address gets its own isolate, so that one person's right-to-left text
  // cannot reorder the others.
  const people = (ticket.participants ?? []).flatMap((item, index) => [
    ...(index > 0 ? [", "] : []),
    ...(item.name ? [isolated(item.name), " <", isolated(item.email), ">"] : [isolated(item.email)]),
  ]);
  if (people.length) {
    const [before, after] = STRINGS.participantsLine.split("{people}");
    lines.push(element("p", { className: "tc-muted tc-participants", children: [before, ...people, after ?? ""] }));
  }
  return lines;
}
