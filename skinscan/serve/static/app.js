// The clinician's page: plain browser JavaScript modules, no framework, no build step.
// It talks to /api/v1 with the key the clinician enters (Authorization: Bearer <key>); photos
// and overlays are fetched with the same key and shown as blob: URLs.

import { ApiError, errorText, makeClient } from "./api.js";
import { $, el, formatDate, formatNumber } from "./dom.js";
import { trendPlot } from "./trend.js";
import { CONCERNS, CONCERN_LABELS, renderFacts, renderQuality, renderScores } from "./visit.js";

const KEY_STORE = "skinscan.apiKey"; // sessionStorage: gone when the tab closes
const PATIENT_STORE = "skinscan.patient"; // sessionStorage: reopen after a reload
const RECENT_STORE = "skinscan.recentPatients"; // localStorage: there is no list endpoint
const RECENT_MAX = 8;
const OVERLAY_LABELS = Object.assign({}, CONCERN_LABELS, {
  regions: "Regions",
  calibrated: "Colour-corrected",
  calibration: "Colour chart",
});
const POLL_MS = [1000, 1000, 2000, 2000, 3000]; // then every 3 s

const state = {
  key: null,
  patient: null, // PatientPublic
  visit: null, // VisitPublic on display
  pollToken: 0,
  blobs: new Map(), // "visitId/name" -> object URL of an image fetched with the key
};

const api = makeClient(
  () => state.key,
  () => forgetKey("The key was not accepted (it may be mistyped or revoked). Enter it again."),
);

function say(id, text, kind) {
  const node = $(id);
  node.textContent = text || "";
  node.classList.toggle("error", kind === "error");
  node.classList.toggle("busy", kind === "busy");
}

// --- the key -------------------------------------------------------------------------------

function useKey(key) {
  state.key = key;
  sessionStorage.setItem(KEY_STORE, key);
  $("key-panel").hidden = true;
  $("key-status").hidden = false;
  $("patient-panel").hidden = false;
}

function forgetKey(reason) {
  state.key = null;
  sessionStorage.removeItem(KEY_STORE);
  $("key-status").hidden = true;
  $("key-panel").hidden = false;
  $("patient-panel").hidden = true;
  closePatient();
  const error = $("key-error");
  error.textContent = reason || "";
  error.hidden = !reason;
  $("key-input").value = "";
  $("key-input").focus();
}

// --- patients ------------------------------------------------------------------------------

function recentPatients() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_STORE) || "[]");
    return Array.isArray(list) ? list.filter((item) => item && item.id) : [];
  } catch (err) {
    return [];
  }
}

function rememberPatient(patient) {
  const list = recentPatients().filter((item) => item.id !== patient.id);
  list.unshift({ id: patient.id, external_id: patient.external_id });
  localStorage.setItem(RECENT_STORE, JSON.stringify(list.slice(0, RECENT_MAX)));
  renderRecent();
}

function forgetRecent(id) {
  const list = recentPatients().filter((item) => item.id !== id);
  localStorage.setItem(RECENT_STORE, JSON.stringify(list));
  renderRecent();
}

function renderRecent() {
  const list = $("recent-list");
  const items = recentPatients();
  list.replaceChildren(
    ...items.map((item) =>
      el(
        "li",
        {},
        el("button", {
          type: "button",
          className: "link",
          text: item.external_id || item.id,
          title: `Patient id ${item.id}`,
          onclick: () => openPatient(item.id),
        }),
        " ",
        el("button", {
          type: "button",
          className: "link quiet",
          text: "forget",
          "aria-label": `Forget ${item.external_id || item.id} from this list`,
          onclick: () => forgetRecent(item.id),
        }),
      ),
    ),
  );
  $("recent-empty").hidden = items.length > 0;
}

async function createPatient(externalId) {
  say("patient-message", "Creating…", "busy");
  try {
    const { body } = await api("/patients", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ external_id: externalId }),
    });
    say("patient-message", "");
    $("create-external-id").value = "";
    showPatient(body);
    await loadProgress();
  } catch (err) {
    say("patient-message", errorText(err), "error");
  }
}

