// One visit's results: the four scores with grades, the quality gate's verdict, and facts.

import { $, capitalise, el, formatNumber } from "./dom.js";

export const CONCERNS = ["redness", "pigment", "texture", "wrinkles"];
export const CONCERN_LABELS = {
  redness: "Redness",
  pigment: "Pigment",
  texture: "Texture",
  wrinkles: "Wrinkles",
};

export function renderScores(visit) {
  const table = $("scores");
  const concerns = visit.assessment ? visit.assessment.concerns : null;
  const rows = CONCERNS.map((name) => {
    const score = concerns ? concerns[name] : null;
    const severity = score ? score.severity : null;
    const grade = score ? score.grade : null;
    const label = CONCERN_LABELS[name];
    return el(
      "tr",
      { "data-concern": name, className: grade === null ? "" : `grade-${grade}` },
      el("th", { scope: "row", text: label }),
      el("td", { className: "num severity", text: formatNumber(severity) }),
      el("td", { className: "num grade", text: grade === null ? "—" : String(grade) }),
      el(
        "td",
        {},
        severity === null
          ? null
          : el("meter", {
              min: "0",
              max: "100",
              low: "40",
              high: "60",
              optimum: "0",
              value: String(severity),
              "aria-label": `${label} severity ${formatNumber(severity)} of 100`,
            }),
      ),
    );
  });
  table.tBodies[0].replaceChildren(...rows);
  table.dataset.ready = concerns ? "true" : "false";
}

export function renderQuality(visit) {
  const box = $("quality");
  const verdict = $("quality-verdict");
  const list = $("quality-issues");
  const quality = visit.assessment ? visit.assessment.quality : null;
  box.hidden = !quality;
  if (!quality) return;
  box.classList.toggle("rejected", !quality.ok);
  verdict.textContent = quality.ok
    ? quality.issues.length
      ? "Accepted, with warnings:"
      : "Accepted."
    : "Rejected by the quality gate: no scores for this photo. Retake it following the protocol.";
  list.replaceChildren(
    ...quality.issues.map((issue) => {
      // The message already states the value and its limit in the right units.
      const figures =
        !issue.message && typeof issue.value === "number" && typeof issue.limit === "number"
          ? `${formatNumber(issue.value)} (limit ${formatNumber(issue.limit)})`
          : "";
      return el(
        "li",
        { className: `issue issue-${issue.level}`, "data-code": issue.code },
        el("strong", { text: `${capitalise(issue.level)}: ` }),
        `${issue.message || figures} [${issue.code}]`,
      );
    }),
  );
}

export function renderFacts(visit) {
  const facts = $("visit-facts");
  const record = visit.assessment;
  if (!record) {
    facts.replaceChildren();
    return;
  }
  const entries = [];
  if (record.calibration) {
    const de = record.calibration.delta_e00;
    entries.push([
      "Colour calibration",
      `${record.calibration.method}${typeof de === "number" ? `, ΔE00 ${formatNumber(de, 2)}` : ""}`,
    ]);
  }
  if (record.face) {
    const pose = record.face.pose_deg;
    entries.push([
      "Face",
      record.face.found
        ? `found${pose ? `; yaw ${formatNumber(pose.yaw)}°, pitch ${formatNumber(pose.pitch)}°, roll ${formatNumber(pose.roll)}°` : ""}`
        : "not found (assessed as one skin site)",
    ]);
    if (typeof record.face.mm_per_px === "number") {
      entries.push(["Scale", `${formatNumber(record.face.mm_per_px, 3)} mm per pixel`]);
    }
  }
  if (Array.isArray(record.models) && record.models.length) {
    entries.push(["Models", record.models.map((m) => `${m.name} ${m.version}`).join(", ")]);
  }
  facts.replaceChildren(...entries.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
}
