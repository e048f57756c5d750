// @ts-check
/**
 * The one door to the posemark HTTP API (docs/server-contract.md).
 *
 * Why a wrapper: every state-changing request must carry the session's CSRF token,
 * every error must become an Error that says what the server said (`detail`), and a
 * 401 anywhere must send the user back to the login page without each page
 * re-implementing that.
 */

/** Methods that change state and therefore need the X-CSRF-Token header. */
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

let csrfToken = null;
/** @type {(() => void) | null} */
let onUnauthorized = null;

/** An API failure: `status` is the HTTP status (0 when the network failed), `body` the JSON problem. */
export class ApiError extends Error {
  constructor(message, status, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.code = body && body.code ? body.code : null;
  }
}

/** Called on any 401 (except the login call itself) so the router can show the login page. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** The session's CSRF token, for requests made outside `request` (keepalive saves). */
export function getCsrfToken() {
  return csrfToken;
}

function rememberSession(answer) {
  csrfToken = answer.csrf_token;
}

function forgetSession() {
  csrfToken = null;
}

/** Turns a FastAPI problem body (string detail or validation list) into one readable line. */
function describeProblem(body, status) {
  if (!body) return `HTTP ${status}`;
  const { detail } = body;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : String(d)))
      .join("; ");
  }
  return `HTTP ${status}`;
}

/**
 * Sends one request. `body` may be a plain object (sent as JSON) or FormData (multipart).
 * Resolves to the parsed JSON answer (null for 204); rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {{ body?: object, query?: Record<string, unknown>, signal?: AbortSignal }} [options]
 */
export async function request(method, path, { body, query, signal } = {}) {
  const upper = method.toUpperCase();
  const headers = { Accept: "application/json" };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (UNSAFE.has(upper) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method: upper,
      headers,
      body: payload,
      credentials: "same-origin",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError("The server could not be reached; check the connection.", 0);
  }
  const isJson = (response.headers.get("Content-Type") || "").includes("json");
  const data = response.status === 204 || !isJson ? null : await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/auth/login") {
      forgetSession();
      if (onUnauthorized) onUnauthorized();
    }
    throw new ApiError(describeProblem(data, response.status), response.status, data);
  }
  return data;
}

export const api = {
  /** Restores the session from the cookie; null when nobody is logged in. */
  async me() {
    try {
      const answer = await request("GET", "/api/auth/me");
      rememberSession(answer);
      return answer.user;
    } catch (err) {
      if (err.status === 401) return null;
      throw err;
    }
  },
  async login(username, password) {
    const answer = await request("POST", "/api/auth/login", { body: { username, password } });
    rememberSession(answer);
    return answer.user;
  },
  async logout() {
    try {
      await request("POST", "/api/auth/logout");
    } finally {
      forgetSession();
    }
  },
  // account administration and project lifecycle (admins; managers for their projects)
  users: () => request("GET", "/api/users"),
  createUser: (username, password, isAdmin) =>
    request("POST", "/api/users", { body: { username, password, is_admin: isAdmin } }),
  deactivateUser: (uid) => request("POST", `/api/users/${uid}/deactivate`),
  activateUser: (uid) => request("POST", `/api/users/${uid}/activate`),
  resetPassword: (uid) => request("POST", `/api/users/${uid}/password`),
  createInvite: (uid) => request("POST", `/api/users/${uid}/invite`),
  revokeInvite: (uid) => request("DELETE", `/api/users/${uid}/invite`),
  changePassword: (current, next) =>
    request("POST", "/api/auth/password", { body: { current, new: next } }),
  renameProject: (pid, name) => request("PATCH", `/api/projects/${pid}`, { body: { name } }),
  deleteProject: (pid, confirm) =>
    request("DELETE", `/api/projects/${pid}`, { query: { confirm } }),
  removeMember: (pid, uid) => request("DELETE", `/api/projects/${pid}/members/${uid}`),
  deleteItem: (iid) => request("DELETE", `/api/items/${iid}`),
  editSkeleton: (pid, body) => request("PUT", `/api/projects/${pid}/skeleton`, { body }),
  skeletons: () => request("GET", "/api/skeletons"),
  projects: () => request("GET", "/api/projects"),
  /** `skeleton` is a built-in name, or `{name, text}` of an uploaded skeleton file. */
  createProject: (name, skeleton) =>
    request("POST", "/api/projects", {
      body: typeof skeleton === "string" ? { name, skeleton } : { name, skeleton_file: skeleton },
    }),
  /** A project with the skeleton of the COCO file among `files`, which are imported. */
  createProjectFromFile(name, files) {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    return request("POST", "/api/projects/from-file", { body: form, query: { name } });
  },
  project: (pid) => request("GET", `/api/projects/${pid}`),
  members: (pid) => request("GET", `/api/projects/${pid}/members`),
  addMember: (pid, username, role) =>
    request("POST", `/api/projects/${pid}/members`, { body: { username, role } }),
  /**
   * One page of the project's items: at `offset`, or after / before a cursor the
   * previous answer gave (its `next` / `prev`).
   * @param {number | string} pid
   * @param {{ status?: string, job?: number | string, q?: string, sort?: string,
   *   offset?: number, limit?: number, after?: string, before?: string }} [filters]
   */
  items: (pid, { status, job, q, sort, offset = 0, limit = 50, after, before } = {}) =>
    request("GET", `/api/projects/${pid}/items`, {
      query: { status, job, q, sort, offset, limit, after, before },
    }),
  jobs: (pid) => request("GET", `/api/projects/${pid}/jobs`),
  /**
   * `background`: 202 with the `import` operation a worker runs (else imported in the
   * request). `frames` (one video): which frames become items, "all", "every:N", "kmeans:N".
   */
  importFiles(pid, files, background = false, frames = "all") {
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const query = { background: background || undefined, frames: frames === "all" ? undefined : frames };
    return request("POST", `/api/projects/${pid}/import`, { body: form, query });
  },
  /** The Label next queue's next item after `after` (null: from the top). */
  labelNext: (pid, after = null) =>
    request("GET", `/api/projects/${pid}/label-next`, { query: { after } }),
  /** One COCO file for existing items; `options`: as_suggestions, policy, dry_run. */
  importAnnotations(pid, file, options) {
    const form = new FormData();
    form.append("files", file, file.name);
    return request("POST", `/api/projects/${pid}/import-annotations`, { body: form, query: options });
  },
  item: (iid) => request("GET", `/api/items/${iid}`),
  saveAnnotation: (iid, baseVersion, annotation) =>
    request("PUT", `/api/items/${iid}/annotation`, {
      body: { base_version: baseVersion, annotation },
    }),
  setStatus: (iid, status) => request("POST", `/api/items/${iid}/status`, { body: { status } }),
  imageUrl: (iid) => `/api/items/${iid}/image`,
  thumbnailUrl: (iid, size = 160) => `/api/items/${iid}/thumbnail?size=${size}`,
};
