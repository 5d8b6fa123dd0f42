// Building the DOM without HTML strings: every value is set as text, so a
// file's name or cell can never become markup (the page also enforces
// Trusted Types, which makes innerHTML throw).

// h creates an element. attrs: plain attributes, plus "on<event>" handlers
// and "class". Children: nodes, strings (as text), arrays, null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace empties el and puts children in it.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// statusBadge shows a status as text with a symbol; the colour only
// repeats it.
export function statusBadge(status) {
  return h("span", { class: "status status-" + String(status).replace(/[^A-Z_]/g, "") }, status);
}

export function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
}

export function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB"];
  let v = n;
  let u = -1;
  do { v /= 1024; u++; } while (v >= 1024 && u < units.length - 1);
  return v.toFixed(1) + " " + units[u];
}

export function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

// announce tells screen readers about a change.
export function announce(text) {
  const el = document.getElementById("announce");
  if (el) el.textContent = text;
}

// table builds a table with a caption and column headings; rows are
// arrays of cells (strings or nodes); num lists the numeric columns.
export function table(caption, heads, rows, num = []) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, heads.map((t, i) => h("th", { scope: "col", class: num.includes(i) ? "num" : null },
        t || h("span", { class: "visually-hidden" }, "Actions"))))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { class: num.includes(i) ? "num" : "wrap" }, c)))))));
}

// saveBlob offers a blob as a download.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
