// The txpipe console: a hash-routed single-page app over the public API.
import { h, replace, statusBadge, fmtTime, fmtBytes, fmtInt, announce, table, saveBlob } from "./dom.js";
import { api, apiBlob, qs, getKey, setKey, clearKey, APIError } from "./api.js";
import { uploadFile } from "./upload.js";
import { drawVolumes } from "./volumes.js";

const FINAL = new Set(["COMPLETED", "FAILED", "REJECTED", "EXPIRED"]);
const STATUSES = ["VALIDATED", "PROCESSING", "COMPLETED", "FAILED", "REJECTED", "AWAITING_UPLOAD", "EXPIRED"];
const main = () => document.getElementById("main");

let me = null; // {name, role, tenant} of the signed-in key
let stopPage = () => {}; // stops the current page's timers

// poller calls fn now and then every delay(result) ms while the page is
// shown and the tab visible; it returns a stop function.
function poller(fn, delay) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    let next = 10000;
    if (!document.hidden) {
      try { next = delay(await fn()); } catch (e) { next = 10000; if (e instanceof APIError && e.status === 429) next = 30000; }
    }
    if (!stopped) timer = setTimeout(tick, next);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

function errorBox(e) {
  if (e instanceof APIError && e.status === 404 && /^no such path/.test(e.message)) {
    // The server has no store behind this view (for example volumes on
    // serve --aws): say so rather than show an error.
    return h("p", { role: "status" }, "This server does not offer this view (" + e.message + ").");
  }
  return h("p", { class: "error", role: "alert" }, "Error: " + (e && e.message ? e.message : String(e)));
}

function heading(text) {
  return h("h1", {}, text);
}

// ---- sign-in ----

function signIn(reason) {
  document.getElementById("nav").hidden = true;
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const msg = h("p", { role: "alert", class: "error" }, reason || "");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    setKey(input.value.trim());
    try {
      me = await api("/whoami");
      await route();
    } catch (e) {
      clearKey();
      msg.textContent = e.status === 403 || e.status === 401 ? "That API key is not valid." : "Sign-in failed: " + e.message;
    }
  } },
  h("div", { class: "row" }, h("label", { for: "key" }, "API key", input), h("button", { type: "submit" }, "Sign in")), msg);
  replace(main(), heading("Sign in"),
    h("p", {}, "Sign in with an API key. It is kept in this tab only (session storage) and sent in the x-api-key header."),
    form);
  input.focus();
}

// ---- upload ----

function pageUpload() {
  const list = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const input = h("input", { type: "file", id: "file", multiple: true, accept: ".csv,text/csv" });
  const drop = h("label", { class: "drop", for: "file" }, "Drop CSV files here, or choose files", input);
  const timers = [];
  const start = (files) => { for (const f of files) timers.push(track(f, list)); };
  input.addEventListener("change", () => { start(Array.from(input.files)); input.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); start(Array.from(e.dataTransfer.files)); });
  replace(main(), heading("Upload"),
    h("p", { class: "muted" }, "Files above 4 MB go in two steps (their SHA-256 is computed here first, a slice at a time)."),
    drop, h("h2", {}, "This session's uploads"), list);
  return () => timers.forEach((t) => t());
}

