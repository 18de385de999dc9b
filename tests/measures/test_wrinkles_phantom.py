"""Wrinkle maps against the phantom's painted masks: Jaccard / F1, ladder order, texture."""

from __future__ import annotations

from functools import cache
from itertools import pairwise

import cv2
import numpy as np
import pytest

phantom = pytest.importorskip("skinscan.datasets.phantom")

from skinscan.measures import measure_wrinkles  # noqa: E402

TONES = ("light", "intermediate", "dark")
SEEDS = (0, 1, 2)


@cache
def assess(tone: str, level: int, texture: int, seed: int) -> tuple[dict[str, float], tuple]:
    """Measures and (strict J, strict F1, tolerant J, tolerant F1) of one 40 × 40 mm patch."""
    patch = phantom.render_patch(
        size=(400, 400), mm_per_px=0.1, tone=tone, wrinkles=level, texture=texture, seed=seed
    )
    result = measure_wrinkles(patch.linear_rgb, {"site": patch.truth.skin}, mm_per_px=0.1)
    return result.measures, overlap(result.map > 0.5, patch.truth.wrinkles)


def overlap(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float, float]:
    """Strict Jaccard and F1, and both again with a 1 px tolerance band.

    Tolerant: a predicted pixel counts when it lies within 1 px (8-neighbourhood) of the truth,
    a true pixel when it lies within 1 px of the prediction; F1 from that precision and recall,
    and Jaccard = F1 / (2 − F1), the identity that holds between the strict pair.
    """
    if not pred.any() and not truth.any():
        return 1.0, 1.0, 1.0, 1.0
    near = np.ones((3, 3), np.uint8)
    pred_band = cv2.dilate(pred.astype(np.uint8), near).astype(bool)
    truth_band = cv2.dilate(truth.astype(np.uint8), near).astype(bool)
    inter = float((pred & truth).sum())
    jaccard = inter / float((pred | truth).sum())
    f1 = 2 * inter / float(pred.sum() + truth.sum())
    precision = float((pred & truth_band).sum()) / max(int(pred.sum()), 1)
    recall = float((truth & pred_band).sum()) / max(int(truth.sum()), 1)
    f1_tol = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return jaccard, f1, f1_tol / (2 - f1_tol), f1_tol


def test_overlap_scores_of_a_one_pixel_shift() -> None:
    truth = np.zeros((50, 50), bool)
    truth[20:24, 5:45] = True
    shifted = np.roll(truth, 1, axis=0)
    jaccard, f1, jaccard_tol, f1_tol = overlap(shifted, truth)
    assert jaccard == pytest.approx(3 / 5)
    assert f1 == pytest.approx(3 / 4)
    assert jaccard_tol == pytest.approx(1.0)
    assert f1_tol == pytest.approx(1.0)


@pytest.mark.parametrize("level", [2, 3, 4])
@pytest.mark.parametrize("tone", TONES)
def test_map_overlaps_the_painted_wrinkles(tone, level) -> None:
    scores = np.array([assess(tone, level, 0, seed)[1] for seed in SEEDS])
    jaccard, f1, jaccard_tol, f1_tol = scores.mean(axis=0)
    # Measured (3 seeds): tolerant J 0.90-0.98, strict J 0.69-0.83. The strict figures are capped
    # near 0.71 because the map is the full width at half depth and the painted mask the width
    # at a quarter depth of the same Gaussian valley (√(1/2) of it).
    assert scores[:, 2].min() >= 0.85
    assert jaccard_tol >= 0.88
    assert f1_tol >= 0.93
    assert jaccard >= 0.65
    assert f1 >= 0.78


@pytest.mark.parametrize("tone", TONES)
def test_finest_ladder_level_raises_no_false_wrinkles(tone) -> None:
    # Level 1 (0.5 mm FWHM, 10 % darkening) sits at the contrast of skin texture and goes
    # undetected; what matters is that nothing else is reported in its place.
    for seed in SEEDS:
        measures, _ = assess(tone, 1, 0, seed)
        assert measures["length_mm_per_cm2"] <= 0.5


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tone", TONES)
def test_length_density_rises_with_the_ladder(tone, seed) -> None:
    lengths = [assess(tone, level, 0, seed)[0]["length_mm_per_cm2"] for level in range(5)]
    assert lengths[0] == 0
    assert all(a <= b for a, b in pairwise(lengths))
    assert lengths[2] < lengths[3] < lengths[4]


@pytest.mark.parametrize("tone", TONES)
def test_the_same_ladder_reads_alike_on_every_tone(tone) -> None:
    for level in (2, 3, 4):
        here = np.mean([assess(tone, level, 0, s)[0]["length_mm_per_cm2"] for s in SEEDS])
        light = np.mean([assess("light", level, 0, s)[0]["length_mm_per_cm2"] for s in SEEDS])
        assert here == pytest.approx(light, rel=0.1)


@pytest.mark.parametrize("tone", TONES)
def test_heavy_texture_alone_gives_few_false_wrinkles(tone) -> None:
    for seed in SEEDS:
        measures, _ = assess(tone, 0, 4, seed)
        # Measured ≤ 1.2 mm/cm² (level 2 wrinkles read ≈ 4).
        assert measures["length_mm_per_cm2"] <= 1.5
