// The Reports window (agents and admins): customer ratings per agent and per team, with
// the average, the count, how many gave each score from 1 to 5, and the newest comments.
// Comments are customers' text, so they go in with textContent only. The SLA section
// below them lives in sla_report.js.
import { portal } from "/static/shell/sdk.js";
import { Api, ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { debounce, element, formatTime, showStatus } from "./dom.js";
import { SlaReportSection } from "./sla_report.js";

const REFRESH_DELAY_MS = 300;
const SCORES = [1, 2, 3, 4, 5];
const byId = (id) => document.getElementById(id);

class ReportsWindow {
  #api;
  #generation = 0;
  #names = { agents: new Map(), teams: new Map() };
  #sla;

  constructor(context) {
    this.#api = new Api(context.csrfToken);
    this.#sla = new SlaReportSection(this.#api, () => this.#names);
  }

  async start() {
    byId("title").textContent = STRINGS.reportsTitle;
    byId("agents-heading").textContent = STRINGS.reportsAgents;
    byId("teams-heading").textContent = STRINGS.reportsTeams;
    portal.subscribe("ticketcloud.ticket.rated", debounce(() => this.load(), REFRESH_DELAY_MS));
    this.#sla.start();
    portal.subscribe("ticketcloud.sla.*", debounce(() => this.#sla.load(), REFRESH_DELAY_MS));
    await this.load();
    await this.#sla.load();
  }

  async load() {
    const generation = ++this.#generation;
    let breakdown;
    let agents;
    let teams;
    try {
      [breakdown, agents, teams] = await Promise.all([
        this.#api.get("ratings/breakdown"), this.#api.get("agents"), this.#api.get("teams"),
      ]);
    } catch (error) {
      if (generation === this.#generation) this.#showError(error);
      return;
    }
    if (generation !== this.#generation) return;
    showStatus(byId("status"), "", "");
    const agentNames = new Map(agents.items.map((agent) => [agent.id, agent.name]));
    const teamNames = new Map(teams.items.map((team) => [team.id, team.name]));
    this.#names = { agents: agentNames, teams: teamNames };
    this.#render(byId("agents"), breakdown.agents,
      (id) => agentNames.get(id) ?? format(STRINGS.unknownAgent, { id }), "agent");
    this.#render(byId("teams"), breakdown.teams,
      (id) => teamNames.get(id) ?? format(STRINGS.unknownTeam, { id }), "team");
  }

  #render(container, items, nameOf, kind) {
    if (items.length === 0) {
      container.replaceChildren(element("p", { className: "tc-muted", text: STRINGS.reportsEmpty }));
      return;
    }
    container.replaceChildren(...items.map((item) => element("article", {
      className: "tc-report-card",
      attributes: { [`data-${kind}-id`]: item.id },
      children: [
        element("h3", { text: nameOf(item.id) }),
        element("p", { children: [
          element("strong", { className: "tc-report-average", text: format(STRINGS.reportAverage, { average: Number(item.average).toFixed(2) }) }),
          document.createTextNode(" · "),
          element("span", { className: "tc-report-count", text: format(STRINGS.reportCount, { count: item.count }) }),
        ] }),
        this.#distribution(item),
        element("h4", { text: STRINGS.reportRecent }),
        this.#comments(item.recent),
      ],
    })));
  }

  #distribution(item) {
    return element("ul", {
      className: "tc-distribution",
      attributes: { "aria-label": STRINGS.reportDistribution },
      children: SCORES.map((score) => {
        const count = item.distribution[String(score)] ?? 0;
        const bar = element("span", { className: "tc-bar" });
        bar.style.width = `${item.count ? Math.round((100 * count) / item.count) : 0}%`;
        return element("li", {
          attributes: { "data-score": score, "data-count": count },
          children: [
            element("span", { text: format(STRINGS.reportScore, { score }) }),
            element("span", { children: [bar] }),
            element("span", { className: "tc-muted", text: count }),
          ],
        });
      }),
    });
  }

  #comments(recent) {
    if (recent.length === 0) return element("p", { className: "tc-muted", text: STRINGS.reportNoComments });
    return element("ul", {
      className: "tc-comments",
      children: recent.map((comment) => element("li", {
        className: "tc-report-comment",
        children: [
          element("small", {
            className: "tc-muted",
            text: `${format(STRINGS.reportComment, { number: comment.ticket_number, score: comment.score })}, ${formatTime(comment.created_at)}: `,
          }),
          element("span", { className: "tc-comment-text", text: comment.comment }),
        ],
      })),
    });
  }

  #showError(error) {
    showStatus(byId("status"), error instanceof ApiError ? error.message : STRINGS.networkError, "error");
  }
}

const context = await portal.ready;
document.title = STRINGS.reportsTitle;
await new ReportsWindow(context).start();
