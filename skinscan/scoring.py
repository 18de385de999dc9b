"""Severity scores 0–100 and grades 0–4 from the measures of one concern.

A severity is the weighted mean of piecewise-linear, clipped maps of a few measures: each measure
maps to 0 at its ``at_0`` value and to 100 at its ``at_100`` value. Every map rises with the
amount of the concern, so the severity does too. Redness and pigment are scored only from measures
relative to the person's own skin, so the same change reads the same on every skin tone; absolute
colour (a*, erythema index, ITA°, melanin index) is reported by the measures but never scored.

:data:`SCORING_TABLE` holds the choices and their reasons; ``docs/scoring.md`` is rendered from it
by :func:`scoring_table_markdown`. :data:`CALIBRATION_VERSION` changes whenever a number in it
does, so stored severities can say which table made them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from skinscan.measures import ConcernResult

__all__ = [
    "CALIBRATION_VERSION",
    "GRADE_EDGES",
    "SCORING_TABLE",
    "ConcernScoring",
    "MeasureScale",
    "Severity",
    "grade_of",
    "score",
    "score_measures",
    "scoring_table_markdown",
]

CALIBRATION_VERSION = "0.3.1"
#: Lower edges of grades 1..4; grade 0 is [0, 20), grade 4 is [80, 100].
GRADE_EDGES = (20.0, 40.0, 60.0, 80.0)


@dataclass(frozen=True)
class Severity:
    """A severity on 0–100 (one decimal; 0 = none) and its grade 0–4."""

    severity: float
    grade: int


@dataclass(frozen=True)
class MeasureScale:
    """How one measure enters a concern's severity.

    ``at_0`` maps to 0 and ``at_100`` to 100, linearly in between and clipped outside
    (``at_100 > at_0``: more of the measure is always more of the concern). With a ``gate``
    ``(measure, full)``, the contribution is multiplied by ``min(1, gate value / full)``: a
    quality of the concern (how deep the wrinkles are) counts in proportion to how much of the
    concern there is, so one faint false detection cannot carry a high depth into the severity.
    """

    measure: str
    at_0: float
    at_100: float
    weight: float
    why: str
    gate: tuple[str, float] | None = None

    def severity(self, value: float) -> float:
        """The clipped linear map of ``value`` to 0–100."""
        return 100.0 * min(1.0, max(0.0, (value - self.at_0) / (self.at_100 - self.at_0)))


@dataclass(frozen=True)
class ConcernScoring:
    """The scored measures of one concern, what is reported only, and why."""

    scales: tuple[MeasureScale, ...]
    reported_only: tuple[str, ...]
    why: str


SCORING_TABLE: dict[str, ConcernScoring] = {
    "redness": ConcernScoring(
        scales=(
            MeasureScale(
                measure="red_area_pct",
                at_0=0.0,
                at_100=40.0,
                weight=0.5,
                why="Share of skin whose dermal blood (from the two-layer skin-colour separation) "
                "is more than 0.5 percentage points above the person's own baseline, graded to "
                "full weight at +1.5 points. 40 % of the face is both cheeks, the nose and the "
                "chin: the widespread redness that photonumeric erythema scales call severe.",
            ),
            MeasureScale(
                measure="delta_hemoglobin",
                at_0=0.2,
                at_100=2.5,
                weight=0.5,
                why="Mean dermal blood above the person's baseline, in volume-fraction points. "
                "Plain skin reads 0–0.3 (the baseline is the 40th percentile of the skin's "
                "band-limited blood); +2.5 points over "
                "the skin assessed is intense, widespread erythema. Unlike a*, this reads the "
                "same change alike on light and dark skin (docs/measures/redness.md).",
            ),
        ),
        reported_only=(
            "a_star",
            "a_star_p90",
            "erythema_index",
            "hemoglobin_mean",
            "delta_a_star",
        ),
        why="Absolute a*, the erythema index (Dawson et al. 1980; Diffey et al. 1984) and the "
        "absolute blood fraction rise with constitution as well as with inflammation, and a* "
        "also shrinks under melanin (the same blood change moves a* about eight times less on "
        "dark than on light skin): only changes of blood relative to the person's own baseline "
        "are scored. Redness that is uniform over the whole face cannot be told from "
        "constitutive colour in one photo: the comparison between visits catches it.",
    ),
    "pigment": ConcernScoring(
        scales=(
            MeasureScale(
                measure="spot_area_pct",
                at_0=0.0,
                at_100=15.0,
                weight=0.6,
                why="Share of skin in spots (≥ 1 mm², melanin ≥ 12 % above the skin a few "
                "millimetres around). MASI grades melasma area in bins of < 10 %, 10–29 %, "
                "30–49 % … (Kimbrough-Green et al. 1994); discrete spots covering 15 % of the "
                "skin are dense.",
            ),
            MeasureScale(
                measure="melanin_variation",
                at_0=0.03,
                at_100=0.25,
                weight=0.4,
                why="Spread of melanin between the 0.5 and 5 mm scales relative to the person's "
                "mean melanin (Antera 3D's 'variation'): a ratio, so it does not grow with "
                "constitutive pigmentation. Even skin reads about 0.02; 0.25 is strongly "
                "mottled.",
            ),
        ),
        reported_only=(
            "ita_deg",
            "ita_category",
            "melanin_index",
            "melanin_mean",
            "spot_count",
            "spot_contrast_de00",
            "evenness_sd",
        ),
        why="ITA° (Chardon et al. 1991; Del Bino et al. 2006), the melanin index and the mean "
        "melanin describe skin tone, not a disorder, and are reported only: a darker person "
        "must not score higher for being darker. Spot contrast (ΔE00) and evenness in L* are "
        "reported but not scored because both depend on the skin's lightness; the scored "
        "measures compare melanin with the same person's melanin around it. spot_count grows "
        "with the area photographed; spot_area_pct carries the same information per unit skin.",
    ),
    "texture": ConcernScoring(
        scales=(
            MeasureScale(
                measure="roughness",
                at_0=0.3,
                at_100=3.0,
                weight=0.7,
                why="RMS of the 0.2–1 mm band-pass of L*, expressed at a reference lightness of "
                "L* 50 and leaving out spots and wrinkles. Smooth skin photographed at the "
                "working resolution reads near the noise floor (< 0.3); 3 is coarse relief. "
                "Provisional until fitted to a photonumeric texture scale.",
            ),
            MeasureScale(
                measure="pore_density_per_cm2",
                at_0=5.0,
                at_100=80.0,
                weight=0.3,
                why="Visible pores (dark blobs of 0.1–0.5 mm radius) per cm². Pore counts vary "
                "with site, age and ethnicity (Flament et al. 2015); the range is provisional.",
            ),
        ),
        reported_only=("pore_mean_size_mm", "glcm_contrast", "glcm_homogeneity", "glcm_entropy"),
        why="Both scored measures are in millimetres and in contrast relative to the local "
        "skin, at a reference lightness (relief is shadow, whose L* contrast scales with "
        "L* + 16), so resolution, shading and skin tone do not enter. Pore size and the "
        "co-occurrence features (pyradiomics' definitions) are reported, not scored: pore size is "
        "undefined without pores and not monotone in the amount of texture, and GLCM contrast "
        "depends on the grid's resolution below 0.125 mm/px.",
    ),
    "wrinkles": ConcernScoring(
        scales=(
            MeasureScale(
                measure="length_mm_per_cm2",
                at_0=0.0,
                at_100=10.0,
                weight=0.5,
                why="Wrinkle centre-line length per skin area, the main output of automatic "
                "wrinkle detectors (Cula et al. 2013; Ng et al. 2014). 10 mm/cm² is, e.g., five "
                "forehead-wide lines of 100 mm on a 50 cm² forehead.",
            ),
            MeasureScale(
                measure="area_pct",
                at_0=0.0,
                at_100=10.0,
                weight=0.2,
                why="Share of skin inside wrinkles (full width at half depth); 10 % is deep, wide "
                "folds over much of the region.",
            ),
            MeasureScale(
                measure="depth_proxy",
                at_0=3.0,
                at_100=12.0,
                weight=0.3,
                why="Mean top-hat depth on the centre lines, in L* at a reference lightness of "
                "50 (so the same fold scores alike on every tone); the detector's floor is "
                "about 3, and 12 is a deep fold's shadow. Counts in proportion to the length "
                "up to 3 mm/cm², so that depth alone never makes a wrinkle severity.",
                gate=("length_mm_per_cm2", 3.0),
            ),
        ),
        reported_only=("count", "mean_width_mm"),
        why="Length, area and depth all rise as wrinkles lengthen, multiply and deepen. Count is "
        "reported only (one long wrinkle is not milder than two short ones), and so is width. "
        "The detector thresholds a Weber contrast and depth is expressed at a reference "
        "lightness, so the same fold scores alike on every tone.",
    ),
}


def grade_of(severity: float) -> int:
    """Grade 0–4 of a severity: [0, 20) → 0, [20, 40) → 1, …, [80, 100] → 4.

    Five bins, like the 0–4 photonumeric scales clinicians grade against.

    Raises
    ------
    ValueError
        ``severity`` outside [0, 100] or NaN.

    Examples
    --------
    >>> grade_of(0.0), grade_of(19.9), grade_of(20.0), grade_of(100.0)
    (0, 0, 1, 4)
    """
    if not 0.0 <= severity <= 100.0:
        raise ValueError(f"severity must lie in [0, 100], not {severity!r}")
    return sum(severity >= edge for edge in GRADE_EDGES)


def score_measures(concern: str, measures: dict[str, float]) -> Severity:
    """Severity of one set of measures (the whole skin, or one region) of ``concern``.

    Raises
    ------
    KeyError
        Unknown concern.
    ValueError
        A scored measure is missing or not finite.
    """
    table = SCORING_TABLE[concern]
    total = weights = 0.0
    for scale in table.scales:
        value = measures.get(scale.measure)
        if value is None or not math.isfinite(value):
            raise ValueError(f"{concern}: measure {scale.measure!r} is missing or not finite")
        part = scale.severity(value)
        if scale.gate is not None:
            gate_value = measures.get(scale.gate[0])
            if gate_value is None or not math.isfinite(gate_value):
                raise ValueError(f"{concern}: measure {scale.gate[0]!r} is missing or not finite")
            part *= min(1.0, max(0.0, gate_value / scale.gate[1]))
        total += scale.weight * part
        weights += scale.weight
    severity = round(total / weights, 1)
    return Severity(severity=severity, grade=grade_of(severity))


def score(result: ConcernResult) -> tuple[Severity, dict[str, Severity]]:
    """Overall and per-region severity of one concern's measures.

    Parameters
    ----------
    result : ConcernResult
        From :mod:`skinscan.measures`.

    Returns
    -------
    overall : Severity
        From ``result.measures`` (the union of the regions).
    regions : dict of str to Severity
        One per region in ``result.regions``, with the same table.
    """
    overall = score_measures(result.concern, result.measures)
    regions = {name: score_measures(result.concern, m) for name, m in result.regions.items()}
    return overall, regions


def scoring_table_markdown() -> str:
    """The scoring table as Markdown (the generated part of ``docs/scoring.md``)."""
    lines = [
        f"Calibration version **{CALIBRATION_VERSION}**.",
        "",
        "| concern | measure | severity 0 at | severity 100 at | weight | why |",
        "|---|---|---|---|---|---|",
    ]
    for concern, table in SCORING_TABLE.items():
        total = sum(s.weight for s in table.scales)
        for s in table.scales:
            share = f"{s.weight / total:.0%}"
            lines.append(
                f"| {concern} | `{s.measure}` | {s.at_0:g} | {s.at_100:g} | {share} | {s.why} |"
            )
    lines += ["", "Reported, not scored:", ""]
    for concern, table in SCORING_TABLE.items():
        names = ", ".join(f"`{m}`" for m in table.reported_only)
        lines.append(f"- **{concern}**: {names}. {table.why}")
    return "\n".join(lines) + "\n"
