// The page's client of /api/v1: every request carries the clinician's key.

import { capitalise } from "./dom.js";

const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code || null;
  }
}

// FastAPI's `detail` comes as a string, as {code, message} (413/422/409 of this service), or
// as a list of validation errors.
function describeDetail(status, body) {
  const detail = body && typeof body === "object" ? body.detail : null;
  if (typeof detail === "string") return { message: detail, code: null };
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    return { message: detail.message || JSON.stringify(detail), code: detail.code || null };
  }
  if (Array.isArray(detail)) {
    const parts = detail.map((item) => {
      const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
      return where ? `${where}: ${item.msg}` : item.msg;
    });
    return { message: parts.join("; "), code: "invalid_request" };
  }
  return { message: `the service answered ${status}`, code: null };
}

/**
 * A request function bound to the key `getKey()` returns.
 *
 * `request(path, {method, headers, body, blob})` resolves to {status, body, headers}: body is
 * the parsed JSON, or a Blob with `blob: true`. Any answer other than 2xx rejects with an
 * ApiError; a 401 also calls `onUnauthorized()` first.
 */
export function makeClient(getKey, onUnauthorized) {
  return async function request(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    headers.Authorization = `Bearer ${getKey()}`;
    const init = { method: options.method || "GET", headers, body: options.body };
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (err) {
      throw new ApiError(0, "the service cannot be reached; check the connection", "offline");
    }
    const type = response.headers.get("Content-Type") || "";
    let body = null;
    if (options.blob && response.ok) {
      body = await response.blob();
    } else if (type.includes("json")) {
      body = await response.json().catch(() => null);
    }
    if (response.status === 401) onUnauthorized();
    if (!response.ok) {
      const { message, code } = describeDetail(response.status, body);
      throw new ApiError(response.status, message, code);
    }
    return { status: response.status, body, headers: response.headers };
  };
}

/** One line for a person: the service's message, its code and the HTTP status. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return String(err && err.message ? err.message : err);
  if (err.status === 403) {
    return (
      "This key only reads (integration role): creating patients and uploading photos " +
      "need a clinician key."
    );
  }
  const code = err.code ? ` [${err.code}]` : "";
  const status = err.status ? ` (HTTP ${err.status})` : "";
  return `${capitalise(err.message)}${code}${status}`;
}
