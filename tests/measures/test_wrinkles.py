"""Wrinkles: painted dark lines of known length, width and depth are found and measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth import TONES, Scene, grid_points, shadowed, skin_scene

from skinscan.measures import measure_wrinkles, wrinkles
from skinscan.measures._relief import REFERENCE_L

SIZE = (40.0, 40.0)
AREA_CM2 = SIZE[0] * SIZE[1] / 100


def paint_parallel_lines(
    scene: Scene, count: int, length: float, width: float, depth: float, angle_deg: float = 0.0
) -> float:
    """``count`` parallel lines 8 mm apart through the middle; returns their total length (mm)."""
    direction = np.array([math.sin(math.radians(angle_deg)), math.cos(math.radians(angle_deg))])
    normal = np.array([direction[1], -direction[0]])
    centre = np.array(SIZE) / 2
    for k in range(count):
        middle = centre + normal * 8.0 * (k - (count - 1) / 2)
        p0, p1 = middle - direction * length / 2, middle + direction * length / 2
        scene.line((p0[0], p0[1]), (p1[0], p1[1]), width, depth)
    return count * length


@pytest.mark.parametrize("tone", list(TONES))
def test_plain_skin_has_no_wrinkles(tone) -> None:
    scene = skin_scene(SIZE, tone=tone)
    result = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1)
    assert all(v == 0 for v in result.measures.values())
    assert not result.map.any()


@pytest.mark.parametrize("angle", [0.0, 20.0, 45.0, 90.0])
@pytest.mark.parametrize("mm", [0.1, 0.15])
def test_length_density_matches_painted_lines(angle, mm) -> None:
    scene = skin_scene(SIZE, mm_per_px=mm)
    truth_mm = paint_parallel_lines(scene, 3, 20.0, 0.8, 8.0, angle)
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=mm).measures
    assert m["length_mm_per_cm2"] == pytest.approx(truth_mm / AREA_CM2, rel=0.2)
    assert m["count"] == 3


@pytest.mark.parametrize("width", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("depth", [6.0, 10.0])
def test_width_depth_and_area_match_painted_lines(width, depth) -> None:
    scene = skin_scene(SIZE)
    truth_mm = paint_parallel_lines(scene, 2, 24.0, width, depth, angle_deg=30.0)
    result = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1)
    m = result.measures
    assert m["mean_width_mm"] == pytest.approx(width, rel=0.25)
    assert m["depth_proxy"] == pytest.approx(depth, rel=0.15)
    assert m["area_pct"] == pytest.approx(100 * truth_mm * width / (SIZE[0] * SIZE[1]), rel=0.25)
    assert set(np.unique(result.map)) == {0.0, 1.0}
    assert result.map.mean() * 100 == pytest.approx(m["area_pct"], rel=0.01)


def test_lines_shorter_than_3_mm_and_faint_lines_are_dropped() -> None:
    scene = skin_scene(SIZE)
    for y, x in grid_points(9, SIZE, 6.0):
        scene.line((y, x - 1.0), (y, x + 1.0), 0.8, 10.0)  # 2 mm long
    scene.line((37.0, 5.0), (37.0, 35.0), 0.8, 2.0)  # 2 L* deep: below the detector's floor
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 0
    assert m["length_mm_per_cm2"] == 0


def test_spots_and_red_patches_are_not_wrinkles() -> None:
    scene = skin_scene(SIZE)
    for centre in grid_points(6, SIZE, 7.0):
        scene.disc(*centre, 1.5, (-10.0, 1.0, 3.0))
    scene.rect(5.0, 5.0, 20.0, 35.0, (0.0, 15.0, 0.0))
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] == 0


def test_edge_of_a_large_dark_patch_is_not_a_wrinkle() -> None:
    scene = skin_scene(SIZE)
    scene.rect(0.0, 0.0, 40.0, 18.0, (-8.0, 0.0, 0.0))
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] < 0.5


def test_wrinkles_count_in_their_own_region() -> None:
    scene = skin_scene(SIZE)
    regions = {
        "forehead": scene.mask(0.0, 0.0, 20.0, 40.0),
        "periorbital_left": scene.mask(20.0, 0.0, 40.0, 40.0),
    }
    for y in (5.0, 10.0, 15.0):
        scene.line((y, 5.0), (y, 35.0), 0.8, 8.0)
    result = measure_wrinkles(shadowed(scene), regions, mm_per_px=0.1)
    forehead = result.regions["forehead"]
    assert forehead["count"] == 3
    assert forehead["length_mm_per_cm2"] == pytest.approx(90.0 / 8.0, rel=0.2)
    assert result.regions["periorbital_left"]["count"] == 0
    assert result.regions["periorbital_left"]["length_mm_per_cm2"] == 0
    assert result.measures["length_mm_per_cm2"] == pytest.approx(90.0 / 16.0, rel=0.2)


@pytest.mark.parametrize("width", [0.4, 0.6, 1.0, 1.5])
@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_one_line_width_and_length(width, angle) -> None:
    scene = skin_scene(SIZE)
    truth_mm = paint_parallel_lines(scene, 1, 24.0, width, 10.0, angle)
    result = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1)
    m = result.measures
    assert m["count"] == 1
    assert m["mean_width_mm"] == pytest.approx(width, rel=0.2)
    assert m["length_mm_per_cm2"] * AREA_CM2 == pytest.approx(truth_mm, rel=0.1)
    assert result.method == "classical-v1"


@pytest.mark.parametrize("diameter", [1.0, 2.0, 3.0])
def test_round_spots_and_pores_are_not_wrinkles(diameter) -> None:
    scene = skin_scene(SIZE)
    for centre in grid_points(16, SIZE, 5.0):
        scene.disc(*centre, diameter / 2, (-12.0, 0.0, 0.0))
    scene.line((30.0, 5.0), (30.0, 35.0), 0.8, 8.0)  # one real wrinkle between them
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 1
    assert m["length_mm_per_cm2"] * AREA_CM2 == pytest.approx(30.0, rel=0.1)


def oval_spots(size_mm: float) -> Scene:
    """16 dark oval spots ``size_mm`` long and half as wide."""
    scene = skin_scene(SIZE)
    for y, x in grid_points(16, SIZE, 5.0):
        scene.line((y, x - size_mm / 2), (y, x + size_mm / 2), size_mm / 2, 12.0)
    return scene


@pytest.mark.parametrize("size_mm", [2.0, 3.0])
def test_shape_constraints_drop_oval_spots(size_mm, monkeypatch) -> None:
    scene = oval_spots(size_mm)
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 0
    # The ridge filter alone does answer to them: it is the constraints that drop them.
    monkeypatch.setattr(wrinkles, "WRINKLE_MIN_LENGTH_MM", 0.5)
    monkeypatch.setattr(wrinkles, "WRINKLE_MIN_ELONGATION", 0.0)
    monkeypatch.setattr(wrinkles, "WRINKLE_MAX_RESPONSE_CV", math.inf)
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 16


@pytest.mark.parametrize("size_mm", [2.0, 3.0])
def test_either_shape_constraint_alone_drops_oval_spots(size_mm, monkeypatch) -> None:
    scene = oval_spots(size_mm)
    monkeypatch.setattr(wrinkles, "WRINKLE_MIN_LENGTH_MM", 0.5)
    assert (
        measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures["count"] == 0
    )
    monkeypatch.setattr(wrinkles, "WRINKLE_MIN_LENGTH_MM", 4.0)
    monkeypatch.setattr(wrinkles, "WRINKLE_MIN_ELONGATION", 0.0)
    monkeypatch.setattr(wrinkles, "WRINKLE_MAX_RESPONSE_CV", math.inf)
    assert (
        measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures["count"] == 0
    )


def test_a_bright_line_is_not_a_wrinkle() -> None:
    scene = skin_scene(SIZE)
    scene.line((20.0, 5.0), (20.0, 35.0), 0.8, -10.0)  # 10 L* lighter
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] == 0


@pytest.mark.parametrize("tone", list(TONES))
def test_the_same_shadow_is_found_on_every_tone(tone) -> None:
    # A wrinkle darkens skin by a fraction of its lightness: 12 % of L* on each tone.
    scene = skin_scene(SIZE, tone=tone)
    depth = 0.12 * TONES[tone][0]
    truth_mm = paint_parallel_lines(scene, 2, 24.0, 0.6, depth, 15.0)
    m = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 2
    assert m["length_mm_per_cm2"] * AREA_CM2 == pytest.approx(truth_mm, rel=0.1)
    # depth_proxy is expressed at L* 50: the painted L* depth scaled by (50 + 16) / (L* + 16).
    lightness = TONES[tone][0]
    expected = depth * (REFERENCE_L + 16.0) / (lightness + 16.0)
    assert m["depth_proxy"] == pytest.approx(expected, rel=0.2)


def test_the_map_is_binary_and_marks_the_line() -> None:
    scene = skin_scene(SIZE)
    scene.line((20.0, 5.0), (20.0, 35.0), 1.0, 8.0)
    result = measure_wrinkles(shadowed(scene), scene.everywhere(), mm_per_px=0.1)
    rows = np.flatnonzero(result.map.any(axis=1))
    assert set(np.unique(result.map)) == {0.0, 1.0}
    assert rows.min() >= 194
    assert rows.max() <= 205


def _line_weight(response_value: float, length_mm: float, noise: float = 0.0) -> float:
    """Weight of one straight horizontal line of constant ridge response (0.1 mm/px)."""
    mm_per_px = 0.1
    response = np.zeros((60, 200), np.float32)
    length_px = round(length_mm / mm_per_px)
    response[29:32, 20 : 20 + length_px] = response_value
    candidate, stats = wrinkles._candidates(response, wrinkles.WRINKLE_MIN_LENGTH_MM / mm_per_px)
    lines = wrinkles._centre_lines(candidate, stats, mm_per_px, response, noise)
    assert lines.n == 1
    return float(lines.weight[1])


def test_a_strong_long_line_counts_in_full() -> None:
    assert _line_weight(wrinkles.RIDGE_HIGH + 2.0, 10.0) == pytest.approx(1.0)


def test_a_marginal_line_counts_in_part() -> None:
    zero, span = wrinkles.WRINKLE_WEIGHT_ZERO, wrinkles.WRINKLE_WEIGHT_SPAN
    value = max(zero + 0.5 * span, wrinkles.RIDGE_HIGH)
    expected = min(1.0, (value - zero) / span)
    assert _line_weight(value, 10.0) == pytest.approx(expected, abs=0.02)
    # Hysteresis keeps a line whose mean response is just above the least weight: it counts
    # for little, so whether it is found moves the length little.
    assert _line_weight(wrinkles.RIDGE_HIGH, 10.0) <= 1.0


def test_a_line_near_the_least_length_counts_in_part() -> None:
    shortest = wrinkles.WRINKLE_MIN_LENGTH_MM
    full = shortest * wrinkles.WRINKLE_FULL_LENGTH_RATIO
    halfway = _line_weight(wrinkles.RIDGE_HIGH + 2.0, 0.5 * (shortest + full) + 0.1)
    assert 0.25 < halfway < 0.9
    assert _line_weight(wrinkles.RIDGE_HIGH + 2.0, full + 0.5) == pytest.approx(1.0)


def test_noise_raises_the_response_a_line_needs_to_count() -> None:
    value = wrinkles.RIDGE_HIGH + 2.0
    assert _line_weight(value, 10.0, noise=0.0) == pytest.approx(1.0)
    zero = value / wrinkles.WRINKLE_WEIGHT_NOISE
    assert _line_weight(value, 10.0, noise=zero) == pytest.approx(0.0)
    half = (value - 0.5 * wrinkles.WRINKLE_WEIGHT_SPAN) / wrinkles.WRINKLE_WEIGHT_NOISE
    assert _line_weight(value, 10.0, noise=half) == pytest.approx(0.5, abs=0.02)


def test_noise_level_follows_the_photo_and_spares_real_lines() -> None:
    from skinscan.measures._common import prepare

    rng = np.random.default_rng(3)
    scene = skin_scene(SIZE)
    truth_mm = paint_parallel_lines(scene, 2, 24.0, 0.8, 8.0, angle_deg=10.0)
    clean = shadowed(scene)
    noisy = np.clip(clean * (1.0 + rng.normal(0.0, 0.06, clean.shape[:2]))[..., None], 0.0, 1.0)
    noisy = noisy.astype(np.float32)
    levels = [
        wrinkles._ridge_map(prepare(image, scene.everywhere(), mm_per_px=0.1))[1]
        for image in (clean, noisy)
    ]
    assert 0.0 < levels[0] < levels[1]
    m = measure_wrinkles(noisy, scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] * AREA_CM2 == pytest.approx(truth_mm, rel=0.2)
