"""Accumulators of metric statistics per skin-tone group (public through ``metrics``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.models.contract import SKIN_TONE_GROUPS
from skinscan.training._counts import (
    N_GRADES,
    confusion_counts,
    f1_of_counts,
    grades_of,
    kappa_of_matrix,
    per_image,
    planes,
    ratio,
)
from skinscan.training._table import OVERALL, MetricTable

__all__ = ["SegmentationAccumulator", "SeverityAccumulator"]

Floats = NDArray[np.float64]


def _group_index(tones: Sequence[str], groups: tuple[str, ...]) -> NDArray[np.intp]:
    lookup = {name: k for k, name in enumerate(groups)}
    unknown = [tone for tone in tones if tone not in lookup]
    if unknown:
        raise ValueError(f"unknown skin-tone group {unknown[0]!r}; expected one of {groups}")
    return np.fromiter((lookup[tone] for tone in tones), np.intp, len(tones))


def _mean_finite(values: Floats) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


class _Accumulator:
    """Named arrays of sums whose first axis is the skin-tone group."""

    groups: tuple[str, ...]
    sums: dict[str, Floats]
    task: str
    primary: str

    def to_vector(self) -> Floats:
        """All sums as one float64 vector, for an all-reduce (sum) across processes."""
        return np.concatenate([array.ravel() for array in self.sums.values()])

    def load_vector(self, vector: ArrayLike) -> None:
        """Replace the sums with a vector of :meth:`to_vector`'s layout (e.g. all-reduced)."""
        flat = np.asarray(vector, np.float64).ravel()
        expected = sum(array.size for array in self.sums.values())
        if flat.size != expected:
            raise ValueError(f"expected a vector of {expected} sums, not {flat.size}")
        start = 0
        for name, array in self.sums.items():
            self.sums[name] = flat[start : start + array.size].reshape(array.shape).copy()
            start += array.size

    def _add(self, name: str, group: NDArray[np.intp], values: ArrayLike) -> None:
        np.add.at(self.sums[name], group, np.asarray(values, np.float64))

    def _total(self, name: str, group: int | None) -> Floats:
        array = self.sums[name]
        return array.sum(0) if group is None else array[group]

    def _metrics(self, group: int | None) -> dict[str, float]:
        raise NotImplementedError

    def _primary(self) -> str:
        return self.primary

    def table(self) -> MetricTable:
        """The metrics overall and for every skin-tone group that has samples."""
        n = self.sums["samples"]
        counts = {OVERALL: int(n.sum())}
        counts.update({g: int(n[k]) for k, g in enumerate(self.groups) if n[k] > 0})
        metrics = {OVERALL: self._metrics(None)}
        metrics.update({g: self._metrics(k) for k, g in enumerate(self.groups) if n[k] > 0})
        return MetricTable(task=self.task, primary=self._primary(), metrics=metrics, counts=counts)


class SegmentationAccumulator(_Accumulator):
    """Sums of pixel counts and per-image scores, per skin-tone group and class.

    Parameters
    ----------
    mask_names : sequence of str
        The classes, in channel order.
    groups : tuple of str
        Skin-tone groups samples may carry.
    threshold : float
        Probabilities at or above it are foreground.

    Notes
    -----
    :meth:`table` gives, per class, ``dice``, ``iou``, ``precision``, ``recall``, ``f1`` (micro)
    and ``dice_image``, ``iou_image`` (mean over images), and ``mean/dice``, ``mean/iou`` over
    the classes; the primary metric (model selection) is ``mean/dice``.
    """

    task = "segmentation"
    primary = "mean/dice"

    def __init__(
        self,
        mask_names: Sequence[str],
        *,
        groups: tuple[str, ...] = SKIN_TONE_GROUPS,
        threshold: float = 0.5,
    ) -> None:
        self.mask_names = tuple(mask_names)
        self.groups = tuple(groups)
        self.threshold = threshold
        shape = (len(self.groups), len(self.mask_names))
        names = ("tp", "fp", "fn", "dice_image", "iou_image", "images")
        self.sums = {name: np.zeros(shape) for name in names}
        self.sums["samples"] = np.zeros(len(self.groups))

    def update(
        self,
        probabilities: ArrayLike,
        target: ArrayLike,
        valid: ArrayLike | None,
        skin_tones: Sequence[str],
    ) -> None:
        """Add a batch.

        Parameters
        ----------
        probabilities : array_like of shape (N, K, H, W), float in [0, 1], or bool
            Predicted probabilities (thresholded at ``threshold``) or masks.
        target : array_like of shape (N, K, H, W), {0, 1}
            True masks.
        valid : array_like of shape (N, K), bool, or None
            Labelled planes (None: all).
        skin_tones : sequence of N str
            Each sample's skin-tone group.
        """
        prob = np.asarray(probabilities)
        pred = prob if prob.dtype == bool else prob >= self.threshold
        p, t, v = planes(pred, np.asarray(target) > 0.5, valid)
        if p.shape[1] != len(self.mask_names):
            raise ValueError(f"expected {len(self.mask_names)} mask planes, got {p.shape[1]}")
        if len(skin_tones) != p.shape[0]:
            raise ValueError(f"{len(skin_tones)} skin tones for {p.shape[0]} samples")
        group = _group_index(skin_tones, self.groups)
        tp, fp, fn = confusion_counts(p, t, v)
        for name, value in (("tp", tp), ("fp", fp), ("fn", fn), ("images", v)):
            self._add(name, group, value)
        self._add("dice_image", group, np.nan_to_num(per_image(2 * tp, 2 * tp + fp + fn, v)))
        self._add("iou_image", group, np.nan_to_num(per_image(tp, tp + fp + fn, v)))
        self._add("samples", group, np.ones(group.size))

    def _metrics(self, group: int | None) -> dict[str, float]:
        tp, fp, fn = (self._total(name, group) for name in ("tp", "fp", "fn"))
        images = self._total("images", group)
        values = {
            "dice": ratio(2 * tp, 2 * tp + fp + fn),
            "iou": ratio(tp, tp + fp + fn),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "f1": f1_of_counts(tp, fp, fn),
            "dice_image": ratio(self._total("dice_image", group), images),
            "iou_image": ratio(self._total("iou_image", group), images),
        }
        out: dict[str, float] = {}
        for k, name in enumerate(self.mask_names):
            out.update({f"{name}/{metric}": float(v[k]) for metric, v in values.items()})
        out["mean/dice"] = _mean_finite(values["dice"])
        out["mean/iou"] = _mean_finite(values["iou"])
        return out