async function openPatient(id) {
  say("patient-message", "Opening…", "busy");
  try {
    const { body } = await api(`/patients/${encodeURIComponent(id)}`);
    say("patient-message", "");
    showPatient(body);
    const visits = body.visits;
    if (visits.length) await openVisit(visits[visits.length - 1].id);
    await loadProgress();
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      say("patient-message", `No patient ${id} in your clinic.`, "error");
    } else {
      say("patient-message", errorText(err), "error");
    }
  }
}

async function refreshPatient() {
  if (!state.patient) return;
  const { body } = await api(`/patients/${encodeURIComponent(state.patient.id)}`);
  showPatient(body);
}

function showPatient(patient) {
  const changed = !state.patient || state.patient.id !== patient.id;
  state.patient = patient;
  sessionStorage.setItem(PATIENT_STORE, patient.id);
  rememberPatient(patient);
  $("patient-external").textContent = patient.external_id;
  $("patient-id").textContent = patient.id;
  $("patient-view").hidden = false;
  if (changed) {
    clearVisit();
    say("upload-message", "");
    $("trend-plots").replaceChildren();
    $("trend-empty").hidden = false;
  }
  renderVisits();
}

function closePatient() {
  state.patient = null;
  sessionStorage.removeItem(PATIENT_STORE);
  clearVisit();
  $("patient-view").hidden = true;
}

function renderVisits() {
  const visits = state.patient ? state.patient.visits : [];
  const rows = visits
    .slice()
    .reverse()
    .map((visit) => {
      const current = state.visit && state.visit.id === visit.id;
      const quality = visit.quality_ok === null ? "—" : visit.quality_ok ? "ok" : "rejected";
      const cells = CONCERNS.map((name) =>
        el("td", { className: "num", text: visit.severities ? formatNumber(visit.severities[name]) : "—" }),
      );
      return el(
        "tr",
        { "data-visit": visit.id, "aria-current": current ? "true" : null },
        el("td", { text: formatDate(visit.taken_at) }),
        el("td", {}, el("span", { className: `status status-${visit.status}`, text: visit.status })),
        el("td", { className: visit.quality_ok === false ? "bad" : "", text: quality }),
        ...cells,
        el(
          "td",
          {},
          el("button", {
            type: "button",
            className: "link",
            text: current ? "Shown" : "Show",
            "aria-label": `Show the visit of ${formatDate(visit.taken_at)}`,
            onclick: () => openVisit(visit.id),
          }),
        ),
      );
    });
  $("visits-table").tBodies[0].replaceChildren(...rows);
  $("visits-empty").hidden = visits.length > 0;
  $("visits-table").hidden = visits.length === 0;
}

// --- upload --------------------------------------------------------------------------------

