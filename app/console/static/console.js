// The console's shared script (an ES module, no build step).
// Every state-changing request must carry the session's CSRF token: htmx requests get it
// as a header here; other scripts use api() below, which does the same.

export const csrfToken = () =>
  document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";

document.addEventListener("htmx:configRequest", (event) => {
  event.detail.headers["X-CSRF-Token"] = csrfToken();
});

// fetch() with the CSRF header and JSON in and out; throws an Error carrying the
// server's error message (the {"error": {"message"}} envelope) on a non-2xx answer.
export async function api(path, { method = "GET", json, body, headers = {} } = {}) {
  const init = { method, headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    // The session ended (signed out elsewhere, disabled, expired): sign in again.
    window.location.assign(`/console/login?next=${encodeURIComponent(location.pathname)}`);
  }
  if (!response.ok) {
    const error = new Error(data?.error?.message ?? response.statusText);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

// Escape text for innerHTML templates.
export const esc = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
