"""The clinician's page in a real browser: headless Chromium against the real service.

The service runs with uvicorn in a background thread on SQLite in a temporary data folder; the
browser enters a clinician key, creates a patient, uploads real face photos through the page
and reads back what the page shows.
"""

from __future__ import annotations

import base64
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skinscan.serve.page import STATIC_DIR, mount_page

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").is_file():
    CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium executable (install Debian's `chromium` package)"
)

CONCERNS = ("redness", "pigment", "texture", "wrinkles")
REPO = Path(__file__).resolve().parents[2]
CHART_PHOTO = REPO / "datasets" / "samples" / "faces" / "astronaut_chart.jpg"
ASSESS_TIMEOUT_MS = 45_000


@dataclass(frozen=True)
class Service:
    url: str
    key: str

    def get(self, path: str) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.key}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real app (one worker, answering 202 at once) on a free port of 127.0.0.1."""
    import uvicorn

    from skinscan.serve import Settings, create_app
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import create_key

    data_dir = tmp_path_factory.mktemp("skinscan-data")
    # sync_wait_s=0: every upload answers 202, so the page's polling is what shows the scores.
    settings = Settings(data_dir=data_dir, environment="test", workers=1, sync_wait_s=0.0)
    with database_session(settings) as session:
        _, key = create_key(session, "Page test clinic", "clinician")
    app = create_app(settings)
    if not any(getattr(route, "path", None) == "/" for route in app.routes):
        mount_page(app)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    try:
        yield Service(f"http://127.0.0.1:{port}", key)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"]
        )
        try:
            yield browser
        finally:
            browser.close()


def test_page_is_served_outside_the_api_schema(service: Service) -> None:
    page = httpx.get(f"{service.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in sorted(path.name for path in STATIC_DIR.iterdir() if path.name != "index.html"):
        answer = httpx.get(f"{service.url}/static/{asset}", timeout=10)
        assert answer.status_code == 200, asset
        assert answer.content == (STATIC_DIR / asset).read_bytes()
    script_type = httpx.get(f"{service.url}/static/app.js", timeout=10).headers["content-type"]
    assert script_type.split(";")[0] in ("text/javascript", "application/javascript")
    paths = httpx.get(f"{service.url}/openapi.json", timeout=10).json()["paths"]
    assert all(path.startswith("/api/v1/") or path == "/healthz" for path in paths)


def _scores_on_page(page: Any) -> dict[str, tuple[str, str]]:
    rows = page.locator("#scores tbody tr")
    out = {}
    for index in range(rows.count()):
        row = rows.nth(index)
        out[row.get_attribute("data-concern")] = (
            row.locator("td.severity").inner_text().strip(),
            row.locator("td.grade").inner_text().strip(),
        )
    return out


def _choose_with_keyboard(page: Any, photo: Path) -> None:
    """Focus the drop zone, press Enter, and pick ``photo`` in the file chooser it opens."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload a photo").press("Enter")
    chooser.value.set_files(str(photo))


def _choose_with_input(page: Any, photo: Path) -> None:
    page.locator("#photo-input").set_input_files(str(photo))