function takenAtIso() {
  const value = $("taken-at").value;
  if (!value) return null;
  const date = new Date(value); // datetime-local is local time
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

async function upload(file) {
  if (!state.patient || !file) return;
  const form = new FormData();
  form.append("photo", file, file.name);
  const takenAt = takenAtIso();
  if (takenAt) form.append("taken_at", takenAt);
  say("upload-message", `Uploading ${file.name} and assessing it…`, "busy");
  $("drop-zone").setAttribute("aria-busy", "true");
  try {
    const { status, body } = await api(`/patients/${encodeURIComponent(state.patient.id)}/visits`, {
      method: "POST",
      body: form,
    });
    if (status === 200 || body.duplicate) {
      say(
        "upload-message",
        `This photo was already uploaded for this patient (visit of ${formatDate(body.taken_at)}): ` +
          "showing that visit.",
      );
    } else if (status === 202) {
      say("upload-message", `${file.name} received; the assessment is running.`, "busy");
    } else if (body.status === "failed") {
      say("upload-message", `${file.name} could not be assessed.`, "error");
    } else {
      say("upload-message", `${file.name} assessed.`);
    }
    $("taken-at").value = "";
    showVisit(body);
    await refreshPatient();
    await loadProgress();
  } catch (err) {
    say("upload-message", `${file.name}: ${errorText(err)}`, "error");
  } finally {
    $("drop-zone").removeAttribute("aria-busy");
    $("photo-input").value = "";
  }
}

function setUpDropZone() {
  const zone = $("drop-zone");
  const input = $("photo-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  input.addEventListener("change", () => {
    if (input.files && input.files.length) upload(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "dragend"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (!files || !files.length) return;
    if (files.length > 1) {
      say("upload-message", "One photo per visit: drop a single file.", "error");
      return;
    }
    upload(files[0]);
  });
  // A file dropped beside the zone must not make the browser navigate away from the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

// --- one visit -----------------------------------------------------------------------------

async function openVisit(id) {
  say("visit-message", "");
  try {
    const { body } = await api(`/visits/${encodeURIComponent(id)}`);
    showVisit(body);
  } catch (err) {
    $("visit-view").hidden = false;
    say("visit-message", errorText(err), "error");
  }
}

function clearVisit() {
  state.visit = null;
  state.pollToken += 1;
  for (const url of state.blobs.values()) URL.revokeObjectURL(url);
  state.blobs.clear();
  $("visit-view").hidden = true;
  $("photo-img").hidden = true;
  $("photo-img").removeAttribute("src");
  $("overlay-img").hidden = true;
  $("overlay-img").removeAttribute("src");
}

function showVisit(visit) {
  const sameVisit = state.visit && state.visit.id === visit.id;
  const hadMaps = sameVisit ? state.visit.maps.join() : null;
  if (!sameVisit) clearVisit();
  state.visit = visit;
  $("visit-view").hidden = false;
  $("visit-id").textContent = visit.id;
  $("visit-taken").textContent = formatDate(visit.taken_at);
  const status = $("visit-status");
  status.textContent = visit.status;
  status.className = `status status-${visit.status}`;
  $("visit-view").dataset.status = visit.status;
  $("visit-retry").hidden = !(visit.status === "failed" && visit.error && visit.error.retryable);

  if (visit.status === "failed" && visit.error) {
    say("visit-message", `Assessment failed: ${visit.error.message} [${visit.error.code}]`, "error");
  } else if (visit.status === "pending" || visit.status === "running") {
    say("visit-message", "Assessing the photo…", "busy");
  } else {
    say("visit-message", "");
  }
  renderScores(visit);
  renderQuality(visit);
  renderFacts(visit);
  if (!sameVisit) loadPhoto(visit);
  if (!sameVisit || hadMaps !== visit.maps.join()) renderOverlayOptions(visit);
  renderVisits();
  if (visit.status === "pending" || visit.status === "running") poll(visit.id);
}

async function poll(id) {
  const token = ++state.pollToken;
  for (let attempt = 0; ; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS[Math.min(attempt, POLL_MS.length - 1)]));
    if (token !== state.pollToken || !state.visit || state.visit.id !== id) return;
    let visit;
    try {
      visit = (await api(`/visits/${encodeURIComponent(id)}`)).body;
    } catch (err) {
      if (token === state.pollToken) say("visit-message", errorText(err), "error");
      return;
    }
    if (token !== state.pollToken) return;
    if (visit.status === "done" || visit.status === "failed") {
      showVisit(visit);
      if (visit.status === "done") say("upload-message", "Assessment finished.");
      await refreshPatient().catch(() => {});
      await loadProgress();
      return;
    }
  }
}

async function retryVisit() {
  if (!state.visit) return;
  say("visit-message", "Retrying…", "busy");
  try {
    const { body } = await api(`/visits/${encodeURIComponent(state.visit.id)}/retry`, { method: "POST" });
    showVisit(body);
    await refreshPatient();
    await loadProgress();
  } catch (err) {
    say("visit-message", errorText(err), "error");
  }
}

// --- photo and overlays --------------------------------------------------------------------

async function imageUrl(visitId, name, path) {
  const cacheKey = `${visitId}/${name}`;
  if (state.blobs.has(cacheKey)) return state.blobs.get(cacheKey);
  const { body } = await api(path, { blob: true, headers: { Accept: "image/*" } });
  const url = URL.createObjectURL(body);
  if (!state.visit || state.visit.id !== visitId) {
    URL.revokeObjectURL(url);
    return null;
  }
  state.blobs.set(cacheKey, url);
  return url;
}

async function loadPhoto(visit) {
  const img = $("photo-img");
  const placeholder = $("photo-placeholder");
  img.hidden = true;
  placeholder.hidden = false;
  placeholder.textContent = "Loading the photo…";
  try {
    const url = await imageUrl(visit.id, "photo", `/visits/${encodeURIComponent(visit.id)}/photo`);
    if (!url) return;
    img.src = url;
    img.alt = `Photo of the visit of ${formatDate(visit.taken_at)}`;
    img.hidden = false;
    placeholder.hidden = true;
  } catch (err) {
    placeholder.textContent =
      err instanceof ApiError && err.status === 404 ? "No display copy of this photo." : errorText(err);
  }
}

