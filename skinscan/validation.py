"""Validation studies: severity ladders, cross-talk, skin-tone fairness, repeatability.

Each study is a plain function returning plain records, used three ways: by the test suite (with
small sizes), by ``skinscan validate`` (the figures published in ``docs/validation.md``), and by
a clinic that wants the same figures on its own set-up.

- **Ladder**: a phantom patch with one concern raised through levels 0–4 and the others held at
  0. Severity must rise with the level (Spearman ρ), by enough to matter (rise in points), while
  the other concerns stay put (cross-talk = the largest move of another concern ÷ this one's).
- **Fairness**: the same ladders on light, medium and dark skin, side by side; and again with
  every level written as a camera writes it (8-bit, sensor noise, JPEG), on those tones and on
  very dark skin, where the separation of blood from melanin is most sensitive to the encoding.
- **Repeatability**: one scene re-photographed under capture perturbations
  (:mod:`skinscan.datasets.recapture`); the SD of each severity and the coefficient of variation
  of each measure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.datasets.recapture import RecaptureParams, apply_recapture, sample_recapture
from skinscan.measures import CONCERNS, measure_all
from skinscan.scoring import score

__all__ = [
    "CAPTURE",
    "CAPTURE_TONES",
    "MAX_PLAIN_SEVERITY",
    "TONE_GROUPS",
    "LadderResult",
    "RepeatabilityResult",
    "capture_markdown",
    "encode_as_captured",
    "face_ladder",
    "ladder",
    "ladder_markdown",
    "plain_skin",
    "repeatability",
    "repeatability_markdown",
    "repeatability_scene",
    "sample_faces",
    "severities",
    "validation_report",
]

#: Skin-tone groups of the fairness table → the phantom's tone presets.
TONE_GROUPS: dict[str, str] = {"light": "light", "medium": "intermediate", "dark": "dark"}
#: Tone groups of the capture study: the fairness groups and very dark skin (ITA° far below −30°).
CAPTURE_TONES: dict[str, str] = {**TONE_GROUPS, "very dark": "very_dark"}


#: How the capture study writes each phantom (:func:`encode_as_captured`): the middle of the
#: re-capture study's ranges (sensor noise σ 1–2 of 255, JPEG 88–95, with OpenCV's 4:2:0
#: chroma), without the exposure, colour and framing changes, so that the phantom's truth stays
#: aligned with the photo.
CAPTURE = RecaptureParams(
    exposure=1.0,
    white_balance=(1.0, 1.0, 1.0),
    shift_frac=(0.0, 0.0),
    rotation_deg=0.0,
    jpeg_quality=92,
    noise_sigma=1.5,
    noise_seed=0,
)


def encode_as_captured(
    linear_rgb: NDArray[np.floating], params: RecaptureParams = CAPTURE, *, seed: int = 0
) -> NDArray[np.float32]:
    """``linear_rgb`` as a camera writes it (``params``, with the noise drawn from ``seed``),
    decoded by :func:`skinscan.io.load_photo` and linearised: what the measures see of a JPEG."""
    from skinscan.colour_space import to_linear_float
    from skinscan.io import load_photo

    photo = load_photo(apply_recapture(linear_rgb, replace(params, noise_seed=seed)))
    return to_linear_float(photo.pixels, transfer=photo.transfer)


def severities(
    linear_rgb: NDArray[np.floating],
    regions: dict[str, NDArray[np.bool_]],
    *,
    mm_per_px: float | None,
) -> dict[str, float]:
    """Overall severity of each concern for a calibrated linear image and its regions."""
    results = measure_all(linear_rgb, regions, mm_per_px=mm_per_px)
    return {name: score(results[name])[0].severity for name in CONCERNS}


@dataclass(frozen=True)
class LadderResult:
    """Severity of every concern at each level of one concern's ladder on one skin tone."""

    concern: str
    tone: str
    severity: dict[str, list[float]]
    spearman: float
    rise: float
    cross_talk: float

    def passes(
        self, *, min_spearman: float = 0.95, min_rise: float = 10.0, max_cross: float = 0.3
    ) -> bool:
        return (
            self.spearman >= min_spearman and self.rise >= min_rise and self.cross_talk <= max_cross
        )


