// The console's only way to the server: the public HTTP API, with the key
// from the tab's session storage in the x-api-key header (never in a URL).

const KEY = "txpipe.apiKey";

export function getKey() { return sessionStorage.getItem(KEY) || ""; }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

async function errorOf(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  const e = body && body.error ? body.error : {};
  const retry = resp.headers.get("Retry-After");
  let msg = e.message || resp.status + " " + resp.statusText;
  if (resp.status === 429 && retry) msg += " (retry in " + retry + " s)";
  return new APIError(resp.status, e.code || "http_" + resp.status, msg, body);
}

// api sends a request and returns the decoded JSON (null for 204).
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "x-api-key": getKey() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: "no-store" });
  if (!resp.ok) throw await errorOf(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

// apiBlob fetches a download (CSV) with the key and returns it as a Blob.
export async function apiBlob(path) {
  const resp = await fetch(path, { headers: { "x-api-key": getKey() }, cache: "no-store" });
  if (!resp.ok) throw await errorOf(resp);
  return resp.blob();
}

// qs builds a query string from the non-empty values of o.
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

// send runs an XMLHttpRequest with upload progress and resolves with
// {status, json} whatever the status (the caller decides).
export function send({ method, url, headers = {}, body, onProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers)) {
      // The browser sets these itself and refuses them from a script.
      if (!/^(content-length|host|connection)$/i.test(k)) xhr.setRequestHeader(k, v);
    }
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total); });
    xhr.addEventListener("load", () => {
      let json = null;
      try { json = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      resolve({ status: xhr.status, json, retryAfter: xhr.getResponseHeader("Retry-After") });
    });
    xhr.addEventListener("error", () => reject(new Error("network error while sending " + method + " " + url)));
    xhr.addEventListener("abort", () => reject(new Error("upload aborted")));
    xhr.send(body);
  });
}