function overlayOrder(names) {
  const order = [...CONCERNS, "regions", "calibrated", "calibration"];
  return names.slice().sort((a, b) => {
    const ia = order.indexOf(a) < 0 ? order.length : order.indexOf(a);
    const ib = order.indexOf(b) < 0 ? order.length : order.indexOf(b);
    return ia - ib || a.localeCompare(b);
  });
}

function renderOverlayOptions(visit) {
  const box = $("overlay-options");
  const names = overlayOrder(visit.maps || []);
  const choices = [["", "None (photo)"], ...names.map((name) => [name, OVERLAY_LABELS[name] || name])];
  box.replaceChildren(
    ...choices.map(([name, label], index) => {
      const id = `overlay-${name || "none"}`;
      return el(
        "span",
        { className: "option" },
        el("input", {
          type: "radio",
          name: "overlay",
          id,
          value: name,
          checked: index === 0,
          onchange: () => selectOverlay(name),
        }),
        el("label", { for: id, text: label }),
      );
    }),
  );
  $("overlay-controls").disabled = names.length === 0;
  $("overlay-opacity").disabled = names.length === 0;
  selectOverlay("");
}

async function selectOverlay(name) {
  const overlay = $("overlay-img");
  const visit = state.visit;
  $("photo-frame").dataset.overlay = name;
  if (!name || !visit) {
    overlay.hidden = true;
    overlay.removeAttribute("src");
    return;
  }
  try {
    const url = await imageUrl(
      visit.id,
      `map:${name}`,
      `/visits/${encodeURIComponent(visit.id)}/maps/${encodeURIComponent(name)}`,
    );
    if (!url || $("photo-frame").dataset.overlay !== name) return;
    overlay.src = url;
    overlay.alt = `${OVERLAY_LABELS[name] || name} overlay`;
    overlay.hidden = false;
    applyOpacity();
  } catch (err) {
    say("visit-message", `Overlay ${name}: ${errorText(err)}`, "error");
  }
}

function applyOpacity() {
  $("overlay-img").style.opacity = String(Number($("overlay-opacity").value) / 100);
}

// --- progress ------------------------------------------------------------------------------

async function loadProgress() {
  if (!state.patient) return;
  const patientId = state.patient.id;
  try {
    const { body } = await api(`/patients/${encodeURIComponent(patientId)}/progress`);
    if (!state.patient || state.patient.id !== patientId) return;
    renderProgress(body);
  } catch (err) {
    $("trend-plots").replaceChildren(el("p", { className: "error", text: errorText(err) }));
  }
}

function renderProgress(progress) {
  const plots = CONCERNS.filter((name) => progress.concerns[name]).map((name) =>
    trendPlot(name, progress.concerns[name]),
  );
  $("trend-plots").replaceChildren(...plots);
  $("trend-empty").hidden = progress.visits > 0;
}

// --- start ---------------------------------------------------------------------------------

function start() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    $("key-error").hidden = true;
    useKey(key);
    $("key-input").value = "";
    $("create-external-id").focus();
  });
  $("key-forget").addEventListener("click", () => forgetKey(""));
  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("create-external-id").value.trim();
    if (value) createPatient(value);
  });
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("open-id").value.trim();
    if (value) openPatient(value).then(() => ($("open-id").value = ""));
  });
  $("patient-close").addEventListener("click", closePatient);
  $("visit-retry").addEventListener("click", retryVisit);
  $("overlay-opacity").addEventListener("input", applyOpacity);
  $("photo-zoom").addEventListener("click", () => {
    const zoomed = $("photo-frame").classList.toggle("zoomed");
    $("photo-zoom").setAttribute("aria-pressed", String(zoomed));
    $("photo-zoom").textContent = zoomed ? "Fit to frame" : "Actual size";
  });
  setUpDropZone();
  renderRecent();

  const key = sessionStorage.getItem(KEY_STORE);
  if (key) {
    useKey(key);
    const patientId = sessionStorage.getItem(PATIENT_STORE);
    if (patientId) openPatient(patientId);
  } else {
    $("key-input").focus();
  }
}

start();