def _ladder_result(concern: str, tone: str, table: dict[str, list[float]]) -> LadderResult:
    """Spearman ρ, rise and cross-talk of one ladder's severities (levels in order)."""
    from scipy.stats import spearmanr

    own = np.asarray(table[concern])
    rho = float(spearmanr(np.arange(own.size), own).statistic) if np.ptp(own) > 0 else 0.0
    rise = float(own[-1] - own[0])
    others = [np.abs(np.asarray(table[n]) - table[n][0]).max() for n in CONCERNS if n != concern]
    cross = float(max(others) / abs(rise)) if rise != 0 else float("inf")
    return LadderResult(concern, tone, table, rho, rise, cross)


def ladder(
    concern: str,
    tone: str,
    *,
    levels: int = 5,
    size: tuple[int, int] = (400, 400),
    mm_per_px: float = 0.1,
    seed: int = 0,
    captured: bool = False,
) -> LadderResult:
    """Render ``concern`` at each level on a phantom patch of ``tone``; score every concern.

    Parameters
    ----------
    concern : {"redness", "pigment", "texture", "wrinkles"}
    tone : str
        A phantom tone preset (``skinscan.datasets.phantom.SKIN_TONES``).
    levels : int
        Ladder levels 0 … levels − 1.
    captured : bool
        Measure each level as a camera writes it (:func:`encode_as_captured`, a fresh draw of
        noise per level) instead of the rendered reflectance itself.
    """
    from skinscan.datasets.phantom import render_patch

    if concern not in CONCERNS:
        raise ValueError(f"unknown concern {concern!r}")
    table: dict[str, list[float]] = {name: [] for name in CONCERNS}
    for level in range(levels):
        phantom = render_patch(
            size=size, mm_per_px=mm_per_px, tone=tone, seed=seed, **{concern: level}
        )
        image = (
            encode_as_captured(phantom.linear_rgb, seed=seed * 101 + level)
            if captured
            else phantom.linear_rgb
        )
        found = severities(image, {"site": phantom.truth.skin}, mm_per_px=phantom.truth.mm_per_px)
        for name in CONCERNS:
            table[name].append(found[name])
    return _ladder_result(concern, tone, table)


def face_ladder(
    concern: str,
    face_rgb_u8: NDArray[np.uint8],
    *,
    levels: int = 5,
    seed: int = 0,
    assess: Callable[[NDArray[np.uint8]], Any] | None = None,
) -> LadderResult:
    """The ladder of :func:`ladder`, painted on a real face photo and run through ``assess``.

    The face is located once on the unpainted photo; each level is painted with
    :func:`skinscan.datasets.phantom.render_face` and assessed end to end (standardise, measure,
    score), as a clinic's photo would be.
    """
    from skinscan.datasets.phantom import render_face
    from skinscan.standardise.face import analyse_face, facial_skin

    if assess is None:
        from skinscan.pipeline import assess as assess_photo

        assess = assess_photo
    face = analyse_face(face_rgb_u8)
    if face is None:
        raise ValueError("no face found in the photo to paint on")
    landmarks = face.detection.landmarks
    skin = facial_skin(face_rgb_u8, landmarks)
    table: dict[str, list[float]] = {name: [] for name in CONCERNS}
    for level in range(levels):
        painted = render_face(
            face_rgb_u8,
            to_canonical=face.to_canonical,
            skin=skin,
            mm_per_px=face.mm_per_px,
            seed=seed,
            **{concern: level},
        )
        record = assess(painted.srgb_u8()).to_dict()
        if record["concerns"] is None:
            raise ValueError(f"level {level} was rejected by the quality gate")
        for name in CONCERNS:
            table[name].append(record["concerns"][name]["severity"])
    return _ladder_result(concern, "face", table)


