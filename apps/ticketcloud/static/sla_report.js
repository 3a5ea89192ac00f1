// The SLA section of the Reports window: per team and per agent over a period, the share
// of targets met and the median business time to the first response and to resolution.
import { STRINGS, format } from "./strings.js";
import { element, showStatus } from "./dom.js";
import { ApiError } from "./api.js";
import { formatDuration } from "./sla_badge.js";

const MINUTE_MS = 60 * 1000;
const byId = (id) => document.getElementById(id);

export class SlaReportSection {
  #api;
  #names;
  #generation = 0;
  #from = byId("sla-from");
  #to = byId("sla-to");

  /** `names` returns { agents, teams }: Maps from id to name, read at each render. */
  constructor(api, names) {
    this.#api = api;
    this.#names = names;
  }

  start() {
    byId("sla-heading").textContent = STRINGS.sla.reportTitle;
    byId("sla-from-label").textContent = STRINGS.sla.fromLabel;
    byId("sla-to-label").textContent = STRINGS.sla.toLabel;
    this.#from.addEventListener("change", () => this.load());
    this.#to.addEventListener("change", () => this.load());
  }

  async load() {
    const generation = ++this.#generation;
    const query = {};
    if (this.#from.value) query.from = this.#from.value;
    if (this.#to.value) query.to = this.#to.value;
    let report;
    try {
      report = await this.#api.get("sla/report", query);
    } catch (error) {
      if (generation === this.#generation) {
        showStatus(byId("status"), error instanceof ApiError ? error.message : STRINGS.networkError, "error");
      }
      return;
    }
    if (generation !== this.#generation) return;
    this.#from.value = report.from;
    this.#to.value = report.to;
    byId("sla-period").textContent = format(STRINGS.sla.reportPeriod, { from: report.from, to: report.to });
    const { agents, teams } = this.#names();
    byId("sla-table").replaceChildren(this.#table([
      [STRINGS.sla.reportTotal, report.total, "total"],
      ...report.teams.map((item) => [teams.get(item.id) ?? format(STRINGS.unknownTeam, { id: item.id }), item, "team"]),
      ...report.agents.map((item) => [agents.get(item.id) ?? format(STRINGS.unknownAgent, { id: item.id }), item, "agent"]),
    ], report.total.targets === 0));
  }

  #table(rows, empty) {
    if (empty) return element("p", { className: "tc-muted", text: STRINGS.sla.reportEmpty });
    const columns = STRINGS.sla.reportColumns;
    const head = element("tr", {
      children: [columns.name, columns.targets, columns.met, columns.share, columns.firstResponse, columns.resolution]
        .map((label) => element("th", { text: label, attributes: { scope: "col" } })),
    });
    const body = rows.map(([name, item, kind]) => element("tr", {
      attributes: { "data-kind": kind, "data-id": item.id },
      children: [
        element("th", { text: name, attributes: { scope: "row" } }),
        element("td", { text: item.targets }),
        element("td", { text: item.met }),
        element("td", { className: "tc-sla-share", text: item.met_share === null ? STRINGS.sla.noValue : `${Math.round(item.met_share * 100)} %` }),
        element("td", { text: minutes(item.median_first_response_minutes) }),
        element("td", { text: minutes(item.median_resolution_minutes) }),
      ],
    }));
    return element("table", {
      className: "tc-table tc-sla-report",
      children: [element("thead", { children: [head] }), element("tbody", { children: body })],
    });
  }
}

function minutes(value) {
  return value === null ? STRINGS.sla.noValue : formatDuration(value * MINUTE_MS);
}
