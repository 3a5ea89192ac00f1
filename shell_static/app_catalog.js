/**
 * The apps and window types the signed-in user may open, from GET /api/desktop/apps.
 */

export class AppCatalog {
  #apps = new Map();

  constructor(apps = []) {
    this.setApps(apps);
  }

  /** Replaces the apps with the `apps` array of the response. Entries without an id or windows are skipped and logged. */
  setApps(apps) {
    this.#apps.clear();
    for (const app of Array.isArray(apps) ? apps : []) {
      if (typeof app?.id !== "string" || !Array.isArray(app.windows)) {
        console.warn("miportal: skipped an app entry without an id or windows list", app);
        continue;
      }
      const windows = app.windows.filter((windowType) => typeof windowType?.type === "string" && typeof windowType.url === "string");
      this.#apps.set(app.id, { ...app, name: typeof app.name === "string" ? app.name : app.id, windows });
    }
  }

  /**
   * The window types to list in the launcher, in the order of the response, as
   * `{app, windowType}`. Types whose manifest sets `launcher: false` open only from other
   * windows or toasts.
   */
  get entries() {
    return [...this.#apps.values()].flatMap((app) => app.windows
      .filter((windowType) => windowType.launcher !== false)
      .map((windowType) => ({ app, windowType })));
  }

  /** Returns `{app, windowType}`, or null when the app or the window type is not available. */
  find(appId, type) {
    const app = this.#apps.get(appId);
    const windowType = app?.windows.find((candidate) => candidate.type === type);
    return windowType ? { app, windowType } : null;
  }
}

/**
 * Returns the iframe URL of a window: the window type's `url` with `params` as query
 * parameters and `miportal_window` set to the window id. Returns null unless the URL
 * is http(s) on the portal's own origin.
 *
 * A `javascript:` URL as an iframe src would run in the shell's origin, and a foreign
 * origin could not use the SDK, whose messages the shell accepts from its own origin only.
 */
export function buildFrameUrl(windowType, params, windowId) {
  let url;
  try {
    url = new URL(windowType.url, location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin || !/^https?:$/.test(url.protocol)) return null;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  url.searchParams.set("miportal_window", windowId);
  return url.href;
}

/**
 * Validates a window to open, `{app, window, params}` as in an event notification's
 * `open` or the SDK's open-window message, and returns `{appId, type, params}`.
 * Throws TypeError naming the invalid field.
 */
export function parseOpenTarget(target) {
  if (typeof target?.app !== "string" || target.app === "") {
    throw new TypeError(`open.app must be an app id, got ${JSON.stringify(target?.app)}`);
  }
  if (typeof target.window !== "string" || target.window === "") {
    throw new TypeError(`open.window must be a window type, got ${JSON.stringify(target.window)}`);
  }
  const params = target.params ?? {};
  validateParams(params);
  return { appId: target.app, type: target.window, params: { ...params } };
}

/** Limits of window params, the same the portal applies to a stored layout. */
const MAX_PARAMS = 32;
const PARAM_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_PARAM_VALUE_LENGTH = 512;

/**
 * Throws TypeError unless `params` maps at most MAX_PARAMS valid names to strings of at
 * most MAX_PARAM_VALUE_LENGTH characters. A window with other params could be opened, but
 * the portal would reject every layout that contains it.
 */
export function validateParams(params) {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new TypeError("open.params must be an object of strings");
  }
  const entries = Object.entries(params);
  if (entries.length > MAX_PARAMS) throw new TypeError(`open.params has ${entries.length} entries, more than the maximum of ${MAX_PARAMS}`);
  for (const [name, value] of entries) {
    if (!PARAM_NAME_PATTERN.test(name)) {
      throw new TypeError(`open.params name ${JSON.stringify(name)} is invalid: use 1 to 64 letters, digits, "_", "." or "-"`);
    }
    if (typeof value !== "string") throw new TypeError(`open.params.${name} must be a string, got ${typeof value}`);
    if (value.length > MAX_PARAM_VALUE_LENGTH) {
      throw new TypeError(`open.params.${name} is ${value.length} characters long, more than the maximum of ${MAX_PARAM_VALUE_LENGTH}`);
    }
  }
}
