"""Texture: roughness rises with relief; pores of known size are counted and sized."""

from __future__ import annotations

import math

import pytest
from synth import TONES, grid_points, skin_scene

from skinscan.measures import measure_texture

SIZE = (30.0, 30.0)


@pytest.mark.parametrize("tone", list(TONES))
def test_plain_skin_is_smooth_and_poreless(tone) -> None:
    scene = skin_scene(SIZE, tone=tone)
    m = measure_texture(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["roughness"] < 0.2
    assert m["pore_density_per_cm2"] == 0
    assert m["pore_mean_size_mm"] == 0


@pytest.mark.parametrize("grain_mm", [0.2, 0.35])
def test_roughness_rises_with_relief_amplitude(grain_mm) -> None:
    roughness = []
    for amplitude in (0.5, 1.0, 1.5, 2.0, 2.5):
        scene = skin_scene(SIZE, seed=4)
        scene.texture(amplitude, grain_mm=grain_mm)
        roughness.append(
            measure_texture(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures["roughness"]
        )
    assert roughness == sorted(roughness)
    # The band-pass passes a fixed share of this relief: roughness is proportional to it.
    assert roughness[-1] / roughness[0] == pytest.approx(5.0, rel=0.15)


@pytest.mark.parametrize("mm", [0.05, 0.1, 0.15])
@pytest.mark.parametrize("radius", [0.15, 0.25, 0.4])
def test_pores_of_known_size_are_counted_and_sized(mm, radius) -> None:
    scene = skin_scene(SIZE, mm_per_px=mm)
    count = 36
    for centre in grid_points(count, SIZE, 2.0):
        scene.disc(*centre, radius, (-6.0, 0.0, 0.0))
    m = measure_texture(scene.linear(), scene.everywhere(), mm_per_px=mm).measures
    area_cm2 = SIZE[0] * SIZE[1] / 100
    assert m["pore_density_per_cm2"] == pytest.approx(count / area_cm2, rel=0.05)
    assert m["pore_mean_size_mm"] == pytest.approx(2 * radius, rel=0.2)


def test_spot_edges_and_wrinkles_are_not_pores() -> None:
    scene = skin_scene(SIZE)
    for centre in grid_points(4, (15.0, 30.0), 5.0):
        scene.disc(*centre, 2.0, (-10.0, 0.0, 0.0))
    scene.line((22.0, 3.0), (22.0, 27.0), 0.8, 8.0)
    m = measure_texture(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    # A line's two ends can look blob-like; nothing else may.
    assert m["pore_density_per_cm2"] * SIZE[0] * SIZE[1] / 100 <= 2
    assert m["roughness"] < 0.2


def test_pores_count_in_their_own_region() -> None:
    scene = skin_scene((20.0, 40.0))
    regions = {"nose": scene.mask(0, 0, 20, 20), "forehead": scene.mask(0, 20, 20, 40)}
    for centre in grid_points(25, (20.0, 20.0), 2.0):
        scene.disc(*centre, 0.25, (-6.0, 0.0, 0.0))
    result = measure_texture(scene.linear(), regions, mm_per_px=0.1)
    assert result.regions["nose"]["pore_density_per_cm2"] == pytest.approx(25 / 4.0, rel=0.05)
    assert result.regions["forehead"]["pore_density_per_cm2"] == 0
    assert result.measures["pore_density_per_cm2"] == pytest.approx(25 / 8.0, rel=0.05)
    assert math.isclose(result.regions["forehead"]["pore_mean_size_mm"], 0.0)
