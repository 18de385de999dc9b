"""Trends over visits: least-squares slope per 30 days with a t-based 95 % interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from skinscan.longitudinal.trends import progress, trend


def test_an_exact_line_gives_its_slope_with_a_zero_width_interval() -> None:
    days = [0.0, 20.0, 45.0, 90.0]
    result = trend(days, [50.0 - 0.1 * d for d in days])
    assert result.slope_per_30_days == pytest.approx(-3.0)
    assert result.ci95 is not None
    assert result.ci95[1] - result.ci95[0] == pytest.approx(0.0, abs=1e-9)
    assert result.direction == "improving"
    assert result.span_days == 90.0


def test_the_interval_covers_the_true_slope_about_95_times_in_100() -> None:
    rng = np.random.default_rng(0)
    days = np.arange(0.0, 180.0, 30.0)
    covered = 0
    for _ in range(400):
        values = 30.0 + 0.05 * days + rng.normal(0.0, 2.0, days.size)
        ci = trend(days.tolist(), values.tolist()).ci95
        assert ci is not None
        covered += ci[0] <= 1.5 <= ci[1]
    assert 0.92 <= covered / 400 <= 0.98


def test_noise_without_drift_is_stable_and_a_clear_rise_is_worsening() -> None:
    rng = np.random.default_rng(1)
    days = np.linspace(0.0, 300.0, 8)
    flat = trend(days.tolist(), (40.0 + rng.normal(0.0, 0.5, 8)).tolist())
    assert flat.direction == "stable"
    assert flat.ci95 is not None
    assert flat.ci95[0] < 0.0 < flat.ci95[1]
    rising = trend(days.tolist(), (40.0 + 0.2 * days + rng.normal(0.0, 0.5, 8)).tolist())
    assert rising.direction == "worsening"
    assert rising.slope_per_30_days == pytest.approx(6.0, rel=0.1)


def test_datetimes_count_in_days_and_missing_values_are_skipped() -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    times = [start + timedelta(days=d) for d in (0, 30, 60, 90)]
    result = trend(times, [10.0, None, 16.0, float("nan")])
    assert result.n == 2
    assert result.slope_per_30_days == pytest.approx(3.0)
    assert result.ci95 is None
    assert result.direction == "undetermined"


@pytest.mark.parametrize(
    ("times", "values"),
    [([0.0], [1.0]), ([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]), ([], [])],
)
def test_too_little_data_gives_no_slope(times: list[float], values: list[float]) -> None:
    result = trend(times, values)
    assert result.slope_per_30_days is None
    assert result.direction == "undetermined"


def test_mismatched_series_are_refused() -> None:
    with pytest.raises(ValueError, match="2 times but 3 values"):
        trend([0.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        trend([datetime(2026, 1, 1, tzinfo=UTC), 3.0], [1.0, 2.0])


def _record(severities: dict[str, float] | None) -> dict[str, object]:
    concerns = (
        None
        if severities is None
        else {
            name: {"severity": value, "grade": int(value // 20)}
            for name, value in severities.items()
        }
    )
    return {"schema": "skinscan.assessment/1", "concerns": concerns}


def _comparison(significant: dict[str, tuple[float, str]]) -> dict[str, object]:
    concerns = {}
    for name in ("redness", "pigment", "texture", "wrinkles"):
        delta, direction = significant.get(name, (0.5, "unchanged"))
        concerns[name] = {
            "delta": delta,
            "mdc95": 3.0,
            "significant": name in significant,
            "direction": direction,
        }
    return {"schema": "skinscan.comparison/1", "concerns": concerns}


def test_progress_orders_visits_and_reports_the_latest_real_change() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    base = {"redness": 60.0, "pigment": 30.0, "texture": 20.0, "wrinkles": 10.0}
    visits = [
        (t0 + timedelta(days=60), _record({**base, "redness": 40.0})),
        (t0, _record(base)),
        (t0 + timedelta(days=45), _record(None)),  # rejected by the quality gate
        (t0 + timedelta(days=30), _record({**base, "redness": 50.0})),
    ]
    comparisons = [
        _comparison({"redness": (-10.0, "improved")}),
        _comparison({"redness": (-10.0, "improved"), "texture": (4.0, "worsened")}),
    ]
    view = progress(visits, comparisons=comparisons)
    redness = view["redness"]
    assert [p["severity"] for p in redness["series"]] == [60.0, 50.0, None, 40.0]
    assert redness["trend"]["slope_per_30_days"] == pytest.approx(-10.0)
    assert redness["latest_significant_change"]["to"] == (t0 + timedelta(days=60)).isoformat()
    assert view["texture"]["latest_significant_change"]["direction"] == "worsened"
    assert view["pigment"]["latest_significant_change"] is None
    with pytest.raises(ValueError, match="one comparison per consecutive pair"):
        progress(visits, comparisons=comparisons[:1])