function track(file, list) {
  const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": "Progress of " + file.name });
  const state = h("span", {}, statusBadge("UPLOADING"));
  const detail = h("span", { class: "muted" }, "");
  const item = h("li", {}, h("strong", { class: "wrap" }, file.name), h("span", { class: "muted" }, fmtBytes(file.size)), bar,
    h("span", {}, state, " ", detail));
  list.prepend(item);
  let stop = () => {};
  const show = (rec) => {
    replace(state, statusBadge(rec.status));
    const bits = [];
    if (rec.rows !== undefined) bits.push(fmtInt(rec.rows) + " rows");
    if (rec.error_count) bits.push(fmtInt(rec.error_count) + " errors");
    if (rec.failure) bits.push(rec.failure);
    replace(detail, bits.join(", "), rec.file_id ? [" ", h("a", { href: "#/files/" + encodeURIComponent(rec.file_id) }, "Details")] : null);
  };
  uploadFile(file, (phase, loaded, total) => {
    bar.max = total || 1;
    bar.value = loaded;
    replace(state, statusBadge(phase));
    detail.textContent = (phase === "HASHING" ? "computing SHA-256: " : "") + fmtBytes(loaded) + " of " + fmtBytes(total);
  }).then((res) => {
    bar.value = bar.max;
    show(res);
    announce(file.name + ": " + res.status);
    if (!res.file_id || FINAL.has(res.status)) return;
    stop = poller(async () => {
      const rec = await api("/status/" + encodeURIComponent(res.file_id));
      show(rec);
      if (FINAL.has(rec.status)) { announce(file.name + ": " + rec.status); stop(); }
      return rec;
    }, () => 1000);
  }).catch((e) => {
    replace(state, statusBadge("FAILED"));
    detail.textContent = "upload failed: " + e.message;
  });
  return () => stop();
}

// ---- files ----

function duration(rec) {
  if (!FINAL.has(rec.status)) return "";
  const ms = new Date(rec.updated_at) - new Date(rec.created_at);
  return Number.isFinite(ms) ? (ms / 1000).toFixed(1) + " s" : "";
}

// tenantQuery is the ?tenant= an admin key adds to read a file of another
// tenant than its own (the lists show every tenant's files to admins).
function tenantQuery(tenant) {
  return tenant && me && tenant !== (me.tenant || "default") ? "?tenant=" + encodeURIComponent(tenant) : "";
}

function pageFiles(params) {
  const status = h("select", { id: "f-status" }, h("option", { value: "" }, "Any"), STATUSES.map((s) => h("option", { value: s }, s)));
  status.value = params.get("status") || "";
  const name = h("input", { id: "f-name", type: "search", value: params.get("name") || "" });
  const body = h("div", {});
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  let extra = []; // pages loaded past the first
  let cursor = "";
  const render = (first) => {
    const items = first.items.concat(extra);
    if (items.length === 0) { replace(body, h("p", {}, "No files match.")); return; }
    replace(body, table("Files, newest first",
      ["File", "Status", "Rows", "Inserted", "Updated", "Unchanged", "Rejected", "Duration", "Uploaded"],
      items.map((f) => [h("a", { href: "#/files/" + encodeURIComponent(f.file_id) + tenantQuery(f.tenant) }, f.filename || f.file_id), statusBadge(f.status),
        fmtInt(f.rows), fmtInt(f.inserted), fmtInt(f.updated), fmtInt(f.unchanged), fmtInt(f.error_count), duration(f), fmtTime(f.created_at)]),
      [2, 3, 4, 5, 6, 7]));
  };
  const q = () => ({ status: status.value, name: name.value.trim() });
  const load = async () => {
    const first = await api("/files" + qs({ ...q(), limit: 50 }));
    if (extra.length === 0) { cursor = first.next_cursor || ""; more.hidden = !cursor; }
    render(first);
    return first.items.concat(extra);
  };
  more.addEventListener("click", async () => {
    try {
      const p = await api("/files" + qs({ ...q(), limit: 50, cursor }));
      extra = extra.concat(p.items);
      cursor = p.next_cursor || "";
      more.hidden = !cursor;
      await load();
    } catch (e) { body.append(errorBox(e)); }
  });
  let stop = () => {};
  const restart = () => {
    stop();
    extra = [];
    history.replaceState(null, "", "#/files" + qs(q()));
    stop = poller(load, (items) => (items.some((f) => !FINAL.has(f.status)) ? 1500 : 10000));
  };
  status.addEventListener("change", restart);
  let t = null;
  name.addEventListener("input", () => { clearTimeout(t); t = setTimeout(restart, 300); });
  replace(main(), heading("Files"),
    h("div", { class: "row", role: "search" }, h("label", { for: "f-status" }, "Status", status), h("label", { for: "f-name" }, "Name contains", name)),
    h("p", { class: "muted" }, "Updates by itself while a file is being processed."),
    body, more);
  restart();
  return () => stop();
}