class SeverityAccumulator(_Accumulator):
    """Sums of absolute errors and grade confusion matrices, per skin-tone group and head.

    Parameters
    ----------
    heads : sequence of str
        The concerns the severities are of, in column order.
    groups : tuple of str
        Skin-tone groups samples may carry.
    grade_scales : mapping of str to int, optional
        Number of grades of a head whose scale is not skinscan's 0-4 (ACNE04: ``{"acne": 4}``);
        predicted grades are then ``n`` equal bins of the severity (:func:`grades_of`).

    Notes
    -----
    :meth:`table` gives, per head, ``mae`` (severity points, over samples with a severity) and
    ``qwk`` (quadratic-weighted kappa of the grades), and their means over the heads; the
    primary metric is ``mean/mae`` (lower is better), or ``mean/qwk`` when no head has a
    severity label at all (grade-only data).
    """

    task = "severity"
    primary = "mean/mae"

    def __init__(
        self,
        heads: Sequence[str],
        *,
        groups: tuple[str, ...] = SKIN_TONE_GROUPS,
        grade_scales: Mapping[str, int] | None = None,
    ) -> None:
        self.heads = tuple(heads)
        self.groups = tuple(groups)
        scales = dict(grade_scales or {})
        self.n_grades = np.array([int(scales.get(h, N_GRADES)) for h in self.heads], np.int64)
        if (self.n_grades < 2).any():
            raise ValueError(f"a grade scale has at least 2 grades, not {scales}")
        size = int(self.n_grades.max(initial=N_GRADES))
        shape = (len(self.groups), len(self.heads))
        self.sums = {"abs_error": np.zeros(shape), "labelled": np.zeros(shape)}
        self.sums["grades"] = np.zeros((*shape, size, size))
        self.sums["samples"] = np.zeros(len(self.groups))

    def update(
        self,
        pred: ArrayLike,
        target: ArrayLike,
        valid: ArrayLike | None,
        skin_tones: Sequence[str],
        *,
        grades: ArrayLike | None = None,
    ) -> None:
        """Add a batch.

        Parameters
        ----------
        pred, target : array_like of shape (N, H), float
            Predicted and true severities 0-100.
        valid : array_like of shape (N, H), bool, or None
            Labelled severities (None: all).
        skin_tones : sequence of N str
            Each sample's skin-tone group.
        grades : array_like of shape (N, H), int, optional
            True grades 0-4 (−1 unlabelled), e.g. a dermatologist's grading. Default: the grades
            of the labelled true severities. Predicted grades are those of the predicted
            severities.
        """
        p = np.asarray(pred, np.float64)
        t = np.asarray(target, np.float64)
        v = np.ones(p.shape, bool) if valid is None else np.asarray(valid, bool)
        if p.shape != t.shape or v.shape != p.shape or p.ndim != 2:
            raise ValueError(f"severities must be (N, H); got {p.shape}, {t.shape}, {v.shape}")
        if p.shape[1] != len(self.heads):
            raise ValueError(f"expected {len(self.heads)} heads, got {p.shape[1]}")
        if len(skin_tones) != p.shape[0]:
            raise ValueError(f"{len(skin_tones)} skin tones for {p.shape[0]} samples")
        group = _group_index(skin_tones, self.groups)
        n = self.n_grades[None, :]
        if grades is None:
            true_grades = np.where(v, grades_of(t, n), -1)
        else:
            true_grades = np.asarray(grades, np.int64)
        if true_grades.shape != p.shape:
            raise ValueError(f"grades must be {p.shape}, not {true_grades.shape}")
        self._add("abs_error", group, np.where(v, np.abs(p - t), 0.0))
        self._add("labelled", group, v)
        rows, heads = np.nonzero((true_grades >= 0) & (true_grades < n))
        cells = (group[rows], heads, true_grades[rows, heads], grades_of(p, n)[rows, heads])
        np.add.at(self.sums["grades"], cells, 1.0)
        self._add("samples", group, np.ones(group.size))

    def _metrics(self, group: int | None) -> dict[str, float]:
        mae = ratio(self._total("abs_error", group), self._total("labelled", group))
        matrices = self._total("grades", group)
        kappa = np.array(
            [float(kappa_of_matrix(matrices[k, :n, :n])) for k, n in enumerate(self.n_grades)]
        )
        out: dict[str, float] = {}
        for k, head in enumerate(self.heads):
            out[f"{head}/mae"] = float(mae[k])
            out[f"{head}/qwk"] = float(kappa[k])
        out["mean/mae"] = _mean_finite(mae)
        out["mean/qwk"] = _mean_finite(kappa)
        return out

    def _primary(self) -> str:
        # Grade-only data (ACNE04) have no severity to take an error of.
        return self.primary if self.sums["labelled"].sum() > 0 else "mean/qwk"
