// The SLA window's calendar editor: name, time zone, weekly hours with several intervals
// per day, holidays entered by hand, and holiday imports from the `holidays` package or
// an iCalendar file. Names of calendars and holidays go into the DOM as text or values.
import { ApiError } from "./api.js";
import { STRINGS, format } from "./strings.js";
import { element, fillSelect } from "./dom.js";
import { FieldErrors } from "./field_errors.js";

const TEXT = STRINGS.slaAdmin;
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WORKING_DAYS = ["mon", "tue", "wed", "thu", "fri"];
// A new calendar starts as a common office week with a lunch break.
const DEFAULT_DAY = [["09:00", "12:00"], ["13:00", "17:00"]];

/** Return the IANA zones the browser supports, or null when it cannot list them. */
function browserZones() {
  try {
    return typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : null;
  } catch {
    return null;
  }
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Return the weekly business minutes of `hours`, or null when an interval is not HH:MM. */
export function weeklyMinutes(hours) {
  const minutes = (clock) => {
    const match = /^(\d\d):(\d\d)$/.exec(clock);
    return match ? Number(match[1]) * 60 + Number(match[2]) : null;
  };
  let total = 0;
  for (const intervals of Object.values(hours)) {
    for (const [start, end] of intervals) {
      const from = minutes(start);
      const to = minutes(end);
      if (from === null || to === null) return null;
      total += Math.max(0, to - from);
    }
  }
  return total;
}

export class CalendarForm {
  #form;
  #api;
  #onSaved;
  #report;
  #returnFocus;
  #errors = new FieldErrors("calendar");
  // The calendar being edited, as the API shapes it; `id` is null until it is saved.
  #draft = null;
  #days = new Map();
  #holidayList = null;

  /**
   * `onSaved(calendar, message)` runs after each save or import, and `report(error)` shows an error in the
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

  get calendarId() {
    return this.#draft?.id ?? null;
  }

  open(calendar) {
    this.#draft = calendar === null
      ? {
        id: null, name: "", time_zone: browserZone(), holidays: [],
        hours: Object.fromEntries(WORKING_DAYS.map((day) => [day, DEFAULT_DAY.map((pair) => [...pair])])),
      }
      : structuredClone(calendar);
    for (const day of WEEKDAYS) this.#draft.hours[day] ??= [];
    this.#render();
    this.#form.hidden = false;
    this.#form.querySelector("#calendar-name").focus();
  }

  close() {
    this.#draft = null;
    this.#errors.forgetAll();
    const hadFocus = this.#form.contains(document.activeElement);
    this.#form.hidden = true;
    this.#form.replaceChildren();
    if (hadFocus) this.#returnFocus.focus();
  }

  #render() {
    this.#errors.forgetAll();
    const draft = this.#draft;
    const name = element("input", { attributes: { id: "calendar-name", maxlength: 100, required: true } });
    name.value = draft.name;
    name.addEventListener("input", () => { draft.name = name.value; });
    const zone = this.#zoneControl();
    this.#holidayList = element("ul", { className: "tc-holiday-list", attributes: { id: "calendar-holidays" } });
    this.#form.replaceChildren(
      element("h3", { text: this.#heading(), attributes: { id: "calendar-editor-heading" } }),
      element("div", { className: "tc-editor-row", children: [
        element("label", { text: TEXT.calendarName, attributes: { for: "calendar-name" } }), name,
        element("label", { text: TEXT.timeZone, attributes: { for: "calendar-zone" } }), zone,
      ] }),
      this.#errors.slot("name", name),
      this.#errors.slot("time_zone", zone),
      this.#hoursSection(),
      this.#holidaysSection(),
      this.#importSection(),
      element("div", { className: "tc-composer-actions", children: [
        this.#button(TEXT.close, () => this.close()),
        element("button", { className: "tc-primary", text: TEXT.saveCalendar, attributes: { type: "submit" } }),
      ] }),
    );
    this.#renderHolidays();
  }

  #heading() {
    const { id, name } = this.#draft;
    return id === null ? TEXT.calendarEditorNew : format(TEXT.calendarEditorEdit, { name });
  }

  #zoneControl() {
    const draft = this.#draft;
    const zones = browserZones();
    let control;
    if (zones === null) {
      control = element("input", { attributes: { id: "calendar-zone", maxlength: 64, required: true, spellcheck: "false" } });
      control.value = draft.time_zone;
    } else {
      // The browser's list may lack "UTC", and it may name the stored zone by another
      // alias than the server's tz database, so both are added when missing.
      const names = [...new Set(["UTC", draft.time_zone, ...zones])];
      control = element("select", { attributes: { id: "calendar-zone" } });
      fillSelect(control, names.map((zoneName) => [zoneName, zoneName]), draft.time_zone);
    }
    control.addEventListener("change", () => { draft.time_zone = control.value; });
    control.addEventListener("input", () => { draft.time_zone = control.value; });
    return control;
  }

  #hoursSection() {
    this.#days.clear();
    const copy = this.#button(TEXT.copyMonday, () => this.#copyMonday());
    const days = WEEKDAYS.map((day) => {
      const list = element("ul", { className: "tc-interval-list" });
      const add = this.#button(TEXT.addInterval, () => {
        this.#draft.hours[day].push(["", ""]);
        this.#renderDay(day);
        const starts = list.querySelectorAll("[data-part=start]");
        starts[starts.length - 1]?.focus();
      }, { "aria-label": format(TEXT.addIntervalOn, { day: TEXT.weekdays[day] }) });
      const fieldset = element("fieldset", {
        className: "tc-day",
        attributes: { "data-day": day },
        children: [element("legend", { text: TEXT.weekdays[day] }), list, add],
      });
      // The day's own slot takes errors about the whole day, such as overlapping intervals.
      fieldset.append(this.#errors.slot(`hours.${day}`, add));
      this.#days.set(day, list);
      this.#renderDay(day);
      return fieldset;
    });
    const section = element("section", {
      className: "tc-hours",
      attributes: { "aria-labelledby": "calendar-hours-heading" },
      children: [
        element("h3", { text: TEXT.hoursHeading, attributes: { id: "calendar-hours-heading" } }),
        element("p", { className: "tc-hint", text: TEXT.hoursHint }),
        element("div", { className: "tc-week", children: days }),
        element("div", { children: [copy] }),
      ],
    });
    section.append(this.#errors.slot("hours", days[0].querySelector("button")));
    return section;
  }

  #renderDay(day) {
    const list = this.#days.get(day);
    const intervals = this.#draft.hours[day];
    const dayName = TEXT.weekdays[day];
    // The day's slot stays; only the slots of its intervals are drawn again.
    this.#errors.forgetBelow(`hours.${day}`);
    if (intervals.length === 0) {
      list.replaceChildren(element("li", { className: "tc-muted", text: TEXT.closedDay }));
      return;
    }
    list.replaceChildren(...intervals.map((pair, index) => {
      const number = index + 1;
      const start = this.#clockInput(pair, 0, format(TEXT.intervalStartLabel, { day: dayName, index: number }), "start");
      const end = this.#clockInput(pair, 1, format(TEXT.intervalEndLabel, { day: dayName, index: number }), "end");
      const remove = this.#button(TEXT.removeInterval, () => {
        intervals.splice(index, 1);
        this.#renderDay(day);
        list.querySelector("input, button")?.focus();
      }, { "aria-label": format(TEXT.removeIntervalLabel, { day: dayName, index: number }) });
      return element("li", {
        className: "tc-interval",
        attributes: { "data-index": index },
        children: [
          element("span", { className: "tc-muted", text: TEXT.intervalStart, attributes: { "aria-hidden": "true" } }), start,
          element("span", { className: "tc-muted", text: TEXT.intervalEnd, attributes: { "aria-hidden": "true" } }), end,
          remove,
          this.#errors.slot(`hours.${day}[${index}]`, start),
        ],
      });
    }));
  }

  #clockInput(pair, position, label, part) {
    // A text input, because a time input cannot hold 24:00, the end of a day.
    const input = element("input", {
      className: "tc-clock",
      attributes: {
        "aria-label": label, "data-part": part, placeholder: "HH:MM", maxlength: 5,
        inputmode: "numeric", autocomplete: "off", spellcheck: "false",
      },
    });
    input.value = pair[position];
    input.addEventListener("input", () => { pair[position] = input.value.trim(); });
    return input;
  }

  #copyMonday() {
    const monday = this.#draft.hours.mon;
    for (const day of WORKING_DAYS.slice(1)) {
      this.#draft.hours[day] = monday.map((pair) => [...pair]);
      this.#renderDay(day);
    }
  }

  #holidaysSection() {
    const date = element("input", { attributes: { type: "date", id: "holiday-date", min: "2000-01-01", max: "2099-12-31" } });
    const name = element("input", { attributes: { id: "holiday-name", maxlength: 100 } });
    const add = this.#button(TEXT.addHoliday, () => {
      if (!date.value) {
        this.#errors.show("holiday-new", TEXT.holidayMissingDate);
        return;
      }
      this.#errors.clear();
      const existing = this.#draft.holidays.findIndex((holiday) => holiday.date === date.value);
      const holiday = { date: date.value, name: name.value.trim() };
      if (existing >= 0) this.#draft.holidays[existing] = holiday;
      else this.#draft.holidays.push(holiday);
      this.#draft.holidays.sort((left, right) => left.date.localeCompare(right.date));
      this.#renderHolidays();
      date.value = "";
      name.value = "";
      date.focus();
    });
    return element("section", {
      attributes: { "aria-labelledby": "calendar-holidays-heading" },
      children: [
        element("h3", { text: TEXT.holidaysHeading, attributes: { id: "calendar-holidays-heading" } }),
        this.#holidayList,
        this.#errors.slot("holidays", this.#holidayList),
        element("div", { className: "tc-editor-row", children: [
          element("label", { text: TEXT.holidayDate, attributes: { for: "holiday-date" } }), date,
          element("label", { text: TEXT.holidayName, attributes: { for: "holiday-name" } }), name,
          add,
        ] }),
        this.#errors.slot("holiday-new", date),
      ],
    });
  }

  #renderHolidays() {
    const list = this.#holidayList;
    const holidays = this.#draft.holidays;
    this.#errors.forgetBelow("holidays");
    if (holidays.length === 0) {
      list.replaceChildren(element("li", { className: "tc-muted", text: TEXT.holidaysEmpty }));
      return;
    }
    list.replaceChildren(...holidays.map((holiday, index) => {
      const remove = this.#button(TEXT.removeHoliday, () => {
        holidays.splice(index, 1);
        this.#renderHolidays();
        list.querySelector("button")?.focus();
      }, { "aria-label": format(TEXT.removeHolidayLabel, { date: holiday.date }) });
      return element("li", {
        className: "tc-holiday",
        attributes: { "data-date": holiday.date },
        children: [
          element("time", { text: holiday.date, attributes: { datetime: holiday.date } }),
          element("span", { className: "tc-holiday-name", text: holiday.name }),
          remove,
          this.#errors.slot(`holidays[${index}]`, remove),
        ],
      });
    }));
  }

  #importSection() {
    const country = element("input", { attributes: { id: "import-country", maxlength: 10, autocomplete: "off" } });
    const region = element("input", { attributes: { id: "import-region", maxlength: 10, autocomplete: "off" } });
    const years = element("input", { attributes: { id: "import-years", maxlength: 60, autocomplete: "off" } });
    const thisYear = new Date().getFullYear();
    years.value = `${thisYear}, ${thisYear + 1}`;
    const replace = element("input", { attributes: { type: "checkbox", id: "import-replace" } });
    const file = element("input", { attributes: { type: "file", id: "import-file", accept: ".ics,text/calendar" } });
    const fromPackage = this.#button(TEXT.importPackage, () => this.#import(() => ({
      country: country.value.trim(),
      ...(region.value.trim() ? { region: region.value.trim() } : {}),
      // A value that is not a whole number goes to the server as text, so its error names `years`.
      years: years.value.split(",").map((item) => item.trim()).filter(Boolean)
        .map((item) => (/^\d+$/.test(item) ? Number(item) : item)),
      replace: replace.checked,
    })));
    const fromFile = this.#button(TEXT.importFileButton, () => this.#import(async () => {
      const chosen = file.files?.[0];
      if (!chosen) {
        this.#errors.show("ical", TEXT.importNoFile);
        return null;
      }
      return { ical: await chosen.text(), replace: replace.checked };
    }));
    return element("fieldset", {
      className: "tc-import",
      children: [
        element("legend", { text: TEXT.importHeading }),
        element("p", { className: "tc-hint", text: TEXT.importHint }),
        element("div", { className: "tc-editor-row", children: [
          element("label", { text: TEXT.importCountry, attributes: { for: "import-country" } }), country,
          element("label", { text: TEXT.importRegion, attributes: { for: "import-region" } }), region,
          element("label", { text: TEXT.importYears, attributes: { for: "import-years" } }), years,
          fromPackage,
        ] }),
        this.#errors.slot("country", country),
        this.#errors.slot("region", region),
        this.#errors.slot("years", years),
        element("div", { className: "tc-editor-row", children: [
          element("label", { text: TEXT.importFile, attributes: { for: "import-file" } }), file, fromFile,
        ] }),
        this.#errors.slot("ical", file),
        element("label", { children: [replace, document.createTextNode(` ${TEXT.importReplace}`)] }),
      ],
    });
  }

  #definition() {
    const { name, time_zone: timeZone, hours, holidays } = this.#draft;
    return { name, time_zone: timeZone, hours, holidays };
  }

  /** Create or replace the calendar; return the saved calendar, or null after showing the error. */
  async #store() {
    this.#errors.clear();
    const draft = this.#draft;
    try {
      return draft.id === null
        ? await this.#api.send("POST", "sla/calendars", this.#definition())
        : await this.#api.send("PUT", `sla/calendars/${draft.id}`, this.#definition());
    } catch (error) {
      this.#showError(error);
      return null;
    }
  }

  async #save() {
    const saved = await this.#store();
    if (saved === null) return;
    this.#keep(saved);
    await this.#onSaved(saved, TEXT.calendarSaved);
  }

  /** Save the calendar, then send the import that `readRequest` returns (null cancels it). */
  async #import(readRequest) {
    this.#errors.clear();
    const request = await readRequest();
    if (request === null) return;
    const saved = await this.#store();
    if (saved === null) return;
    this.#keep(saved);
    let imported;
    try {
      imported = await this.#api.send("POST", `sla/calendars/${saved.id}/holidays/import`, request);
    } catch (error) {
      await this.#onSaved(saved, "");
      this.#showError(error);
      return;
    }
    this.#keep(imported);
    await this.#onSaved(imported, format(TEXT.imported, { count: imported.holidays.length }));
  }

  /** Take the stored calendar's id and holidays, keeping the editor's controls as they are. */
  #keep(calendar) {
    this.#draft.id = calendar.id;
    this.#draft.name = calendar.name;
    this.#draft.holidays = structuredClone(calendar.holidays);
    this.#form.querySelector("#calendar-editor-heading").textContent = this.#heading();
    this.#renderHolidays();
  }

  #showError(error) {
    if (error instanceof ApiError) this.#errors.show(error.field, error.message);
    // The status line shows every error too, because screen readers announce it there.
    this.#report(error);
  }

  #button(label, onClick, attributes = {}) {
    const button = element("button", { text: label, attributes: { type: "button", ...attributes } });
    button.addEventListener("click", onClick);
    return button;
  }
}
