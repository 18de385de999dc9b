"""Metrics of the trained models: overlap of masks, error of severities, agreement of grades.

Everything is numpy and vectorised over the batch. The functions here score one set of arrays;
the accumulators (:class:`SegmentationAccumulator`, :class:`SeverityAccumulator`) sum the
sufficient statistics of many batches (pixel counts, absolute errors, confusion matrices) per
skin-tone group, so that a dataset's metrics equal those of one big batch, shards of a
distributed run can be summed (all-reduced) before the ratios are taken, and every metric is
also reported per skin-tone group (:data:`~skinscan.models.contract.SKIN_TONE_GROUPS`).
A :class:`MetricTable` holds the result.

Conventions
-----------
- A mask plane whose ``mask_valid`` is False is unlabelled: it counts nowhere.
- ``dice``, ``iou``, ``precision``, ``recall``, ``f1`` are *micro* averages: pixel counts summed
  over the dataset, then the ratio. Over pixels, F1 = 2PR / (P + R) = 2TP / (2TP + FP + FN) is
  the Dice coefficient; both are reported, with precision and recall, as segmentation papers
  do. ``dice_image`` and ``iou_image`` are the mean over images of each image's own score,
  where an image whose truth and prediction are both empty scores 1 (nothing to find, nothing
  found).
- A ratio with a zero denominator (no pixels at all; one grade only) is NaN, reported as None.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skinscan.training._accumulators import SegmentationAccumulator, SeverityAccumulator
from skinscan.training._counts import (
    N_GRADES,
    confusion_counts,
    confusion_matrix,
    f1_of_counts,
    grades_of,
    kappa_of_matrix,
    per_image,
    planes,
    ratio,
)
from skinscan.training._table import OVERALL, MetricTable

__all__ = [
    "N_GRADES",
    "OVERALL",
    "MetricTable",
    "SegmentationAccumulator",
    "SeverityAccumulator",
    "confusion_counts",
    "confusion_matrix",
    "dice_score",
    "f1_score",
    "grades_of",
    "jaccard_score",
    "quadratic_weighted_kappa",
    "severity_mae",
]

Floats = NDArray[np.float64]


def _overlap(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None, average: str, *, iou: bool
) -> Floats:
    if average not in ("micro", "image"):
        raise ValueError(f"average must be 'micro' or 'image', not {average!r}")
    tp, fp, fn = confusion_counts(pred, target, valid)
    factor = 1 if iou else 2
    if average == "micro":
        tp_sum, fp_sum, fn_sum = tp.sum(0), fp.sum(0), fn.sum(0)
        return ratio(factor * tp_sum, factor * tp_sum + fp_sum + fn_sum)
    v = planes(pred, target, valid)[2]
    scores = per_image(factor * tp, factor * tp + fp + fn, v)
    return ratio(np.nan_to_num(scores).sum(0), v.sum(0))


def dice_score(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None, *, average: str = "micro"
) -> Floats:
    """Dice coefficient ``2|P ∩ T| / (|P| + |T|)`` per class.

    Parameters
    ----------
    pred, target : array_like of shape (N, K, H, W), bool (or 0/1)
        Predicted and true masks.
    valid : array_like of shape (N, K), bool, optional
        Labelled planes (default all); the others count nowhere.
    average : {"micro", "image"}
        ``micro``: pixel counts summed over the images, then the ratio. ``image``: the mean of
        each labelled image's Dice (1 where truth and prediction are both empty).

    Returns
    -------
    ndarray of shape (K,), float64
        In [0, 1]; NaN for a class with no labelled pixel at all (micro) or no labelled image.

    Examples
    --------
    >>> truth = np.zeros((1, 1, 4, 4), bool); truth[..., :2] = True
    >>> pred = np.zeros_like(truth); pred[..., :1] = True
    >>> dice_score(pred, truth)  # 2·4 / (4 + 8)
    array([0.66666667])
    """
    return _overlap(pred, target, valid, average, iou=False)


def jaccard_score(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None, *, average: str = "micro"
) -> Floats:
    """Jaccard index (IoU) ``|P ∩ T| / |P ∪ T|`` per class; arguments as :func:`dice_score`.

    Examples
    --------
    >>> truth = np.zeros((1, 1, 4, 4), bool); truth[..., :2] = True
    >>> pred = np.zeros_like(truth); pred[..., :1] = True
    >>> jaccard_score(pred, truth)  # 4 / 8
    array([0.5])
    """
    return _overlap(pred, target, valid, average, iou=True)


def f1_score(
    pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None, *, average: str = "micro"
) -> Floats:
    """Pixel F1, the harmonic mean of precision and recall, per class.

    Computed from precision ``TP / (TP + FP)`` and recall ``TP / (TP + FN)``; over pixels it
    equals :func:`dice_score` (the same arguments give the same numbers). Arguments and return
    as :func:`dice_score`.
    """
    if average == "image":
        return dice_score(pred, target, valid, average="image")
    if average != "micro":
        raise ValueError(f"average must be 'micro' or 'image', not {average!r}")
    tp, fp, fn = confusion_counts(pred, target, valid)
    return f1_of_counts(tp.sum(0), fp.sum(0), fn.sum(0))


def severity_mae(pred: ArrayLike, target: ArrayLike, valid: ArrayLike | None = None) -> Floats:
    """Mean absolute error of severities per head, over the labelled ones.

    Parameters
    ----------
    pred, target : array_like of shape (N, H), float
        Severities 0-100.
    valid : array_like of shape (N, H), bool, optional
        Which severities are labelled (default all).

    Returns
    -------
    ndarray of shape (H,), float64
        Severity points; NaN for a head with no labelled sample.

    Examples
    --------
    >>> severity_mae([[10.0, 50.0], [30.0, 0.0]], [[20.0, 50.0], [30.0, 90.0]],
    ...              [[True, True], [True, False]])
    array([5., 0.])
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)
    if p.shape != t.shape or p.ndim != 2:
        raise ValueError(f"severities must both be (N, H); got {p.shape} and {t.shape}")
    v = np.ones(p.shape, bool) if valid is None else np.asarray(valid, bool)
    if v.shape != p.shape:
        raise ValueError(f"severity_valid must be {p.shape}, not {v.shape}")
    return ratio(np.where(v, np.abs(p - t), 0.0).sum(0), v.sum(0))


def quadratic_weighted_kappa(
    rater_a: ArrayLike, rater_b: ArrayLike, *, n_grades: int = N_GRADES
) -> float:
    """Cohen's kappa with quadratic weights between two graders.

    Parameters
    ----------
    rater_a, rater_b : array_like of int
        Grades ``0 … n_grades − 1`` of the same items (others, e.g. −1, are left out).
    n_grades : int
        Number of grades.

    Returns
    -------
    float
        ``κ_w = 1 − Σ w_ij O_ij / Σ w_ij E_ij`` with ``w_ij = (i − j)² / (n − 1)²``, ``O`` the
        confusion matrix and ``E`` the outer product of its marginals divided by the item count
        (agreement expected by chance). 1 is perfect agreement, 0 chance; NaN when ``E`` has no
        weight off the diagonal (both graders gave one and the same grade throughout).

    Notes
    -----
    Cohen (1968), "Weighted kappa", Psychol. Bull. 70:213; Fleiss & Cohen (1973) show that with
    quadratic weights it equals the intraclass correlation. It is the agreement measure of
    acne severity grading on ACNE04 (Wu et al. 2019, ICCV).

    Examples
    --------
    >>> quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 2, 3])
    1.0
    """
    return float(kappa_of_matrix(confusion_matrix(rater_a, rater_b, n_grades=n_grades)))
