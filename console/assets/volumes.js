// The volumes page's chart and tables, from GET /volumes.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { h, replace, table, fmtInt } from "./dom.js";

const COLORS = ["#0b5cad", "#b35900", "#116329", "#8250df", "#a40e26", "#1b7c83", "#6e7781", "#bf3989"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]]; // a second cue besides colour

// sumAmount adds decimal amounts exactly (in minor units, as BigInt) and
// writes the total with the digits of the first amount.
function formatMinor(total, digits) {
  const neg = total < 0n;
  let s = (neg ? -total : total).toString().padStart(digits + 1, "0");
  if (digits > 0) s = s.slice(0, s.length - digits) + "." + s.slice(s.length - digits);
  return (neg ? "-" : "") + s;
}

function digitsOf(amount) {
  const i = String(amount).indexOf(".");
  return i < 0 ? 0 : String(amount).length - i - 1;
}

export function drawVolumes(out, v) {
  const items = v.items || [];
  if (items.length === 0) {
    replace(out, h("p", { id: "volumes-empty" }, "No transactions from " + v.from + " to " + v.to + "."));
    return;
  }
  const currencies = [...new Set(items.map((i) => i.currency))].sort();
  // Every day of the range, so gaps show as zero.
  const days = [];
  for (let t = Date.parse(v.from + "T00:00:00Z"); t < Date.parse(v.to + "T00:00:00Z"); t += 86400000) days.push(t / 1000);
  const index = new Map(days.map((d, i) => [d, i]));
  const rows = currencies.map(() => days.map(() => 0));
  const amounts = currencies.map(() => days.map(() => 0));
  const totals = currencies.map(() => ({ rows: 0, minor: 0n, digits: 0 }));
  for (const it of items) {
    const c = currencies.indexOf(it.currency);
    const d = index.get(Date.parse(it.day + "T00:00:00Z") / 1000);
    if (d !== undefined) {
      rows[c][d] += it.rows;
      amounts[c][d] += Number(it.amount);
    }
    totals[c].rows += it.rows;
    totals[c].minor += BigInt(it.amount_minor);
    totals[c].digits = digitsOf(it.amount);
  }
  const width = Math.max(280, Math.min(out.clientWidth || 800, 1100));
  const series = (unit) => [{}].concat(currencies.map((c, i) => ({
    label: c + " " + unit, stroke: COLORS[i % COLORS.length], width: 2, dash: DASHES[Math.floor(i / COLORS.length) % DASHES.length],
    points: { show: true, size: 5 },
  })));
  const opts = (title, unit) => ({
    title, width, height: 240, series: series(unit),
    scales: { x: { time: true } },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), // days are UTC days
    axes: [{}, { size: 60 }],
  });
  const rowsChart = h("div", { class: "chart", id: "chart-rows", role: "img", "aria-label": "Rows per day by currency; the same numbers are in the tables below" });
  const amountChart = h("div", { class: "chart", id: "chart-amounts", role: "img", "aria-label": "Amount per day by currency; the same numbers are in the tables below" });
  const totalsTable = table("Totals by currency", ["Currency", "Rows", "Amount"],
    currencies.map((c, i) => [c, fmtInt(totals[i].rows), formatMinor(totals[i].minor, totals[i].digits)]), [1, 2]);
  totalsTable.id = "volume-totals";
  const perDay = table("Rows and amount per day and currency", ["Day", "Currency", "Rows", "Amount"],
    items.map((it) => [it.day, it.currency, fmtInt(it.rows), it.amount]), [2, 3]);
  replace(out, h("h2", {}, "Rows per day"), rowsChart, h("h2", {}, "Amount per day"), amountChart,
    h("h2", {}, "Totals from " + v.from + " to " + v.to), totalsTable,
    h("details", {}, h("summary", {}, "Every day and currency"), perDay));
  new uPlot(opts("Rows", "rows"), [days, ...rows], rowsChart);
  new uPlot(opts("Amount", "amount"), [days, ...amounts], amountChart);
}
