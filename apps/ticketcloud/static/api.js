// A small client of TicketCloud's REST API for the agent windows. The windows call it
// with the session cookie, so unsafe requests carry the session's CSRF token.
import { STRINGS, format } from "./strings.js";

export const API_ROOT = "/apps/ticketcloud/api/v1/";

/** An API error: the HTTP status and the `{"error": {code, message, field}}` body. */
export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export class Api {
  #csrfToken;

  constructor(csrfToken) {
    this.#csrfToken = csrfToken;
  }

  /** Fetch `path` (relative to the API root, or a full URL such as a `next` link). */
  get(path, query = {}) {
    const url = new URL(path, new URL(API_ROOT, window.location.origin));
    for (const [name, value] of Object.entries(query)) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
    }
    return this.#request("GET", url);
  }

  send(method, path, body) {
    return this.#request(method, new URL(path, new URL(API_ROOT, window.location.origin)), body);
  }

  async #request(method, url, body) {
    const headers = { Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (method !== "GET") headers["X-CSRF-Token"] = this.#csrfToken;
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch {
      throw new ApiError(0, "network", STRINGS.networkError);
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      // For example a proxy's HTML error page. The status line then names the HTTP status.
    }
    if (response.ok && data !== null) return data;
    const error = data && typeof data.error === "object" && data.error;
    if (error) throw new ApiError(response.status, error.code, error.message, error.field ?? null);
    throw new ApiError(response.status, "unexpected", format(STRINGS.unexpectedResponse, { status: response.status }));
  }
}
