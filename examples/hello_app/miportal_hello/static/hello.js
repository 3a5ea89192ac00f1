// The Hello window: sends greetings and lists recent ones. Greeting text is user input,
// so it is always set with textContent.
import { portal } from "/static/shell/sdk.js";

const form = document.getElementById("greet-form");
const input = document.getElementById("greeting");
const statusLine = document.getElementById("status");
const list = document.getElementById("greetings");

const context = await portal.ready;

async function refresh() {
  const response = await fetch("/apps/hello/api/greetings", { headers: { Accept: "application/json" } });
  const { greetings } = await response.json();
  list.replaceChildren(...greetings.map((greeting) => {
    const item = document.createElement("li");
    item.textContent = greeting.text;
    item.dataset.greetingId = String(greeting.id);
    return item;
  }));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/apps/hello/api/greetings", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": context.csrfToken },
    body: JSON.stringify({ text: input.value }),
  });
  const body = await response.json();
  statusLine.classList.toggle("error", !response.ok);
  statusLine.textContent = response.ok ? "Sent." : body.error.message;
  if (response.ok) input.value = "";
});

const greetingId = context.params.greeting;
if (greetingId) {
  portal.setTitle(`Hello · greeting ${greetingId}`);
}
// The badge counts greetings that arrived since the window was last clicked.
let unseen = 0;
document.addEventListener("pointerdown", () => {
  unseen = 0;
  portal.setBadge(0);
});
portal.subscribe("hello.greeting", () => {
  refresh();
  unseen += 1;
  portal.setBadge(unseen);
});
await refresh();
