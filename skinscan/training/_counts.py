"""Sufficient statistics of the metrics: pixel counts, absolute errors, grade confusion matrices.

Every metric of :mod:`skinscan.training.metrics` is a ratio of sums, so these are what batches
and processes add up; the ratios are taken once, at the end.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.scoring import GRADE_EDGES

__all__ = [
    "N_GRADES",
    "confusion_counts",
    "confusion_matrix",
    "f1_of_counts",
    "grade_centre",
    "grades_of",
    "kappa_of_matrix",
    "per_image",
    "planes",
    "ratio",
]

#: Grades 0-4, as :func:`skinscan.scoring.grade_of` bins a severity.
N_GRADES = 5

Counts = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


def planes(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None
) -> tuple[Bools, Bools, Bools]:
    """Check and convert masks ``(N, K, H, W)`` and their validity ``(N, K)`` (default all)."""
    p = np.asarray(pred)
    t = np.asarray(target)
    if p.shape != t.shape or p.ndim != 4:
        raise ValueError(
            f"prediction and truth must both be (N, K, H, W); got {p.shape} and {t.shape}"
        )
    v = np.ones(p.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    if v.shape != p.shape[:2]:
        raise ValueError(f"mask_valid must be (N, K) = {p.shape[:2]}, not {v.shape}")
    return p.astype(bool, copy=False), t.astype(bool, copy=False), v


def confusion_counts(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None
) -> tuple[Counts, Counts, Counts]:
    """Pixel counts of true positives, false positives and false negatives per image and class.

    Parameters
    ----------
    pred, target : array_like of shape (N, K, H, W), bool (or 0/1)
        Predicted and true masks.
    valid : array_like of shape (N, K), bool, optional
        Which planes are labelled; counts of the others are 0. Default: all.

    Returns
    -------
    tp, fp, fn : ndarray of shape (N, K), int64
    """
    p, t, v = planes(pred, target, valid)
    tp = np.count_nonzero(p & t, axis=(2, 3)).astype(np.int64)
    fp = np.count_nonzero(p & ~t, axis=(2, 3)).astype(np.int64)
    fn = np.count_nonzero(~p & t, axis=(2, 3)).astype(np.int64)
    return tp * v, fp * v, fn * v


def ratio(num: ArrayLike, den: ArrayLike) -> Floats:
    """``num / den`` elementwise, NaN where ``den`` is 0."""
    n = np.asarray(num, np.float64)
    d = np.asarray(den, np.float64)
    return np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)


def per_image(num: ArrayLike, den: ArrayLike, valid: Bools) -> Floats:
    """Per-image scores: 1 where truth and prediction are both empty, NaN where unlabelled."""
    score = np.where(np.asarray(den) > 0, ratio(num, den), 1.0)
    return np.where(valid, score, np.nan)


def f1_of_counts(tp: ArrayLike, fp: ArrayLike, fn: ArrayLike) -> Floats:
    """Harmonic mean of precision and recall; 0 without true positives, NaN without pixels."""
    tp_, fp_, fn_ = (np.asarray(x, np.float64) for x in (tp, fp, fn))
    precision, recall = ratio(tp_, tp_ + fp_), ratio(tp_, tp_ + fn_)
    with np.errstate(invalid="ignore"):
        f1 = np.where(tp_ > 0, 2 * precision * recall / (precision + recall), 0.0)
    return np.where(tp_ + fp_ + fn_ > 0, f1, np.nan)


def grades_of(severity: ArrayLike, n_grades: ArrayLike = N_GRADES) -> NDArray[np.int64]:
    """Grades ``0 … n − 1`` of severities 0-100: ``n`` equal bins, elementwise.

    With the default ``n = 5`` these are the bins of :func:`skinscan.scoring.grade_of` (edges
    :data:`~skinscan.scoring.GRADE_EDGES`); a dataset's own scale, e.g. ACNE04's four grades,
    takes ``n = 4``. ``n_grades`` broadcasts against ``severity`` (one per column).

    Examples
    --------
    >>> grades_of([0.0, 19.9, 20.0, 100.0]).tolist()
    [0, 0, 1, 4]
    >>> grades_of([24.9, 25.0, 100.0], 4).tolist()
    [0, 1, 3]
    """
    s = np.clip(np.asarray(severity, np.float64), 0.0, 100.0)
    n = np.asarray(n_grades, np.int64)
    if np.all(n == N_GRADES):
        return np.searchsorted(np.asarray(GRADE_EDGES), s, side="right").astype(np.int64)
    return np.minimum(np.floor(s * n / 100.0), n - 1).astype(np.int64)


def grade_centre(grade: ArrayLike, n_grades: ArrayLike = N_GRADES) -> Floats:
    """The severity at the centre of a grade's bin, ``100 (g + ½) / n`` (inverse of grades_of).

    A sample graded but not scored (ACNE04) trains towards its grade's centre.

    Examples
    --------
    >>> grade_centre([0, 3], 4).tolist()
    [12.5, 87.5]
    """
    return 100.0 * (np.asarray(grade, np.float64) + 0.5) / np.asarray(n_grades, np.float64)


def confusion_matrix(
    rater_a: ArrayLike, rater_b: ArrayLike, *, n_grades: int = N_GRADES
) -> NDArray[np.int64]:
    """Confusion matrix ``O[i, j]``: items graded ``i`` by ``a`` and ``j`` by ``b``.

    Grades outside ``0 … n_grades − 1`` (e.g. −1, unlabelled) are left out.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1, -1], [0, 1, 2, 2], n_grades=3).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 0]]
    """
    a = np.asarray(rater_a, np.int64).ravel()
    b = np.asarray(rater_b, np.int64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"grade arrays differ in size: {a.size} and {b.size}")
    keep = (a >= 0) & (a < n_grades) & (b >= 0) & (b < n_grades)
    flat = a[keep] * n_grades + b[keep]
    return np.bincount(flat, minlength=n_grades * n_grades).reshape(n_grades, n_grades)


def kappa_of_matrix(observed: ArrayLike) -> Floats:
    """Quadratic-weighted kappa of confusion matrices ``(..., n, n)``; NaN where undefined.

    ``κ_w = 1 − Σ w_ij O_ij / Σ w_ij E_ij``, ``w_ij = (i − j)² / (n − 1)²``, ``E`` the outer
    product of the marginals of ``O`` divided by its total (Cohen 1968).
    """
    o = np.asarray(observed, np.float64)
    n = o.shape[-1]
    i, j = np.indices((n, n))
    weight = (i - j) ** 2 / max(n - 1, 1) ** 2
    total = o.sum((-2, -1), keepdims=True)
    expected = o.sum(-1, keepdims=True) * o.sum(-2, keepdims=True) / np.where(total > 0, total, 1)
    disagreement = (weight * o).sum((-2, -1))
    chance = (weight * expected).sum((-2, -1))
    return 1.0 - ratio(disagreement, chance)
