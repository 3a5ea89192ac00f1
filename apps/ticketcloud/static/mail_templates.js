// The "Mail templates" section of the Teams & categories window: the workspace's Jinja2
// templates of the confirmation, reply and rating request mails, through
// /settings/mail-templates. The server checks every template in a sandbox; its error
// names the field (and a syntax error's line), which is marked with aria-invalid. The
// preview shows the rendered HTML as source text, never as markup.
import { portal } from "/static/shell/sdk.js";
import { Api } from "./api.js";
import { element, fillSelect, showStatus } from "./dom.js";

const KIND_LABELS = {
  confirmation: "Confirmation of a new ticket",
  reply: "Agent's reply",
  rating_request: "Rating request",
};
const FIELDS = ["subject", "text", "html"];

export class MailTemplatesSection {
  #api;
  #root;
  #form;
  #status;
  #preview;
  #items = new Map();

  constructor(root, api) {
    this.#root = root;
    this.#api = api;
    this.#status = root.querySelector("#templates-status");
    this.#preview = root.querySelector("#template-preview");
    this.#form = root.querySelector("#templates-form");
    this.#form.addEventListener("submit", (event) => { event.preventDefault(); this.#save(); });
    this.#form.elements.namedItem("kind").addEventListener("change", () => this.#show());
    root.querySelector("#template-preview-button").addEventListener("click", () => this.#renderPreview());
    root.querySelector("#template-reset").addEventListener("click", () => this.#reset());
  }

  async load() {
    const { variables, items } = await this.#api.get("settings/mail-templates");
    this.#items = new Map(items.map((item) => [item.kind, item]));
    this.#root.querySelector("#template-variables").textContent =
      `Variables: ${variables.map((name) => `{{ ${name} }}`).join(", ")}`;
    const select = this.#form.elements.namedItem("kind");
    fillSelect(select, items.map((item) => [item.kind, KIND_LABELS[item.kind] ?? item.kind]), select.value || items[0].kind);
    this.#show();
  }

  #kind() {
    return this.#form.elements.namedItem("kind").value;
  }

  #show() {
    const item = this.#items.get(this.#kind());
    if (!item) return;
    this.#clearErrors();
    for (const name of FIELDS) this.#form.elements.namedItem(name).value = item[name] ?? "";
    this.#root.querySelector("#template-origin").textContent =
      item.is_default ? "This mail uses the default templates." : "This workspace changed these templates.";
    this.#preview.replaceChildren();
  }

  #values() {
    const html = this.#form.elements.namedItem("html").value;
    return {
      subject: this.#form.elements.namedItem("subject").value,
      text: this.#form.elements.namedItem("text").value,
      html: html.trim() ? html : null,
    };
  }

  #clearErrors() {
    for (const name of FIELDS) this.#form.elements.namedItem(name).removeAttribute("aria-invalid");
    showStatus(this.#status, "");
  }

  #showError(error) {
    showStatus(this.#status, error.message, "error");
    const input = error.field && FIELDS.includes(error.field) ? this.#form.elements.namedItem(error.field) : null;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  async #save() {
    this.#clearErrors();
    try {
      const saved = await this.#api.send("PUT", `settings/mail-templates/${this.#kind()}`, this.#values());
      this.#items.set(saved.kind, saved);
      this.#show();
      showStatus(this.#status, `Saved the ${KIND_LABELS[saved.kind].toLowerCase()} templates.`);
    } catch (error) {
      this.#showError(error);
    }
  }

  async #renderPreview() {
    this.#clearErrors();
    try {
      const rendered = await this.#api.send("POST", `settings/mail-templates/${this.#kind()}/preview`, this.#values());
      const parts = [element("h3", { text: `Subject: ${rendered.subject}` }), element("pre", { text: rendered.text })];
      if (rendered.html !== null) parts.push(element("h3", { text: "HTML part (source)" }), element("pre", { text: rendered.html }));
      this.#preview.replaceChildren(...parts);
    } catch (error) {
      this.#showError(error);
    }
  }

  async #reset() {
    this.#clearErrors();
    try {
      await this.#api.send("DELETE", `settings/mail-templates/${this.#kind()}`);
      await this.load();
      showStatus(this.#status, "Restored the default templates.");
    } catch (error) {
      this.#showError(error);
    }
  }
}

const root = document.getElementById("mail-templates");
if (root) {
  const context = await portal.ready;
  const section = new MailTemplatesSection(root, new Api(context.csrfToken));
  try {
    await section.load();
  } catch (error) {
    showStatus(root.querySelector("#templates-status"), error.message, "error");
  }
}