// ---- one file ----

function pageFile(id, params) {
  const tq = params && params.get("tenant") ? "?tenant=" + encodeURIComponent(params.get("tenant")) : "";
  // One h1: "File" until the record is read, then the file's name.
  const box = h("div", {}, heading("File"));
  replace(main(), box);
  let errFilter = "";
  let lastJSON = "";
  const render = (rec) => {
    const json = JSON.stringify(rec);
    if (json === lastJSON) return;
    lastJSON = json;
    const facts = h("dl", { class: "facts" },
      [["Status", statusBadge(rec.status)], ["File id", rec.file_id], ["Tenant", rec.tenant || "default"], ["SHA-256", rec.sha256], ["Size", fmtBytes(rec.size_bytes || 0)],
        ["Rows", fmtInt(rec.rows)], ["Inserted / updated / unchanged", fmtInt(rec.inserted) + " / " + fmtInt(rec.updated) + " / " + fmtInt(rec.unchanged)],
        ["Rejected rows", fmtInt(rec.error_count)], ["Attempts", String(rec.attempts)], ["Uploaded", fmtTime(rec.created_at)],
        ["Last change", fmtTime(rec.updated_at)], ["Duration", duration(rec)]].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    const parts = [h("h1", { class: "wrap" }, rec.filename || rec.file_id), facts];
    if (rec.failure) parts.push(h("h2", {}, "Failure"), h("p", { class: "error", id: "failure" }, rec.failure));
    if (rec.status === "FAILED") {
      const msg = h("span", { role: "status" });
      const btn = h("button", { type: "button", id: "redrive", onclick: async () => {
        btn.disabled = true;
        try { await api("/dlq/" + encodeURIComponent(rec.file_id) + "/redrive" + tq, { method: "POST" }); msg.textContent = "Redriven: the run starts again."; }
        catch (e) { msg.textContent = "Redrive failed: " + e.message; btn.disabled = false; }
      } }, "Redrive");
      parts.push(h("p", {}, btn, " ", msg));
    }
    parts.push(h("h2", {}, "Timeline"));
    const events = rec.events || [];
    parts.push(events.length === 0 ? h("p", { class: "muted" }, "No events recorded.") :
      h("ol", { class: "timeline" }, events.map((e) => h("li", {},
        h("time", { datetime: e.at }, fmtTime(e.at)), " ", statusBadge(e.status), " ",
        e.step ? h("strong", {}, e.step) : null, e.attempt ? " (attempt " + e.attempt + ")" : "", e.message ? ": " + e.message : ""))));
    if (rec.error_count > 0) {
      const filter = h("input", { id: "err-filter", type: "search", value: errFilter });
      const rows = h("div", {});
      const draw = () => {
        errFilter = filter.value;
        const f = errFilter.toLowerCase();
        const list = (rec.errors || []).filter((e) => !f || [String(e.line), e.column, e.value, e.message].some((x) => String(x).toLowerCase().includes(f)));
        replace(rows, table("Rejected rows", ["Line", "Column", "Value", "Message"], list.map((e) => [String(e.line), e.column, e.value, e.message]), [0]),
          h("p", { class: "muted" }, "Showing " + list.length + " of " + (rec.errors || []).length + " listed errors (" + fmtInt(rec.error_count) + " in all; the first 100 are kept)."));
      };
      filter.addEventListener("input", draw);
      const dl = h("button", { type: "button", class: "secondary", id: "errors-csv", onclick: async () => {
        try { saveBlob(await apiBlob("/status/" + encodeURIComponent(rec.file_id) + "/errors.csv" + tq), "errors-" + rec.file_id + ".csv"); }
        catch (e) { rows.append(errorBox(e)); }
      } }, "Download errors CSV");
      parts.push(h("h2", {}, "Rejected rows"), h("div", { class: "row" }, h("label", { for: "err-filter" }, "Filter", filter), dl), rows);
      draw();
    }
    const focused = document.activeElement && document.activeElement.id;
    replace(box, parts);
    if (focused) { const el = document.getElementById(focused); if (el) el.focus(); }
  };
  return poller(async () => {
    try {
      const rec = await api("/status/" + encodeURIComponent(id) + tq);
      render(rec);
      return rec;
    } catch (e) { replace(box, errorBox(e)); throw e; }
  }, (rec) => (FINAL.has(rec.status) ? 5000 : 1000));
}

// ---- transactions ----

function isoDay(d) { return d.toISOString().slice(0, 10); }

function pageTransactions(params) {
  const today = new Date();
  const from = h("input", { id: "t-from", type: "date", value: params.get("from") || isoDay(new Date(today.getTime() - 30 * 86400000)) });
  const to = h("input", { id: "t-to", type: "date", value: params.get("to") || isoDay(new Date(today.getTime() + 86400000)) });
  const merchant = h("input", { id: "t-merchant", type: "text", value: params.get("merchant") || "" });
  const currency = h("input", { id: "t-currency", type: "text", maxlength: 3, size: 4, value: params.get("currency") || "" });
  const body = h("div", {});
  const pageInfo = h("span", { role: "status" });
  const prev = h("button", { type: "button", class: "secondary", id: "t-prev", disabled: true }, "Previous page");
  const next = h("button", { type: "button", class: "secondary", id: "t-next", disabled: true }, "Next page");
  const exp = h("button", { type: "button", class: "secondary", id: "t-export" }, "Export CSV");
  let cursors = [""]; // cursor of each page shown so far
  let nextCursor = "";
  const query = () => ({ from: from.value + "T00:00:00Z", to: to.value + "T00:00:00Z", merchant: merchant.value.trim(), currency: currency.value.trim().toUpperCase() });
  const load = async () => {
    try {
      const p = await api("/transactions" + qs({ ...query(), limit: 25, cursor: cursors[cursors.length - 1] }));
      nextCursor = p.next_cursor || "";
      prev.disabled = cursors.length < 2;
      next.disabled = !nextCursor;
      pageInfo.textContent = "Page " + cursors.length + (p.items.length ? ", " + p.items.length + " transactions" : ", no transactions");
      replace(body, table("Transactions, oldest first", ["Time", "Transaction", "Merchant", "Amount", "Currency", "Status", "File"],
        p.items.map((t) => [fmtTime(t.timestamp), t.transaction_id, t.merchant, t.amount, t.currency, t.status,
          h("a", { href: "#/files/" + encodeURIComponent(t.file_id) }, t.file_id.slice(0, 8))]), [3]));
    } catch (e) { replace(body, errorBox(e)); }
  };
  const search = (ev) => {
    if (ev) ev.preventDefault();
    cursors = [""];
    history.replaceState(null, "", "#/transactions" + qs({ from: from.value, to: to.value, merchant: merchant.value.trim(), currency: currency.value.trim() }));
    load();
  };
  prev.addEventListener("click", () => { cursors.pop(); load(); });
  next.addEventListener("click", () => { cursors.push(nextCursor); load(); });
  exp.addEventListener("click", async () => {
    exp.disabled = true;
    try { saveBlob(await apiBlob("/transactions.csv" + qs(query())), "transactions.csv"); } catch (e) { body.prepend(errorBox(e)); }
    exp.disabled = false;
  });
  replace(main(), heading("Transactions"),
    h("form", { class: "row", role: "search", onsubmit: search },
      h("label", { for: "t-from" }, "From (UTC)", from), h("label", { for: "t-to" }, "To (UTC, not included)", to),
      h("label", { for: "t-merchant" }, "Merchant", merchant), h("label", { for: "t-currency" }, "Currency", currency),
      h("button", { type: "submit" }, "Search"), exp),
    body, h("div", { class: "row" }, prev, next, pageInfo));
  search();
  return () => {};
}

// ---- volumes ----

function pageVolumes(params) {
  const today = new Date();
  const from = h("input", { id: "v-from", type: "date", value: params.get("from") || isoDay(new Date(today.getTime() - 30 * 86400000)) });
  const to = h("input", { id: "v-to", type: "date", value: params.get("to") || isoDay(new Date(today.getTime() + 86400000)) });
  const out = h("div", {});
  const load = async (ev) => {
    if (ev) ev.preventDefault();
    history.replaceState(null, "", "#/volumes" + qs({ from: from.value, to: to.value }));
    try {
      const v = await api("/volumes" + qs({ from: from.value, to: to.value }));
      drawVolumes(out, v);
    } catch (e) { replace(out, errorBox(e)); }
  };
  replace(main(), heading("Volumes"),
    h("form", { class: "row", onsubmit: load },
      h("label", { for: "v-from" }, "From (UTC)", from), h("label", { for: "v-to" }, "To (UTC, not included)", to),
      h("button", { type: "submit" }, "Show")), out);
  load();
  return () => {};
}

// ---- dead letters ----

function pageDLQ() {
  const body = h("div", {});
  const msg = h("p", { role: "status" });
  const all = h("button", { type: "button", id: "redrive-all", disabled: true }, "Redrive all");
  let items = [];
  const redrive = async (id, tenant) => {
    await api("/dlq/" + encodeURIComponent(id) + "/redrive" + tenantQuery(tenant), { method: "POST" });
  };
  const load = async () => {
    let r;
    try { r = await api("/dlq"); } catch (e) { replace(body, errorBox(e)); throw e; }
    items = r.items;
    all.disabled = items.length === 0;
    replace(body, items.length === 0 ? h("p", {}, "The dead-letter queue is empty.") :
      table("Failed runs", ["File", "Failure", "Failed at", ""], items.map((d) => [
        h("a", { href: "#/files/" + encodeURIComponent(d.file_id) + tenantQuery(d.tenant) }, d.filename || d.file_id), d.failure, fmtTime(d.sent_at),
        h("button", { type: "button", class: "secondary", "aria-label": "Redrive " + (d.filename || d.file_id), onclick: async (ev) => {
          ev.target.disabled = true;
          try { await redrive(d.file_id, d.tenant); msg.textContent = "Redriven " + (d.filename || d.file_id) + "."; } catch (e) { msg.textContent = "Redrive failed: " + e.message; }
          load().catch(() => {});
        } }, "Redrive")])));
    return items;
  };
  all.addEventListener("click", async () => {
    all.disabled = true;
    let ok = 0;
    const failed = [];
    for (const d of items) {
      try { await redrive(d.file_id, d.tenant); ok++; } catch (e) { failed.push((d.filename || d.file_id) + ": " + e.message); }
    }
    msg.textContent = "Redriven " + ok + " of " + items.length + "." + (failed.length ? " Not redriven: " + failed.join("; ") : "");
    load().catch(() => {});
  });
  replace(main(), heading("Dead letters"), h("p", { class: "muted" }, "Runs that failed for good. A redrive runs the file again from its first step."),
    h("div", { class: "row" }, all), msg, body);
  return poller(load, () => 5000);
}

// ---- keys ----

function pageKeys() {
  const body = h("div", {});
  const msg = h("div", { role: "status" });
  const name = h("input", { id: "k-name", type: "text", required: true, maxlength: 100 });
  const quota = h("input", { id: "k-quota", type: "number", min: 1, value: 1000 });
  const rate = h("input", { id: "k-rate", type: "number", min: 0.1, step: "any", value: 10 });
  const admin = h("input", { id: "k-admin", type: "checkbox" });
  const tenant = h("input", { id: "k-tenant", type: "text", maxlength: 32, pattern: "[a-z0-9][a-z0-9_\\-]*", placeholder: "default" });
  const load = async () => {
    try {
      const r = await api("/keys");
      replace(body, table("API keys, requests on " + r.day + " (UTC)", ["Name", "Role", "Tenant", "Quota a day", "Rate a second", "Requests today", "Created", ""],
        r.items.map((k) => {
          const q = h("input", { type: "number", min: 1, value: k.quota_per_day, "aria-label": "Quota a day of " + k.name, size: 8 });
          const rt = h("input", { type: "number", min: 0.1, step: "any", value: k.rate_per_second, "aria-label": "Rate a second of " + k.name, size: 5 });
          const save = h("button", { type: "button", class: "secondary", "aria-label": "Save limits of " + k.name, onclick: async () => {
            try { await api("/keys/" + encodeURIComponent(k.id), { method: "PATCH", body: { quota_per_day: Number(q.value), rate_per_second: Number(rt.value) } }); replace(msg, "Saved the limits of " + k.name + "."); load(); }
            catch (e) { replace(msg, errorBox(e)); }
          } }, "Save");
          const revoke = h("button", { type: "button", class: "secondary", "aria-label": "Revoke " + k.name, onclick: async () => {
            // Two clicks: the first asks, in the button itself.
            if (revoke.dataset.armed !== "yes") {
              revoke.dataset.armed = "yes";
              revoke.textContent = "Confirm revoke";
              replace(msg, "Click Confirm revoke to revoke " + k.name + ": clients using it stop working.");
              return;
            }
            try { await api("/keys/" + encodeURIComponent(k.id), { method: "DELETE" }); replace(msg, "Revoked " + k.name + "."); load(); }
            catch (e) { replace(msg, errorBox(e)); }
          } }, "Revoke");
          return [k.name, k.role || "user", k.tenant || "default", q, rt, fmtInt(k.requests_today) + " of " + fmtInt(k.quota_per_day), fmtTime(k.created_at), h("span", {}, save, " ", revoke)];
        }), [5]));
    } catch (e) { replace(body, errorBox(e)); }
  };
  const create = async (ev) => {
    ev.preventDefault();
    try {
      const k = await api("/keys", { method: "POST", body: { name: name.value.trim(), quota_per_day: Number(quota.value), rate_per_second: Number(rate.value), role: admin.checked ? "admin" : "", tenant: tenant.value.trim() } });
      replace(msg, h("p", {}, "Created the key " + k.name + ". Copy it now: it is shown only once."), h("p", { class: "secret", id: "new-secret" }, k.api_key));
      name.value = "";
      load();
    } catch (e) { replace(msg, errorBox(e)); }
  };
  replace(main(), heading("API keys"),
    h("form", { class: "row", onsubmit: create },
      h("label", { for: "k-name" }, "Name", name), h("label", { for: "k-quota" }, "Quota a day", quota),
      h("label", { for: "k-rate" }, "Rate a second", rate), h("label", { for: "k-tenant" }, "Tenant", tenant), h("label", { for: "k-admin" }, "Admin", admin),
      h("button", { type: "submit" }, "Create key")), msg, body);
  load();
  return () => {};
}

// ---- routing ----

async function route() {
  stopPage();
  stopPage = () => {};
  if (!getKey()) { signIn(); return; }
  if (!me) {
    try { me = await api("/whoami"); } catch (e) { clearKey(); signIn(e.status === 403 ? "That API key is no longer valid." : ""); return; }
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-keys").hidden = me.role !== "admin";
  const raw = location.hash.replace(/^#/, "") || "/files";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("nav a")) {
    const on = path === a.getAttribute("href").slice(1) || path.startsWith(a.getAttribute("href").slice(1) + "/");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let stop;
  switch (parts[0]) {
    case "upload": stop = pageUpload(); break;
    case "files": stop = parts[1] ? pageFile(parts[1], params) : pageFiles(params); break;
    case "transactions": stop = pageTransactions(params); break;
    case "volumes": stop = pageVolumes(params); break;
    case "dlq": stop = pageDLQ(); break;
    case "keys": stop = pageKeys(); break;
    default: replace(main(), heading("Not found"), h("p", {}, "No such page. "), h("a", { href: "#/files" }, "Files"));
  }
  stopPage = stop || (() => {});
  document.title = (main().querySelector("h1")?.textContent || "txpipe") + " · txpipe console";
}

// Filters rewrite the address with history.replaceState, which fires no
// hashchange: only links and the back button route.
window.addEventListener("hashchange", () => { route().then(() => main().focus()); });
document.getElementById("signout").addEventListener("click", () => { clearKey(); me = null; stopPage(); history.replaceState(null, "", "#/files"); signIn(); });
route();