def ladder_markdown(results: Sequence[LadderResult]) -> str:
    """The fairness table: one row per concern × tone."""
    lines = [
        "| concern | tone | severity at levels 0–4 | Spearman ρ | rise | cross-talk | meets |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        levels = ", ".join(f"{v:.1f}" for v in r.severity[r.concern])
        lines.append(
            f"| {r.concern} | {r.tone} | {levels} | {r.spearman:.2f} | {r.rise:.1f} | "
            f"{r.cross_talk:.2f} | {'yes' if r.passes() else '**no**'} |"
        )
    return "\n".join(lines)


#: Highest severity plain phantom skin (level 0 of a ladder) may read as captured: rendered, it
#: reads 0 for every concern, and the encoding must not make plain skin read as a concern.
MAX_PLAIN_SEVERITY = 10.0


def plain_skin(result: LadderResult) -> tuple[str, float]:
    """The concern that reads highest at level 0 of ``result``, and its severity."""
    name = max(CONCERNS, key=lambda n: result.severity[n][0])
    return name, float(result.severity[name][0])


def capture_markdown(results: Sequence[LadderResult]) -> str:
    """The capture study's table: :func:`ladder_markdown`'s columns and what plain skin (level 0)
    reads at most; it meets the criteria when the ladder does and that is at most
    :data:`MAX_PLAIN_SEVERITY`."""
    lines = [
        "| concern | tone | severity at levels 0–4 | Spearman ρ | rise | cross-talk "
        "| plain skin reads | meets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        levels = ", ".join(f"{v:.1f}" for v in r.severity[r.concern])
        name, plain = plain_skin(r)
        meets = r.passes() and plain <= MAX_PLAIN_SEVERITY
        lines.append(
            f"| {r.concern} | {r.tone} | {levels} | {r.spearman:.2f} | {r.rise:.1f} | "
            f"{r.cross_talk:.2f} | {name} {plain:.1f} | {'yes' if meets else '**no**'} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class RepeatabilityResult:
    """Spread of severities and measures over re-captures of one unchanged scene."""

    n: int
    severity_mean: dict[str, float]
    severity_sd: dict[str, float]
    measure_mean: dict[str, dict[str, float]]
    measure_sd: dict[str, dict[str, float]]
    rejected: int = 0
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def cv_pct(self, concern: str, measure: str) -> float:
        """Coefficient of variation of one measure, % (NaN when its mean is ~0)."""
        mean = self.measure_mean[concern][measure]
        sd = self.measure_sd[concern][measure]
        return float(100.0 * sd / abs(mean)) if abs(mean) > 1e-9 else float("nan")


def repeatability(
    scene_linear: NDArray[np.floating],
    *,
    n: int = 10,
    seed: int = 0,
    assess: Callable[[bytes], Any] | None = None,
) -> RepeatabilityResult:
    """Re-photograph ``scene_linear`` ``n`` times and assess each capture.

    Parameters
    ----------
    scene_linear : ndarray of shape (H, W, 3), float
        The unchanged scene (linear sRGB), e.g. a face beside a colour chart.
    n : int
        Number of re-captures.
    seed : int
        Seeds the perturbations.
    assess : callable, optional
        ``bytes -> Assessment``; default :func:`skinscan.assess`.
    """
    if assess is None:
        from skinscan.pipeline import assess as assess_photo

        assess = assess_photo
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    rejected = 0
    for _ in range(n):
        params = sample_recapture(rng)
        record = assess(apply_recapture(scene_linear, params)).to_dict()
        if record["concerns"] is None:
            rejected += 1
            continue
        records.append(record)
    if not records:
        raise ValueError("every re-capture was rejected by the quality gate")
    sev_mean: dict[str, float] = {}
    sev_sd: dict[str, float] = {}
    m_mean: dict[str, dict[str, float]] = {}
    m_sd: dict[str, dict[str, float]] = {}
    for name in CONCERNS:
        values = np.array([r["concerns"][name]["severity"] for r in records])
        sev_mean[name], sev_sd[name] = float(values.mean()), float(values.std(ddof=1))
        keys = records[0]["concerns"][name]["measures"]
        m_mean[name], m_sd[name] = {}, {}
        for key in keys:
            column = np.array(
                [r["concerns"][name]["measures"][key] for r in records], dtype=np.float64
            )
            m_mean[name][key] = float(np.nanmean(column))
            m_sd[name][key] = float(np.nanstd(column, ddof=1))
    return RepeatabilityResult(len(records), sev_mean, sev_sd, m_mean, m_sd, rejected, records)


def repeatability_markdown(result: RepeatabilityResult) -> str:
    """Per concern and measure: mean, SD and CV %; per concern: severity SD."""
    lines = [
        f"{result.n} re-captures ({result.rejected} rejected by the quality gate).",
        "",
        "| concern | severity mean | severity SD | SD ≤ 2 |",
        "|---|---|---|---|",
    ]
    for name in CONCERNS:
        sd = result.severity_sd[name]
        lines.append(
            f"| {name} | {result.severity_mean[name]:.1f} | {sd:.2f} | "
            f"{'yes' if sd <= 2.0 else '**no**'} |"
        )
    lines += ["", "| concern | measure | mean | SD | CV % |", "|---|---|---|---|---|"]
    for name in CONCERNS:
        for key, mean in result.measure_mean[name].items():
            cv = result.cv_pct(name, key)
            cv_text = "–" if np.isnan(cv) else f"{cv:.1f}"
            lines.append(
                f"| {name} | {key} | {mean:.3g} | {result.measure_sd[name][key]:.3g} | {cv_text} |"
            )
    return "\n".join(lines)


def repeatability_scene(face_rgb_u8: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A face beside a ColorChecker, linear sRGB: the scene :func:`repeatability` re-photographs.

    The frame is the face's height and 1.5 times as wide, so the face keeps its pixels.
    """
    from skinscan.colour_space import to_linear_float
    from skinscan.datasets.charts import render_colorchecker

    height = face_rgb_u8.shape[0]
    size = (height * 3 // 2, height)
    return to_linear_float(
        render_colorchecker(size=size, chart_fraction=0.25, face=face_rgb_u8, seed=0)
    )


def _tone_ladders(
    groups: dict[str, str], seed: int, say: Callable[[str], None], *, captured: bool = False
) -> list[LadderResult]:
    """Every concern's :func:`ladder` on each tone group's preset, labelled by the group."""
    results = []
    for concern in CONCERNS:
        for group, tone in groups.items():
            say(f"{'captured ' if captured else ''}ladder {concern} on {group}")
            result = ladder(concern, tone, seed=seed, captured=captured)
            results.append(replace(result, tone=group))
    return results


def validation_report(
    *,
    faces: dict[str, NDArray[np.uint8]],
    seed: int = 0,
    repeats: int = 10,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Run every study and return ``docs/validation.md``'s body (Markdown).

    Parameters
    ----------
    faces : dict of str to ndarray
        Named real face photos to paint ladders on and to re-photograph.
    seed : int
    repeats : int
        Re-captures per face in the repeatability study.
    progress : callable, optional
        Called with a short description before each study.
    """
    from skinscan.scoring import CALIBRATION_VERSION

    say = progress or (lambda _: None)
    sections = [
        "# Validation",
        "",
        f"Generated by `skinscan validate` (scoring calibration {CALIBRATION_VERSION}, "
        f"seed {seed}).",
        "Acceptance: Spearman ρ ≥ 0.95 between ladder level and severity, rise ≥ 10 points from "
        "level 0 to 4, cross-talk (largest move of another concern ÷ this one's rise) ≤ 0.3; "
        "severity SD ≤ 2 points over re-captures.",
        "",
        "## Phantom ladders by skin-tone group (fairness)",
        "",
    ]
    sections.append(ladder_markdown(_tone_ladders(TONE_GROUPS, seed, say)))
    sections += [
        "",
        "## Phantom ladders as a camera writes them",
        "",
        "The same ladders, each level written as 8-bit sRGB with sensor noise (σ 1.5 of 255) "
        "and saved as JPEG quality 92 (4:2:0 chroma), then read back: the middle of the "
        "re-capture study's ranges, without its exposure, colour and framing changes. Rendered, "
        f"plain skin (level 0) reads 0 for every concern; as captured it must read at most "
        f"{MAX_PLAIN_SEVERITY:.0f}. On very dark skin blood moves the colour about ten times less "
        "than on light skin, so the encoding's errors weigh ten times more in the blood map.",
        "",
    ]
    sections.append(capture_markdown(_tone_ladders(CAPTURE_TONES, seed, say, captured=True)))
    sections += ["", "## Ladders painted on real face photos", ""]
    for name, face in faces.items():
        face_results = []
        for concern in CONCERNS:
            say(f"face ladder {concern} on {name}")
            face_results.append(face_ladder(concern, face, seed=seed))
        sections += [f"### {name}", "", ladder_markdown(face_results), ""]
    sections += ["## Repeatability", ""]
    for name, face in faces.items():
        say(f"repeatability on {name}")
        result = repeatability(repeatability_scene(face), n=repeats, seed=seed)
        sections += [f"### {name}", "", repeatability_markdown(result), ""]
    return "\n".join(sections) + "\n"


def sample_faces() -> dict[str, NDArray[np.uint8]]:
    """Real face photos that installed packages ship, at a clinical-like face size.

    scikit-image's ``astronaut`` (NASA, public domain), cropped to the head and enlarged 5.2×
    (inter-pupil distance ≈ 220 px, ≈ 0.28 mm/px), with a camera's sensor noise (σ = 4 of 255,
    seeded) so that the enlargement does not read as blur to the quality gate.
    """
    import cv2
    from skimage import data

    head = data.astronaut()[30:300, 110:380]
    big = cv2.resize(head, (1400, 1400), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big += np.random.default_rng(0).normal(0.0, 4.0, big.shape).astype(np.float32)
    return {"astronaut": np.clip(np.round(big), 0, 255).astype(np.uint8)}