def _drop(page: Any, photo: Path) -> None:
    """Drop ``photo`` on the drop zone, the way a file dragged from the desktop arrives."""
    transfer = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            return transfer;
        }""",
        [base64.b64encode(photo.read_bytes()).decode("ascii"), photo.name],
    )
    page.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": transfer})


def _upload(page: Any, photo: Path, choose: Callable[[Any, Path], None]) -> str:
    """Upload through the page; returns the visit id once its scores show."""
    previous = page.locator("#visit-id").inner_text()
    choose(page, photo)
    page.wait_for_function(
        """previous => {
            const view = document.getElementById("visit-view");
            return !view.hidden && view.dataset.status === "done"
                && document.getElementById("visit-id").textContent !== previous
                && document.getElementById("scores").dataset.ready === "true";
        }""",
        arg=previous,
        timeout=ASSESS_TIMEOUT_MS,
    )
    return page.locator("#visit-id").inner_text().strip()


@pytest.fixture(scope="module")
def face_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample face (skinscan.validation) as a JPEG file."""
    import cv2

    from skinscan.validation import sample_faces

    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    rgb = sample_faces()["astronaut"]
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def blurred_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample face blurred past the quality gate's limit."""
    import cv2

    from skinscan.validation import sample_faces

    path = tmp_path_factory.mktemp("photos") / "blurred.jpg"
    rgb = cv2.GaussianBlur(sample_faces()["astronaut"], (0, 0), 12)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_upload_through_the_page_shows_scores_overlays_and_trend(
    service: Service, browser: Any, face_jpeg: Path, blurred_jpeg: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include Content-Security-Policy violations and failed requests.
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        page.goto(f"{service.url}/")

        page.get_by_label("Clinician key").fill(service.key)
        page.get_by_role("button", name="Use key").click()
        page.get_by_label("Clinic's patient identifier").fill("PAGE-0001")
        page.get_by_role("button", name="Create patient").click()
        page.wait_for_selector("#patient-view:not([hidden])")
        patient_id = page.locator("#patient-id").inner_text().strip()
        assert page.locator("#patient-external").inner_text() == "PAGE-0001"

        # First visit, dated in the past; the polling after the 202 brings its scores.
        page.locator("#taken-at").fill("2025-01-15T10:00:00")
        first = _upload(page, face_jpeg, _choose_with_keyboard)
        visit = service.get(f"/visits/{first}")
        assert visit["patient_id"] == patient_id
        concerns = visit["assessment"]["concerns"]
        shown = _scores_on_page(page)
        assert set(shown) == set(CONCERNS)
        for name in CONCERNS:
            severity, grade = shown[name]
            assert float(severity) == pytest.approx(concerns[name]["severity"], abs=0.05)
            assert int(grade) == concerns[name]["grade"]
            assert 0 <= int(grade) <= 4

        # The display photo and an overlay arrive with the key, as blob: images that decode.
        page.wait_for_function(
            "() => { const i = document.getElementById('photo-img');"
            " return !i.hidden && i.complete && i.naturalWidth > 0; }"
        )
        page.get_by_label("Redness", exact=True).check()
        page.wait_for_function(
            "() => { const i = document.getElementById('overlay-img');"
            " return !i.hidden && i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0; }"
        )
        page.get_by_label("Regions", exact=True).check()
        page.wait_for_function(
            "() => document.getElementById('photo-frame').dataset.overlay"
            " === 'regions' && !document.getElementById('overlay-img').hidden"
        )
        page.get_by_label("None (photo)").check()
        assert page.locator("#overlay-img").is_hidden()

        # Second visit, now: every concern's plot has two points.
        second = _upload(page, CHART_PHOTO, _choose_with_input)
        assert second != first
        for name in CONCERNS:
            points = page.locator(f'svg.trend[data-concern="{name}"] circle.point')
            points.nth(1).wait_for(state="attached", timeout=10_000)
            assert points.count() == 2
        progress = service.get(f"/patients/{patient_id}/progress")
        for name in CONCERNS:
            series = progress["concerns"][name]["series"]
            drawn = page.locator(f'svg.trend[data-concern="{name}"] circle.point')
            assert [float(drawn.nth(i).get_attribute("data-severity")) for i in range(2)] == [
                pytest.approx(point["severity"]) for point in series
            ]
            marked = page.locator(f'svg.trend[data-concern="{name}"] .significant-marker')
            assert marked.count() == int(
                progress["concerns"][name]["latest_significant_change"] is not None
            )
        rows = page.locator("#visits-table tbody tr")
        assert rows.count() == 2

        # Dropping the same bytes again answers 200 with the existing visit.
        _drop(page, CHART_PHOTO)
        page.wait_for_function(
            "() => document.getElementById('upload-message').textContent.includes('already')"
        )
        assert page.locator("#visit-id").inner_text().strip() == second
        assert rows.count() == 2

        # A photo the quality gate rejects: no scores, the issue shown, a cross on each plot.
        _choose_with_input(page, blurred_jpeg)
        page.wait_for_function(
            "() => document.getElementById('visit-view').dataset.status === 'done'"
            " && document.getElementById('scores').dataset.ready === 'false'",
            timeout=ASSESS_TIMEOUT_MS,
        )
        assert page.locator("#quality-verdict").inner_text().startswith("Rejected")
        assert page.locator('#quality-issues li[data-code="blur"]').count() == 1
        assert _scores_on_page(page)["redness"] == ("—", "—")
        page.locator('svg.trend[data-concern="redness"] .rejected').wait_for(state="attached")
        assert page.locator('svg.trend[data-concern="redness"] circle.point').count() == 2
        assert rows.count() == 3
        assert not errors, errors
    finally:
        context.close()


def test_significant_change_is_marked(service: Service, browser: Any) -> None:
    """A real treatment course (painted erythema 3 → 2 → 0): the page marks its real change."""
    from skinscan.serve.demo import demo_visits

    headers = {"Authorization": f"Bearer {service.key}"}
    created = httpx.post(
        f"{service.url}/api/v1/patients",
        json={"external_id": "PAGE-0002"},
        headers=headers,
        timeout=10,
    )
    patient_id = created.json()["id"]
    for taken_at, photo in demo_visits():
        answer = httpx.post(
            f"{service.url}/api/v1/patients/{patient_id}/visits",
            files={"photo": ("visit.jpg", photo, "image/jpeg")},
            data={"taken_at": taken_at.isoformat()},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code in (201, 202), answer.text
        visit_id = answer.json()["id"]
        deadline = time.monotonic() + 60
        while httpx.get(
            f"{service.url}/api/v1/visits/{visit_id}", headers=headers, timeout=10
        ).json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the visit was not assessed in time"
            time.sleep(0.2)
    progress = httpx.get(
        f"{service.url}/api/v1/patients/{patient_id}/progress", headers=headers, timeout=30
    ).json()["concerns"]
    change = progress["redness"]["latest_significant_change"]
    assert change is not None, progress["redness"]
    assert change["direction"] == "improved"

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{service.url}/")
        page.get_by_label("Clinician key").fill(service.key)
        page.get_by_role("button", name="Use key").click()
        page.get_by_label("Patient id", exact=True).fill(patient_id)
        page.get_by_role("button", name="Open", exact=True).click()
        redness = page.locator('svg.trend[data-concern="redness"]')
        redness.wait_for()
        assert redness.locator("circle.point").count() == 3
        assert redness.locator("line.significant.improved").count() == 1
        assert redness.locator("circle.significant-marker").count() == 1
        caption = page.locator('figure.plot[data-concern="redness"] figcaption').inner_text()
        assert f"{change['delta']:.1f}" in caption
        assert f"MDC95 {change['mdc95']:.1f}" in caption
        for name in CONCERNS:
            marked = page.locator(f'svg.trend[data-concern="{name}"] .significant-marker').count()
            assert marked == (progress[name]["latest_significant_change"] is not None), name
    finally:
        context.close()
