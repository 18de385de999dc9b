"""The shared preparation: input checks, the working grid, maps, per-region tables, helpers."""

from __future__ import annotations

import numpy as np
import pytest
from synth import skin_scene

from skinscan.measures import (
    CONCERNS,
    DEFAULT_MM_PER_PX,
    MEASURE_KEYS,
    WORKING_MM_PER_PX,
    measure_all,
    measure_pigment,
    measure_redness,
    measure_texture,
    measure_wrinkles,
    prepare,
)
from skinscan.measures._common import masked_smooth, quantile, robust_sd

MEASURES = [measure_redness, measure_pigment, measure_texture, measure_wrinkles]


@pytest.fixture(scope="module")
def patch() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    scene = skin_scene((12.0, 16.0), seed=1)
    return scene.linear(), scene.everywhere()


@pytest.mark.parametrize("measure", MEASURES)
def test_keys_units_and_map_contract(measure, patch) -> None:
    rgb, regions = patch
    result = measure(rgb, regions, mm_per_px=0.1)
    assert tuple(result.measures) == MEASURE_KEYS[result.concern]
    assert set(result.regions) == {"site"}
    assert tuple(result.regions["site"]) == MEASURE_KEYS[result.concern]
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.measures.values())
    assert result.map.shape == rgb.shape[:2]
    assert result.map.dtype == np.float32
    assert result.method == "classical-v1"
    assert not result.scale_assumed


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accepts_float_dtypes(measure, dtype, patch) -> None:
    rgb, regions = patch
    reference = measure(rgb, regions, mm_per_px=0.1).measures
    other = measure(rgb.astype(dtype), regions, mm_per_px=0.1).measures
    assert other == pytest.approx(reference, abs=1e-4)


def test_missing_scale_uses_the_default_and_says_so(patch) -> None:
    rgb, regions = patch
    result = measure_wrinkles(rgb, regions)
    assert result.scale_assumed
    assert result.mm_per_px == DEFAULT_MM_PER_PX


@pytest.mark.parametrize(
    ("rgb_shape", "mask_shape", "mm", "message"),
    [
        ((10, 10), (10, 10), 0.1, "shape"),
        ((10, 10, 4), (10, 10), 0.1, "shape"),
        ((10, 10, 3), (10, 11), 0.1, "region"),
        ((10, 10, 3), (10, 10), 0.0, "mm_per_px"),
        ((10, 10, 3), (10, 10), -1.0, "mm_per_px"),
        ((10, 10, 3), (10, 10), float("nan"), "mm_per_px"),
    ],
)
def test_bad_arguments_raise(rgb_shape, mask_shape, mm, message) -> None:
    with pytest.raises(ValueError, match=message):
        prepare(np.zeros(rgb_shape, np.float32), {"site": np.ones(mask_shape, bool)}, mm_per_px=mm)


def test_no_skin_or_no_regions_raise(patch) -> None:
    rgb, _ = patch
    with pytest.raises(ValueError, match="empty"):
        measure_redness(rgb, {"site": np.zeros(rgb.shape[:2], bool)}, mm_per_px=0.1)
    with pytest.raises(ValueError, match="empty"):
        measure_redness(rgb, {}, mm_per_px=0.1)


def test_non_finite_pixels_raise(patch) -> None:
    rgb, regions = patch
    bad = rgb.copy()
    bad[3, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        measure_pigment(bad, regions, mm_per_px=0.1)


def test_encoded_integer_pixels_are_refused(patch) -> None:
    rgb, regions = patch
    with pytest.raises(ValueError, match="float"):
        measure_texture((rgb * 255).astype(np.uint8), regions, mm_per_px=0.1)


def test_empty_region_is_left_out_and_map_is_zero_outside_regions(patch) -> None:
    rgb, _ = patch
    h, w = rgb.shape[:2]
    left = np.zeros((h, w), bool)
    left[:, : w // 2] = True
    regions = {"cheek_left": left, "chin": np.zeros((h, w), bool)}
    result = measure_redness(rgb + np.float32(0.02), regions, mm_per_px=0.1)
    assert set(result.regions) == {"cheek_left"}
    assert np.all(result.map[:, w // 2 :] == 0)


@pytest.mark.parametrize("mm", [0.025, 0.05, 0.07])
def test_fine_photos_are_resampled_to_the_working_grid(mm) -> None:
    scene = skin_scene((6.0, 8.0), mm_per_px=mm)
    context = prepare(scene.linear(), scene.everywhere(), mm_per_px=mm)
    assert context.mm_per_px == pytest.approx(WORKING_MM_PER_PX, rel=0.02)
    assert context.lab.shape[:2] == context.skin.shape
    result = measure_texture(scene.linear(), scene.everywhere(), mm_per_px=mm)
    assert result.map.shape == scene.shape


@pytest.mark.parametrize("mm", [0.09, 0.15, 0.3])
def test_coarse_photos_keep_their_grid(mm) -> None:
    scene = skin_scene((8.0, 8.0), mm_per_px=mm)
    assert prepare(scene.linear(), scene.everywhere(), mm_per_px=mm).mm_per_px == mm


def test_measure_all_equals_the_single_measures_and_reports_timings(patch) -> None:
    rgb, regions = patch
    timings: dict[str, float] = {}
    results = measure_all(rgb, regions, mm_per_px=0.1, timings_ms=timings)
    assert tuple(results) == CONCERNS
    assert set(timings) == {"prepare", *CONCERNS}
    for measure in MEASURES:
        single = measure(rgb, regions, mm_per_px=0.1)
        assert results[single.concern].measures == pytest.approx(single.measures)
        np.testing.assert_allclose(results[single.concern].map, single.map)


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.9])
def test_histogram_quantile_matches_numpy(q) -> None:
    values = np.random.default_rng(0).normal(12.0, 3.0, 20_000).astype(np.float32)
    assert quantile(values, q, resolution=0.01) == pytest.approx(np.quantile(values, q), abs=0.02)


def test_robust_sd_ignores_sparse_outliers() -> None:
    values = np.random.default_rng(0).normal(0.0, 2.0, 50_000).astype(np.float32)
    values[:1000] = 40.0
    assert robust_sd(values) == pytest.approx(2.0, rel=0.05)
    assert values.std() > 5.0


def test_masked_smooth_ignores_zero_weight_pixels() -> None:
    values = np.full((120, 120), 50.0, np.float32)
    weight = np.ones_like(values)
    values[40:80, 40:80] = 0.0  # e.g. an eye hole: excluded, must not darken its surroundings
    weight[40:80, 40:80] = 0.0
    smooth = masked_smooth(values, weight, sigma_px=20.0)
    assert np.allclose(smooth[weight > 0], 50.0, atol=1e-3)
