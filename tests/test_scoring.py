"""Scoring: grade bins, clipped monotone maps, per-region scores, and the documented table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skinscan.measures import CONCERNS, MEASURE_KEYS, ConcernResult
from skinscan.scoring import (
    CALIBRATION_VERSION,
    SCORING_TABLE,
    Severity,
    grade_of,
    score,
    score_measures,
    scoring_table_markdown,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"


def result_of(concern: str, measures: dict[str, float], **regions: dict[str, float]):
    return ConcernResult(
        concern=concern,
        measures=measures,
        regions=dict(regions),
        map=np.zeros((2, 2), np.float32),
    )


def zeros(concern: str) -> dict[str, float]:
    return dict.fromkeys(MEASURE_KEYS[concern], 0.0)


@pytest.mark.parametrize(
    ("severity", "grade"),
    [
        (0.0, 0),
        (19.9, 0),
        (19.99, 0),
        (20.0, 1),
        (39.9, 1),
        (40.0, 2),
        (59.9, 2),
        (60.0, 3),
        (79.9, 3),
        (80.0, 4),
        (100.0, 4),
    ],
)
def test_grade_bin_edges(severity, grade) -> None:
    assert grade_of(severity) == grade


@pytest.mark.parametrize("bad", [-0.1, 100.1, float("nan"), float("inf")])
def test_grade_rejects_out_of_range(bad) -> None:
    with pytest.raises(ValueError, match="severity"):
        grade_of(bad)


def test_table_covers_every_concern_with_known_measures() -> None:
    assert set(SCORING_TABLE) == set(CONCERNS)
    for concern, table in SCORING_TABLE.items():
        keys = set(MEASURE_KEYS[concern])
        scored = {s.measure for s in table.scales}
        assert scored <= keys
        assert set(table.reported_only) == keys - scored
        for s in table.scales:
            assert s.at_100 > s.at_0
            assert s.weight > 0
            assert s.why


def test_absolute_colour_is_never_scored() -> None:
    scored = {s.measure for t in SCORING_TABLE.values() for s in t.scales}
    for absolute in ("a_star", "a_star_p90", "erythema_index", "ita_deg", "melanin_index"):
        assert absolute not in scored


@pytest.mark.parametrize("concern", CONCERNS)
def test_no_concern_scores_zero_and_full_concern_scores_100(concern) -> None:
    assert score_measures(concern, zeros(concern)) == Severity(0.0, 0)
    full = zeros(concern)
    for s in SCORING_TABLE[concern].scales:
        full[s.measure] = s.at_100 * 2
    assert score_measures(concern, full) == Severity(100.0, 4)


@pytest.mark.parametrize("concern", CONCERNS)
def test_severity_never_falls_when_a_measure_rises(concern) -> None:
    rng = np.random.default_rng(7)
    scales = SCORING_TABLE[concern].scales
    for _ in range(200):
        measures = zeros(concern)
        for s in scales:
            measures[s.measure] = float(rng.uniform(s.at_0 - 1, s.at_100 + 1))
        before = score_measures(concern, measures).severity
        s = scales[rng.integers(len(scales))]
        measures[s.measure] += float(rng.uniform(0, s.at_100 - s.at_0))
        assert score_measures(concern, measures).severity >= before


def test_severity_is_the_weighted_mean_rounded_to_one_decimal() -> None:
    measures = zeros("redness") | {"delta_hemoglobin": 0.2 + 2.3 / 3, "red_area_pct": 8.0}
    # delta_hemoglobin maps to 33.33…, red_area_pct to 20; equal weights.
    assert score_measures("redness", measures) == Severity(26.7, 1)


def test_wrinkle_depth_counts_only_with_wrinkle_length() -> None:
    deep = zeros("wrinkles") | {"depth_proxy": 12.0}
    assert score_measures("wrinkles", deep).severity == 0.0  # depth of nothing is nothing
    half = deep | {"length_mm_per_cm2": 1.5}
    full = deep | {"length_mm_per_cm2": 3.0}
    # length 1.5 → 15 × 0.5; depth 100 × 0.3 gated by 1.5 / 3 → 15: 22.5; at 3 mm/cm² 15 + 30.
    assert score_measures("wrinkles", half).severity == pytest.approx(22.5)
    assert score_measures("wrinkles", full).severity == pytest.approx(45.0)


def test_score_gives_overall_and_per_region() -> None:
    result = result_of(
        "wrinkles",
        zeros("wrinkles") | {"length_mm_per_cm2": 5.0},
        forehead=zeros("wrinkles") | {"length_mm_per_cm2": 10.0, "area_pct": 10.0},
        chin=zeros("wrinkles"),
    )
    overall, regions = score(result)
    assert overall == Severity(25.0, 1)
    assert regions == {"forehead": Severity(70.0, 3), "chin": Severity(0.0, 0)}


def test_missing_or_non_finite_measure_raises() -> None:
    measures = zeros("texture")
    del measures["roughness"]
    with pytest.raises(ValueError, match="roughness"):
        score_measures("texture", measures)
    with pytest.raises(ValueError, match="roughness"):
        score_measures("texture", zeros("texture") | {"roughness": float("nan")})
    with pytest.raises(KeyError):
        score_measures("acne", {})


def test_docs_hold_the_current_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert scoring_table_markdown() in text
    assert CALIBRATION_VERSION in text
