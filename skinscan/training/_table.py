"""The result of an evaluation: metrics overall and per skin-tone group (public via ``metrics``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table

__all__ = ["OVERALL", "MetricTable"]

#: Key of the whole dataset among the groups.
OVERALL = "all"
_LOWER_IS_BETTER = ("mae",)


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class MetricTable:
    """Metrics of one evaluation, overall and per skin-tone group.

    Attributes
    ----------
    task : {"segmentation", "severity"}
    primary : str
        The metric a model is selected by (``mean/dice``, ``mean/mae``).
    metrics : dict of str to dict of str to float
        ``metrics[group][name]``; the group :data:`OVERALL` (``"all"``) is the whole dataset,
        the others are skin-tone groups that had samples. NaN where undefined.
    counts : dict of str to int
        Samples per group (same keys).

    Examples
    --------
    >>> table = MetricTable("severity", "mean/mae", {"all": {"mean/mae": 4.0}}, {"all": 10})
    >>> table.score, table.to_dict()["overall"]
    (-4.0, {'n': 10, 'mean/mae': 4.0})
    """

    task: str
    primary: str
    metrics: dict[str, dict[str, float]]
    counts: dict[str, int]

    @property
    def overall(self) -> dict[str, float]:
        """The metrics of the whole dataset."""
        return self.metrics[OVERALL]

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is a better model (False for errors)."""
        return self.primary.rsplit("/", 1)[-1] not in _LOWER_IS_BETTER

    @property
    def score(self) -> float:
        """The primary metric, negated for errors, so that higher is always better (NaN → −inf)."""
        value = self.overall.get(self.primary, math.nan)
        if not math.isfinite(value):
            return -math.inf
        return value if self.higher_is_better else -value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN → None) for bundle metadata and ``--json`` output.

        Keys: ``task``, ``primary``, ``n``, ``overall`` (``{"n": count, **metrics}``) and
        ``by_skin_tone`` (group → ``{"n": count, **metrics}``).
        """
        return {
            "task": self.task,
            "primary": self.primary,
            "n": self.counts.get(OVERALL, 0),
            "overall": {
                "n": self.counts.get(OVERALL, 0),
                **{k: _clean(v) for k, v in self.overall.items()},
            },
            "by_skin_tone": {
                group: {"n": self.counts.get(group, 0), **{k: _clean(v) for k, v in values.items()}}
                for group, values in self.metrics.items()
                if group != OVERALL
            },
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> MetricTable:
        """Inverse of :meth:`to_dict` (None → NaN)."""

        def floats(values: Mapping[str, Any]) -> dict[str, float]:
            return {k: math.nan if v is None else float(v) for k, v in values.items() if k != "n"}

        metrics = {OVERALL: floats(record["overall"])}
        counts = {OVERALL: int(record.get("n", 0))}
        for group, values in record.get("by_skin_tone", {}).items():
            metrics[group] = floats(values)
            counts[group] = int(values.get("n", 0))
        return cls(str(record["task"]), str(record["primary"]), metrics, counts)

    def to_rich(self, *, title: str | None = None) -> Table:
        """A Rich table: one row per metric, one column per group (``all`` first), n on top."""
        table = Table(title=title or f"{self.task} metrics")
        table.add_column("metric")
        groups = list(self.metrics)
        for group in groups:
            table.add_column(group, justify="right")
        table.add_row("n", *(str(self.counts.get(g, 0)) for g in groups), end_section=True)
        for name in self.overall:
            cells = []
            for group in groups:
                value = self.metrics[group].get(name, math.nan)
                cells.append("–" if not math.isfinite(value) else f"{value:.3f}")
            label = f"[bold]{name}[/]" if name == self.primary else name
            table.add_row(label, *cells)
        return table

    def __rich__(self) -> Table:
        return self.to_rich()
