/** JSON requests to the portal's HTTP API, with the CSRF header and the error shape. */

/**
 * A failed API request. `code`, `message` and `field` come from the portal's error body
 * `{"error": {"code", "message", "field"}}` when it sent one.
 */
export class ApiError extends Error {
  constructor({ status, code, message, field = null, path }) {
    super(`${path}: ${message}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.path = path;
  }
}

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Sends a request and returns the parsed JSON body.
 *
 * Unsafe methods need `csrfToken`, sent as the `X-CSRF-Token` header. Throws ApiError on
 * an HTTP error status or a body that is not JSON, and the fetch TypeError when the
 * network fails.
 */
export async function requestJson(path, { method = "GET", body, csrfToken = null, keepalive = false, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE_METHODS.has(method)) {
    if (!csrfToken) throw new TypeError(`${method} ${path} needs a CSRF token`);
    headers["X-CSRF-Token"] = csrfToken;
  }

  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    keepalive,
    signal,
  });

  let data = null;
  try {
    data = await response.json();
  } catch {
    if (response.ok) {
      throw new ApiError({ status: response.status, code: "invalid_response", message: "response is not JSON", path });
    }
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError({
      status: response.status,
      code: error.code ?? `http_${response.status}`,
      message: error.message ?? `HTTP ${response.status} ${response.statusText}`,
      field: error.field ?? null,
      path,
    });
  }
  return data;
}
