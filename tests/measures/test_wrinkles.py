"""Wrinkles: painted dark lines of known length, width and depth are found and measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth import TONES, Scene, grid_points, skin_scene

from skinscan.measures import measure_wrinkles

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
    result = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=0.1)
    assert all(v == 0 for v in result.measures.values())
    assert not result.map.any()


@pytest.mark.parametrize("angle", [0.0, 20.0, 45.0, 90.0])
@pytest.mark.parametrize("mm", [0.1, 0.15])
def test_length_density_matches_painted_lines(angle, mm) -> None:
    scene = skin_scene(SIZE, mm_per_px=mm)
    truth_mm = paint_parallel_lines(scene, 3, 20.0, 0.8, 8.0, angle)
    m = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=mm).measures
    assert m["length_mm_per_cm2"] == pytest.approx(truth_mm / AREA_CM2, rel=0.2)
    assert m["count"] == 3


@pytest.mark.parametrize("width", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("depth", [6.0, 10.0])
def test_width_depth_and_area_match_painted_lines(width, depth) -> None:
    scene = skin_scene(SIZE)
    truth_mm = paint_parallel_lines(scene, 2, 24.0, width, depth, angle_deg=30.0)
    result = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=0.1)
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
    m = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["count"] == 0
    assert m["length_mm_per_cm2"] == 0


def test_spots_and_red_patches_are_not_wrinkles() -> None:
    scene = skin_scene(SIZE)
    for centre in grid_points(6, SIZE, 7.0):
        scene.disc(*centre, 1.5, (-10.0, 1.0, 3.0))
    scene.rect(5.0, 5.0, 20.0, 35.0, (0.0, 15.0, 0.0))
    m = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] == 0


def test_edge_of_a_large_dark_patch_is_not_a_wrinkle() -> None:
    scene = skin_scene(SIZE)
    scene.rect(0.0, 0.0, 40.0, 18.0, (-8.0, 0.0, 0.0))
    m = measure_wrinkles(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["length_mm_per_cm2"] < 0.5


def test_wrinkles_count_in_their_own_region() -> None:
    scene = skin_scene(SIZE)
    regions = {
        "forehead": scene.mask(0.0, 0.0, 20.0, 40.0),
        "periorbital_left": scene.mask(20.0, 0.0, 40.0, 40.0),
    }
    for y in (5.0, 10.0, 15.0):
        scene.line((y, 5.0), (y, 35.0), 0.8, 8.0)
    result = measure_wrinkles(scene.linear(), regions, mm_per_px=0.1)
    forehead = result.regions["forehead"]
    assert forehead["count"] == 3
    assert forehead["length_mm_per_cm2"] == pytest.approx(90.0 / 8.0, rel=0.2)
    assert result.regions["periorbital_left"]["count"] == 0
    assert result.regions["periorbital_left"]["length_mm_per_cm2"] == 0
    assert result.measures["length_mm_per_cm2"] == pytest.approx(90.0 / 16.0, rel=0.2)
