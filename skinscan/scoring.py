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

CALIBRATION_VERSION = "0.1.0"
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
    (``at_100 > at_0``: more of the measure is always more of the concern).
    """

    measure: str
    at_0: float
    at_100: float
    weight: float
    why: str

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
                measure="delta_a_star",
                at_0=0.5,
                at_100=5.0,
                weight=0.5,
                why="Mean a* above the person's baseline (25th percentile of all skin a*). Plain "
                "skin reads about 0.7 × the a* noise SD, hence 0.5 → 0. A mean of 5 is, e.g., "
                "40 % of the skin 12 units redder than baseline: widespread, marked redness.",
            ),
            MeasureScale(
                measure="red_area_pct",
                at_0=0.0,
                at_100=40.0,
                weight=0.5,
                why="Share of skin more than 6 a* units above baseline: a clearly visible rise, "
                "since colorimetric erythema grading works in steps of a few a* units (Fullerton "
                "et al. 1996). 40 % of the face is both cheeks, the nose and the chin: the "
                "widespread redness that photonumeric erythema scales call severe.",
            ),
        ),
        reported_only=("a_star", "a_star_p90", "erythema_index"),
        why="Absolute a* and the erythema index (Dawson et al. 1980; Diffey et al. 1984) rise "
        "with melanin as well as with blood, so they would score darker skin as redder; only "
        "differences from the person's own baseline skin are scored. Redness that is uniform "
        "over the whole face cannot be told from constitutive colour in one photo: the "
        "comparison between visits catches it.",
    ),
    "pigment": ConcernScoring(
        scales=(
            MeasureScale(
                measure="spot_area_pct",
                at_0=0.0,
                at_100=15.0,
                weight=0.5,
                why="Share of skin in spots (≥ 1 mm², ≥ 4 L* darker than the skin around them). "
                "MASI grades melasma area in bins of < 10 %, 10–29 %, 30–49 % … (Kimbrough-Green "
                "et al. 1994); discrete spots (lentigines, freckles) covering 15 % of the skin "
                "are dense. Provisional.",
            ),
            MeasureScale(
                measure="spot_contrast_de00",
                at_0=2.0,
                at_100=15.0,
                weight=0.2,
                why="Mean CIEDE2000 difference between spots and their surrounding skin (Sharma et "
                "al. 2005): about 2 is barely visible, 15 is a dark lentigo on light skin. "
                "Weighted less than area so that one dark spot stays a low grade.",
            ),
            MeasureScale(
                measure="evenness_sd",
                at_0=0.5,
                at_100=4.0,
                weight=0.3,
                why="Robust SD of L* between the 0.5 mm and 5 mm scales (mottling). Camera noise "
                "on plain skin reads below 0.5; 4 L* is strongly mottled skin.",
            ),
        ),
        reported_only=("ita_deg", "ita_category", "melanin_index", "spot_count"),
        why="ITA° (Chardon et al. 1991; Del Bino et al. 2006) and the melanin index describe skin "
        "tone, not a disorder, and are reported only: a darker person must not score higher "
        "for being darker. Every scored measure compares a pixel with the same person's skin a "
        "few millimetres around it. spot_count is not scored because it grows with the area "
        "photographed; spot_area_pct carries the same information per unit skin.",
    ),
    "texture": ConcernScoring(
        scales=(
            MeasureScale(
                measure="roughness",
                at_0=0.3,
                at_100=3.0,
                weight=0.7,
                why="Robust SD of the 0.2–1 mm band-pass of L*. Smooth skin photographed at the "
                "working resolution reads near the noise floor (< 0.3); 3 L* is coarse relief. "
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
        reported_only=("pore_mean_size_mm",),
        why="Both scored measures are in millimetres and in L* relative to the local skin, so "
        "resolution and shading do not enter. Pore size is reported, not yet scored: its mean "
        "is undefined without pores and not monotone in the amount of texture, which the "
        "severity must be. Limitation: relief shows as shadow, whose L* contrast scales with "
        "L* + 16, so the same relief reads about 0.6 times as rough on dark (L* 35) as on "
        "light (L* 70) skin.",
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
                at_100=15.0,
                weight=0.3,
                why="Mean L* contrast on the centre lines; the detector's floor is about 4 L*, and "
                "15 L* is a deep fold's shadow.",
            ),
        ),
        reported_only=("count", "mean_width_mm"),
        why="Length, area and depth all rise as wrinkles lengthen, multiply and deepen. Count is "
        "reported only (one long wrinkle is not milder than two short ones), and so is width. "
        "Limitation: as for texture, a fold's shadow contrast scales with L* + 16, so a faint "
        "fold on dark skin can fall below the detector's floor where it would not on light "
        "skin.",
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
        total += scale.weight * scale.severity(value)
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
