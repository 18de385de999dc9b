// The trend plot of one concern over visits, drawn as inline SVG.
//
// Severity (0–100) against the visit date, with the grade edges as grid lines. A visit whose
// photo the quality gate rejected has no score: it is drawn as a cross on the baseline. The
// latest change larger than MDC95 that the service reports is drawn as a thick segment between
// its two visits and a ring around the later one.

import { el, formatDate, formatNumber, signed, svg } from "./dom.js";
import { CONCERN_LABELS } from "./visit.js";

function sameInstant(a, b) {
  return new Date(a).getTime() === new Date(b).getTime();
}

export function trendPlot(name, concern) {
  const label = CONCERN_LABELS[name];
  const width = 360;
  const height = 190;
  const pad = { left: 34, right: 12, top: 12, bottom: 30 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const series = concern.series.map((point) => Object.assign({ t: new Date(point.taken_at).getTime() }, point));
  const times = series.map((point) => point.t);
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (t) => pad.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * plotW : plotW / 2);
  const y = (severity) => pad.top + (1 - Math.max(0, Math.min(100, severity)) / 100) * plotH;

  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "trend",
    "data-concern": name,
    role: "img",
    "aria-labelledby": `trend-${name}-title trend-${name}-desc`,
  });
  const assessed = series.filter((point) => point.severity !== null);
  const change = concern.latest_significant_change;
  chart.append(
    svg("title", { id: `trend-${name}-title` }, `${label} severity over visits`),
    svg(
      "desc",
      { id: `trend-${name}-desc` },
      assessed.map((p) => `${formatDate(p.taken_at, false)}: ${formatNumber(p.severity)} (grade ${p.grade})`).join("; ") ||
        "no assessed visits",
    ),
  );

  // Grade bands: the 0–4 grades bin severity at 20, 40, 60 and 80.
  for (const edge of [0, 20, 40, 60, 80, 100]) {
    chart.append(
      svg("line", { x1: pad.left, x2: width - pad.right, y1: y(edge), y2: y(edge), class: edge % 100 ? "grid" : "axis" }),
      svg("text", { x: pad.left - 6, y: y(edge) + 4, class: "tick", "text-anchor": "end" }, String(edge)),
    );
  }
  if (series.length) {
    chart.append(
      svg("text", { x: pad.left, y: height - 8, class: "tick", "text-anchor": "start" }, formatDate(series[0].taken_at, false)),
    );
    if (t1 > t0) {
      chart.append(
        svg(
          "text",
          { x: width - pad.right, y: height - 8, class: "tick", "text-anchor": "end" },
          formatDate(series[series.length - 1].taken_at, false),
        ),
      );
    }
  }
  if (assessed.length > 1) {
    chart.append(
      svg("polyline", {
        class: "series",
        points: assessed.map((p) => `${x(p.t).toFixed(1)},${y(p.severity).toFixed(1)}`).join(" "),
      }),
    );
  }
  if (change) {
    const from = assessed.find((p) => sameInstant(p.taken_at, change.from));
    const to = assessed.find((p) => sameInstant(p.taken_at, change.to));
    if (from && to) {
      chart.append(
        svg("line", {
          class: `significant ${change.direction}`,
          x1: x(from.t),
          y1: y(from.severity),
          x2: x(to.t),
          y2: y(to.severity),
        }),
        svg("circle", { class: `significant-marker ${change.direction}`, cx: x(to.t), cy: y(to.severity), r: 8 }),
      );
    }
  }
  for (const point of series) {
    if (point.severity === null) {
      // Rejected by the quality gate: no score, but the visit happened.
      const cx = x(point.t);
      const cy = y(0);
      chart.append(
        svg("path", { class: "rejected", d: `M${cx - 4},${cy - 4}l8,8m0,-8l-8,8` }, undefined),
      );
      continue;
    }
    const dot = svg("circle", {
      class: "point",
      cx: x(point.t),
      cy: y(point.severity),
      r: 4,
      "data-visit": point.visit_id,
      "data-severity": String(point.severity),
    });
    dot.append(svg("title", {}, `${formatDate(point.taken_at)}: ${formatNumber(point.severity)}, grade ${point.grade}`));
    chart.append(dot);
  }

  const trend = concern.trend;
  let trendText = "Trend: not enough visits.";
  if (trend && trend.direction) {
    trendText = `Trend: ${trend.direction}`;
    if (typeof trend.slope_per_30_days === "number") {
      const ci = Array.isArray(trend.ci95)
        ? `, 95 % CI ${signed(trend.ci95[0])} to ${signed(trend.ci95[1])}`
        : "";
      trendText += ` (${signed(trend.slope_per_30_days)} per 30 days${ci})`;
    }
    trendText += ".";
  }
  const changeText = change
    ? `Latest significant change: ${signed(change.delta)} ` +
      `(MDC95 ${formatNumber(change.mdc95)}), ${change.direction}, ` +
      `${formatDate(change.from, false)} → ${formatDate(change.to, false)}.`
    : "No change larger than MDC95 between consecutive visits.";

  return el(
    "figure",
    { className: "plot", "data-concern": name },
    chart,
    el(
      "figcaption",
      {},
      el("strong", { text: label }),
      el("span", { className: "trend-text", text: ` ${trendText} ` }),
      el("span", { className: change ? "change significant-text" : "change", text: changeText }),
    ),
  );
}
