"""Ridge filters: agreement with scikit-image's Frangi, localisation, rotation and polarity."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.filters import frangi

from skinscan.measures._ridge import (
    _bench_image,
    benchmark_frangi,
    frangi_fast,
    hessian,
    noise_level,
    valley_response,
)


def line_image(
    size: int = 160,
    angle_deg: float = 0.0,
    width: float = 4.0,
    depth: float = 6.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A ``depth``-deep dark band ``width`` px wide through the centre, anti-aliased."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) - (size - 1) / 2
    theta = math.radians(angle_deg)
    across = np.abs(-ys * math.cos(theta) + xs * math.sin(theta))
    along = np.abs(ys * math.sin(theta) + xs * math.cos(theta))
    band = np.clip(width / 2 + 0.5 - across, 0.0, 1.0) * np.clip(size * 0.35 - along, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    return np.asarray(-depth * band + noise * rng.standard_normal(band.shape), dtype=np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize(
    "sigmas", [(1.0,), (1.0, 2.0, 3.0), (2.0, 4.0, 6.0, 8.0), (3.0, 5.0, 8.0, 12.0)]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_frangi_fast_matches_skimage(sigmas, seed) -> None:
    image = _bench_image((256, 256), seed)
    ours = frangi_fast(image, sigmas)
    theirs = frangi(image, sigmas=sigmas, black_ridges=True)
    assert ours.dtype == np.float32
    assert ours.shape == image.shape
    assert correlation(ours, theirs) >= 0.99


@pytest.mark.parametrize("black_ridges", [True, False])
def test_frangi_fast_matches_skimage_on_noisy_lines_of_either_polarity(black_ridges) -> None:
    image = line_image(200, 25.0, width=5.0, noise=1.0)
    if not black_ridges:
        image = -image
    sigmas = (1.5, 2.5, 4.0)
    ours = frangi_fast(image, sigmas, black_ridges=black_ridges)
    theirs = frangi(image, sigmas=sigmas, black_ridges=black_ridges)
    assert correlation(ours, theirs) >= 0.99


def test_frangi_fast_explicit_gamma_matches_skimage() -> None:
    image = _bench_image((192, 192), 3)
    ours = frangi_fast(image, (2.0, 4.0), gamma=5.0)
    theirs = frangi(image, sigmas=(2.0, 4.0), gamma=5.0)
    assert correlation(ours, theirs) >= 0.99
    assert float(np.abs(ours - theirs).max()) < 0.1


@pytest.mark.parametrize("width", [2.0, 4.0, 8.0])
def test_response_peaks_at_the_line_row(width) -> None:
    image = line_image(160, 0.0, width=width)
    centre = (160 - 1) / 2
    # Frangi's filter is not scale-normalised: at σ well below half the width it answers most on
    # the walls of a flat-bottomed line, so it gets the matched scale alone.
    matched = frangi_fast(image, (width / 2,))
    for out in (matched, valley_response(image, (1.5, 3.0, 5.0))):
        column = out[:, 80]
        assert abs(int(column.argmax()) - centre) <= 1.0
        assert column.max() > 0


@pytest.mark.parametrize("angle", [20.0, 45.0, 70.0, 90.0])
def test_response_is_invariant_to_rotation(angle) -> None:
    # σ ≥ 3 px: at finer scales a crest sampled half a pixel off the centre loses a few % more
    # to the gradient term than one sampled on it, which is sampling, not orientation.
    sigmas = (3.0, 5.0)
    reference = valley_response(line_image(200, 0.0, width=6.0), sigmas)
    rotated = valley_response(line_image(200, angle, width=6.0), sigmas)
    # The crest along the middle third of the line, where the ends do not reach.
    assert float(rotated.max()) == pytest.approx(float(reference.max()), rel=0.1)
    # Integrated response ∝ length × cross-section: the whole line answers alike, not just a pixel.
    assert float(rotated.sum()) == pytest.approx(float(reference.sum()), rel=0.1)
    fast_ref = frangi_fast(line_image(200, 0.0, width=6.0), sigmas, gamma=1.0)
    fast_rot = frangi_fast(line_image(200, angle, width=6.0), sigmas, gamma=1.0)
    assert float(fast_rot.max()) == pytest.approx(float(fast_ref.max()), rel=0.1)


def test_bright_line_gives_no_response_to_dark_ridge_filters() -> None:
    bright = -line_image(160, 30.0, width=4.0)
    on_line = bright > 0.5
    dark_valley = valley_response(-bright, (2.0, 3.0, 5.0))
    answer = valley_response(bright, (2.0, 3.0, 5.0))
    assert float(answer[on_line].max()) < 1e-6 * float(dark_valley.max())
    # Only its flanks, which do curve upwards, answer at all, and weakly.
    assert float(answer.max()) < 0.2 * float(dark_valley.max())
    dark = frangi_fast(-bright, (2.0, 3.0))
    assert float(frangi_fast(bright, (2.0, 3.0), gamma=1.0)[on_line].max()) < 0.01 * float(
        dark.max()
    )
    assert float(frangi_fast(bright, (2.0, 3.0), black_ridges=False).max()) > 0.5


def test_valley_response_is_the_contrast_of_the_valley() -> None:
    # σ²-normalised: the answer is in image units and scales with the depth, not with σ.
    shallow = valley_response(line_image(160, 0.0, width=6.0, depth=4.0), (2.0, 3.0, 5.0, 8.0))
    deep = valley_response(line_image(160, 0.0, width=6.0, depth=8.0), (2.0, 3.0, 5.0, 8.0))
    assert float(deep.max()) == pytest.approx(2.0 * float(shallow.max()), rel=0.02)
    assert 0.3 * 4.0 < float(shallow.max()) < 0.6 * 4.0


def test_edge_term_suppresses_the_dark_side_of_a_step() -> None:
    step = np.zeros((120, 120), np.float32)
    step[:, :60] = -8.0
    valley = line_image(120, 90.0, width=6.0, depth=8.0)
    sigmas = (2.0, 3.0, 5.0, 8.0)
    assert float(valley_response(step, sigmas).max()) < 0.25 * float(
        valley_response(valley, sigmas).max()
    )
    assert float(valley_response(step, sigmas, edge_kappa=None).max()) > 0.5 * float(
        valley_response(valley, sigmas).max()
    )


def test_round_blob_answers_less_than_a_line_of_its_width() -> None:
    ys, xs = np.mgrid[0:120, 0:120].astype(np.float32) - 59.5
    blob = np.where(np.hypot(ys, xs) <= 6.0, -8.0, 0.0).astype(np.float32)
    line = line_image(120, 0.0, width=12.0, depth=8.0)
    sigmas = (2.0, 3.0, 5.0, 8.0)
    assert float(valley_response(blob, sigmas).max()) < 0.5 * float(
        valley_response(line, sigmas).max()
    )


@pytest.mark.parametrize("sigma", [1.0, 3.0, 7.0])
def test_hessian_of_a_quadratic(sigma) -> None:
    # I = y² + 3x² − xy: the Hessian is [[2, −1], [−1, 6]] at every scale, on every grid.
    ys, xs = np.mgrid[0:160, 0:160].astype(np.float64) - 79.5
    image = (ys**2 + 3 * xs**2 - xs * ys).astype(np.float32) / 100.0
    h = hessian(image, sigma)
    inner = (slice(64 // h.factor, 96 // h.factor),) * 2  # out of the borders' reach
    assert np.allclose(h.rr[inner], 0.02, atol=2e-4)
    assert np.allclose(h.cc[inner], 0.06, atol=6e-4)
    assert np.allclose(h.rc[inner], -0.01, atol=2e-4)


def test_frangi_fast_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="2-D"):
        frangi_fast(np.zeros((8, 8, 3), np.float32), (1.0,))
    with pytest.raises(ValueError, match="beta"):
        frangi_fast(np.zeros((8, 8), np.float32), (1.0,), beta=0.0)


def test_flat_image_gives_zero() -> None:
    flat = np.full((64, 64), 3.0, np.float32)
    assert float(frangi_fast(flat, (1.0, 2.0)).max()) == 0.0
    assert float(valley_response(flat, (1.0, 2.0)).max()) == 0.0


def test_benchmark_reports_ratio_and_correlation() -> None:
    result = benchmark_frangi((128, 128), sigmas=(1.0, 2.0, 4.0), repeats=1)
    assert set(result) == {"ratio", "correlation", "fast_ms", "skimage_ms"}
    assert result["correlation"] >= 0.99
    assert result["ratio"] > 0


def test_rotated_line_image_is_a_rotation() -> None:
    # The helper itself: rotating by 90° equals transposing (guards the rotation test).
    a, b = line_image(101, 0.0), line_image(101, 90.0)
    assert np.allclose(np.asarray(cv2.transpose(a)), b, atol=1e-5)


def test_noise_level_is_the_upper_quartile_inside_the_mask() -> None:
    response = np.arange(100, dtype=np.float32).reshape(10, 10)
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    assert noise_level(response, mask) == pytest.approx(np.quantile(np.arange(50.0), 0.75))
    assert noise_level(response, np.zeros((10, 10), bool)) == 0.0


def test_noise_level_grows_with_the_noise() -> None:
    rng = np.random.default_rng(0)
    mask = np.ones((128, 128), bool)
    levels = [
        noise_level(valley_response(rng.normal(0.0, s, (128, 128)).astype(np.float32), [1.5]), mask)
        for s in (1.0, 2.0)
    ]
    assert levels[1] == pytest.approx(2.0 * levels[0], rel=0.1)
