"""Co-occurrence matrices: scikit-image's counts, the mask honoured, pyradiomics' features."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops

from skinscan.measures._glcm import (
    benchmark_glcm,
    chebyshev_offsets,
    glcm,
    glcm_features,
    quantise,
    row_step_for,
)

ANGLES = [0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4]


def skimage_offsets(distance: int) -> list[tuple[int, int]]:
    return [(round(math.sin(a) * distance), round(math.cos(a) * distance)) for a in ANGLES]


def brute_force(image: np.ndarray, mask: np.ndarray, offset: tuple[int, int], levels: int):
    """Symmetric counts by visiting every pixel: the definition, slowly."""
    out = np.zeros((levels, levels))
    h, w = image.shape
    dy, dx = offset
    for y in range(h):
        for x in range(w):
            y2, x2 = y + dy, x + dx
            if 0 <= y2 < h and 0 <= x2 < w and mask[y, x] and mask[y2, x2]:
                out[image[y, x], image[y2, x2]] += 1
                out[image[y2, x2], image[y, x]] += 1
    return out


@pytest.mark.parametrize("levels", [8, 32, 64])
@pytest.mark.parametrize("distance", [1, 2, 3])
@pytest.mark.parametrize("shape", [(40, 57), (13, 9)])
def test_counts_equal_scikit_image_on_a_rectangle(levels, distance, shape) -> None:
    image = np.random.default_rng(levels + distance).integers(0, levels, shape).astype(np.uint8)
    reference = graycomatrix(image, [distance], ANGLES, levels=levels, symmetric=True)[:, :, 0]
    ours = glcm(image, levels=levels, offsets=skimage_offsets(distance))
    np.testing.assert_array_equal(ours, reference)


def test_default_angles_are_pyradiomics_chebyshev_steps() -> None:
    assert chebyshev_offsets(1) == skimage_offsets(1)
    assert chebyshev_offsets(3) == [(0, 3), (3, 3), (3, 0), (3, -3)]
    image = np.random.default_rng(0).integers(0, 16, (30, 30)).astype(np.uint8)
    ours = glcm(image, levels=16, distance_px=3)
    everywhere = np.ones(image.shape, dtype=bool)
    for k, offset in enumerate(chebyshev_offsets(3)):
        np.testing.assert_array_equal(ours[..., k], brute_force(image, everywhere, offset, 16))


def test_only_pairs_with_both_pixels_in_the_mask_count() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 12, (24, 31)).astype(np.uint8)
    mask = np.ones(image.shape, dtype=bool)
    mask[8:15, 10:20] = False  # a hole
    mask[:, :2] = False
    ours = glcm(image, mask, distance_px=2, levels=12)
    for k, offset in enumerate(chebyshev_offsets(2)):
        np.testing.assert_array_equal(ours[..., k], brute_force(image, mask, offset, 12))
    # Whatever lies in the hole, even values beyond the levels, does not matter.
    scrambled = image.copy()
    scrambled[~mask] = 200
    np.testing.assert_array_equal(glcm(scrambled, mask, distance_px=2, levels=12), ours)


def test_row_sampling_keeps_the_matrix() -> None:
    noise = np.random.default_rng(2).standard_normal((400, 500)).astype(np.float32)
    relief = cv2.GaussianBlur(noise, (0, 0), 2.5)  # skin-like grain: σ 0.25 mm at 0.1 mm/px
    image = quantise(relief * (1.5 / relief.std()) + 0.4 * noise, bin_width=0.5, levels=32)
    full = glcm(image, levels=32, distance_px=2)
    sampled = glcm(image, levels=32, distance_px=2, row_step=row_step_for(image.size, 20_000))
    assert row_step_for(image.size, 20_000) == 10
    p, q = full / full.sum(axis=(0, 1)), sampled / sampled.sum(axis=(0, 1))
    assert np.corrcoef(p.ravel(), q.ravel())[0, 1] >= 0.99


def test_benchmark_reports_agreement_with_scikit_image() -> None:
    report = benchmark_glcm(256, repeats=1)
    assert report["exact_equal"] == 1.0
    assert report["correlation"] >= 0.99
    assert report["contrast_rel_error"] < 0.05
    assert report["ratio"] > 0
    assert report["exact_ratio"] > 0


def test_features_match_the_definitions_and_scikit_image() -> None:
    image = np.random.default_rng(3).integers(0, 8, (50, 60)).astype(np.uint8)
    counts = glcm(image, levels=8, distance_px=1)
    features = glcm_features(counts)
    reference = graycomatrix(image, [1], ANGLES, levels=8, symmetric=True, normed=True)
    # scikit-image's "homogeneity" is pyradiomics' inverse difference moment.
    assert features.contrast == pytest.approx(graycoprops(reference, "contrast").mean())
    assert features.inverse_difference_moment == pytest.approx(
        graycoprops(reference, "homogeneity").mean()
    )
    p = counts / counts.sum(axis=(0, 1))
    i, j = np.indices((8, 8))
    inverse_difference = (p / (1 + np.abs(i - j))[..., None]).sum(axis=(0, 1)).mean()
    entropy = -(p * np.log2(p + np.spacing(1))).sum(axis=(0, 1)).mean()
    assert features.inverse_difference == pytest.approx(inverse_difference)
    assert features.joint_entropy == pytest.approx(entropy)


def test_constant_region_has_no_contrast_and_no_entropy() -> None:
    features = glcm_features(glcm(np.full((20, 20), 5, np.uint8), levels=8, distance_px=2))
    assert features.contrast == 0.0
    assert features.inverse_difference == 1.0
    assert features.joint_entropy == pytest.approx(0.0, abs=1e-9)


def test_contrast_rises_and_homogeneity_falls_with_noise() -> None:
    rng = np.random.default_rng(4)
    noise = rng.standard_normal((120, 120)).astype(np.float32)
    contrast, homogeneity, entropy = [], [], []
    for amplitude in (0.5, 1.0, 2.0, 4.0):
        image = quantise(amplitude * noise, bin_width=0.5, levels=32)
        features = glcm_features(glcm(image, levels=32, distance_px=2))
        contrast.append(features.contrast)
        homogeneity.append(features.inverse_difference)
        entropy.append(features.joint_entropy)
    assert np.all(np.diff(contrast) > 0), contrast
    assert np.all(np.diff(homogeneity) < 0), homogeneity
    assert np.all(np.diff(entropy) > 0), entropy


def test_angles_without_pairs_are_left_out_of_the_mean() -> None:
    column = np.array([[0], [3], [0], [3]], np.uint8)  # one pixel wide: only 90° has pairs
    counts = glcm(column, levels=4, distance_px=1)
    assert counts[..., [0, 1, 3]].sum() == 0
    assert glcm_features(counts).contrast == pytest.approx(9.0)
    assert glcm_features(np.zeros((4, 4, 4))) == (0.0, 1.0, 1.0, 0.0)


def test_quantise_uses_fixed_bins_centred_on_zero() -> None:
    values = np.array([-100.0, -0.26, -0.01, 0.0, 0.49, 0.5, 100.0], np.float32)
    np.testing.assert_array_equal(
        quantise(values, bin_width=0.5, levels=32), [0, 15, 15, 16, 16, 17, 31]
    )


def test_bad_arguments_are_refused() -> None:
    image = np.zeros((5, 5), np.uint8)
    with pytest.raises(ValueError, match="levels"):
        glcm(image, levels=1)
    with pytest.raises(ValueError, match="mask"):
        glcm(image, np.ones((4, 5), bool), levels=8)
    with pytest.raises(ValueError, match="grey levels"):
        glcm(image + 9, levels=8)
    with pytest.raises(ValueError, match="distance"):
        glcm(image, levels=8, distance_px=0)
    with pytest.raises(ValueError, match="row_step"):
        glcm(image, levels=8, row_step=0)
    with pytest.raises(ValueError, match="bin_width"):
        quantise(image.astype(np.float32), bin_width=0.0, levels=8)
