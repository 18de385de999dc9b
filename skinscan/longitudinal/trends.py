"""Trends over many visits: the rate of change of each concern, with its confidence interval.

The rate is the ordinary least-squares slope of severity on time, in points per 30 days, and
its 95 % interval uses Student's t with n − 2 degrees of freedom
(``slope ± t(0.975, n − 2) · SE``). A trend is called ``improving`` or ``worsening`` only when the
interval excludes zero; with two visits there is no interval (the change between them is the
comparison's business: :func:`skinscan.compare` and MDC95).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from skinscan.measures import CONCERNS

__all__ = ["DAYS_PER_UNIT", "Trend", "progress", "trend"]

#: Slopes are per this many days (about one month).
DAYS_PER_UNIT = 30.0

TrendDirection = Literal["improving", "worsening", "stable", "undetermined"]


@dataclass(frozen=True)
class Trend:
    """Least-squares rate of change of one series.

    Attributes
    ----------
    n : int
        Visits used (those with a value).
    span_days : float
        Days from the first to the last of them.
    slope_per_30_days : float or None
        Points per 30 days (None with fewer than two visits or all on one day).
    ci95 : tuple of float or None
        95 % confidence interval of the slope (None with fewer than three visits).
    direction : {"improving", "worsening", "stable", "undetermined"}
        ``worsening`` / ``improving`` when the interval lies above / below zero, ``stable`` when
        it contains zero, ``undetermined`` without an interval.
    """

    n: int
    span_days: float
    slope_per_30_days: float | None
    ci95: tuple[float, float] | None
    direction: TrendDirection

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "span_days": round(self.span_days, 2),
            "slope_per_30_days": None
            if self.slope_per_30_days is None
            else round(self.slope_per_30_days, 4),
            "ci95": None if self.ci95 is None else [round(v, 4) for v in self.ci95],
            "direction": self.direction,
        }


def _days(times: Sequence[datetime | float]) -> np.ndarray:
    if all(isinstance(t, datetime) for t in times):
        stamps = [t.timestamp() for t in times]  # type: ignore[union-attr]
        return (np.asarray(stamps, np.float64) - min(stamps)) / 86400.0
    if any(isinstance(t, datetime) for t in times):
        raise TypeError("times must be all datetimes or all numbers of days")
    return np.asarray(times, np.float64)


def trend(times: Sequence[datetime | float], values: Sequence[float | None]) -> Trend:
    """Rate of change of ``values`` over ``times``.

    Parameters
    ----------
    times : sequence of datetime or float
        When each value was taken (datetimes, or days as numbers).
    values : sequence of float or None
        The series (e.g. a concern's severity per visit); None or NaN entries are skipped.

    Returns
    -------
    Trend

    Examples
    --------
    >>> t = trend([0, 30, 60, 90], [40.0, 37.0, 34.5, 31.0])
    >>> round(t.slope_per_30_days, 2), t.direction
    (-2.95, 'improving')
    """
    if len(times) != len(values):
        raise ValueError(f"{len(times)} times but {len(values)} values")
    days = _days(times) if len(times) else np.zeros(0)
    y = np.array([np.nan if v is None else float(v) for v in values], np.float64)
    keep = np.isfinite(y) & np.isfinite(days)
    days, y = days[keep], y[keep]
    n = int(y.size)
    span = float(days.max() - days.min()) if n else 0.0
    if n < 2 or span <= 0.0:
        return Trend(n, span, None, None, "undetermined")
    x = days / DAYS_PER_UNIT
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    if n < 3:
        return Trend(n, span, slope, None, "undetermined")
    from scipy.stats import t as student_t

    residuals = y - (y_mean + slope * (x - x_mean))
    se = math.sqrt(float((residuals**2).sum()) / (n - 2) / sxx)
    half = float(student_t.ppf(0.975, n - 2)) * se
    low, high = slope - half, slope + half
    direction: TrendDirection = "worsening" if low > 0 else "improving" if high < 0 else "stable"
    return Trend(n, span, slope, (low, high), direction)


def progress(
    visits: Sequence[tuple[datetime, Mapping[str, Any]]],
    *,
    comparisons: Sequence[Mapping[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The progress view of one patient: per concern, the series, its trend and latest real change.

    Parameters
    ----------
    visits : sequence of (datetime, dict)
        Each visit's time and its ``skinscan.assessment/1`` record (``concerns`` may be None for
        a photo the quality gate rejected: it is left out of the series).
    comparisons : sequence of dict or None, optional
        ``skinscan.comparison/1`` of each assessed visit (``concerns`` not None) against the
        assessed visit before it, in time order: one fewer than the assessed visits (None where
        there is none). Default: computed here from the saved records with
        :func:`skinscan.compare`.

    Returns
    -------
    dict
        ``{concern: {"series": [{"taken_at", "severity", "grade"}], "trend": Trend.to_dict(),
        "latest_significant_change": {"from", "to", "delta", "mdc95", "direction"} or None}}``.
    """
    ordered = sorted(visits, key=lambda visit: visit[0])
    assessed = [visit for visit in ordered if visit[1].get("concerns") is not None]
    if comparisons is None:
        comparisons = _consecutive_comparisons(assessed)
    elif len(comparisons) != max(len(assessed) - 1, 0):
        raise ValueError("give one comparison per consecutive pair of assessed visits")
    out: dict[str, Any] = {}
    for name in CONCERNS:
        series: list[dict[str, Any]] = []
        for taken_at, record in ordered:
            concern = None if record.get("concerns") is None else record["concerns"][name]
            series.append(
                {
                    "taken_at": taken_at.isoformat(),
                    "severity": None if concern is None else concern["severity"],
                    "grade": None if concern is None else concern["grade"],
                }
            )
        latest = None
        for index in range(len(assessed) - 1, 0, -1):
            found = comparisons[index - 1]
            if found is None or found.get("concerns") is None:
                continue
            change = found["concerns"][name]
            if change["significant"]:
                latest = {
                    "from": assessed[index - 1][0].isoformat(),
                    "to": assessed[index][0].isoformat(),
                    "delta": change["delta"],
                    "mdc95": change["mdc95"],
                    "direction": change["direction"],
                }
                break
        result = trend([t for t, _ in ordered], [point["severity"] for point in series])
        out[name] = {
            "series": series,
            "trend": result.to_dict(),
            "latest_significant_change": latest,
        }
    return out


def _consecutive_comparisons(
    ordered: Sequence[tuple[datetime, Mapping[str, Any]]],
) -> list[dict[str, Any] | None]:
    from skinscan.longitudinal.compare import compare

    found: list[dict[str, Any] | None] = []
    for (_, first), (_, second) in itertools.pairwise(ordered):
        found.append(compare(first, second).to_dict())
    return found
