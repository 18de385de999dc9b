"""Pigment: skin tone is measured but not scored; spots are counted, sized and contrasted."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth import TONES, grid_points, shadowed, skin_scene

from skinscan.colour_space import delta_e00
from skinscan.measures import ITA_CATEGORY_NAMES, ita_category, measure_pigment, measure_redness
from skinscan.scoring import score

SIZE = (36.0, 36.0)


@pytest.mark.parametrize(
    ("ita", "name"),
    [
        (70.0, "very_light"),
        (55.1, "very_light"),
        (55.0, "light"),
        (41.5, "light"),
        (30.0, "intermediate"),
        (28.0, "tan"),
        (11.0, "tan"),
        (0.0, "brown"),
        (-29.9, "brown"),
        (-30.0, "dark"),
        (-60.0, "dark"),
    ],
)
def test_ita_category_bounds(ita, name) -> None:
    assert ITA_CATEGORY_NAMES[ita_category(ita)] == name


@pytest.mark.parametrize("tone", list(TONES))
def test_plain_skin_tone_is_measured_but_scores_no_pigment(tone) -> None:
    scene = skin_scene(SIZE, tone=tone)
    result = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1)
    m = result.measures
    lightness, _, b_star = TONES[tone]
    expected_ita = math.degrees(math.atan2(lightness - 50.0, b_star))
    assert m["ita_deg"] == pytest.approx(expected_ita, abs=0.5)
    assert m["ita_category"] == ita_category(expected_ita)
    assert m["spot_count"] == 0
    assert m["spot_area_pct"] == 0
    assert m["evenness_sd"] < 0.3
    assert score(result)[0].severity < 3


def test_darker_skin_has_higher_melanin_index_but_equal_severity() -> None:
    results = {}
    for tone in ("light", "dark"):
        scene = skin_scene(SIZE, tone=tone)
        results[tone] = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1)
    assert results["dark"].measures["melanin_index"] > results["light"].measures["melanin_index"]
    light, dark = (score(results[t])[0].severity for t in ("light", "dark"))
    assert abs(light - dark) < 2


def test_melanin_index_is_100_log10_inverse_red() -> None:
    rgb = np.zeros((30, 30, 3), np.float32)
    rgb[:] = (0.40, 0.25, 0.20)
    m = measure_pigment(rgb, {"site": np.ones((30, 30), bool)}, mm_per_px=0.1).measures
    assert m["melanin_index"] == pytest.approx(100 * np.log10(1 / 0.40), rel=1e-4)


@pytest.mark.parametrize("tone", list(TONES))
@pytest.mark.parametrize(
    ("count", "radius"),
    [(1, 1.5), pytest.param(3, 0.8, id="3-0.8"), (7, 1.5), (5, 2.5)],
)
def test_spot_count_and_area(tone, count, radius) -> None:
    scene = skin_scene(SIZE, tone=tone)
    for centre in grid_points(count, SIZE, 6.0):
        scene.disc(*centre, radius, (-10.0, 1.0, 3.0))
    m = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    truth_pct = 100 * count * math.pi * radius**2 / (SIZE[0] * SIZE[1])
    assert m["spot_count"] == count
    assert m["spot_area_pct"] == pytest.approx(truth_pct, rel=0.2)


@pytest.mark.parametrize("tone", list(TONES))
def test_spot_contrast_is_the_colour_difference_painted(tone) -> None:
    scene = skin_scene(SIZE, tone=tone)
    offset = (-10.0, 2.0, 4.0)
    for centre in grid_points(4, SIZE, 8.0):
        scene.disc(*centre, 2.0, offset)
    m = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    skin = np.array(TONES[tone])
    truth = float(delta_e00(skin + np.array(offset), skin))
    assert m["spot_contrast_de00"] == pytest.approx(truth, rel=0.15)


def test_pores_and_lines_are_not_spots() -> None:
    scene = skin_scene(SIZE)
    for centre in grid_points(16, (18.0, 36.0), 3.0):
        scene.disc(*centre, 0.4, (-10.0, 0.0, 0.0))  # 0.5 mm²: below the spot minimum
    scene.line((26.0, 4.0), (26.0, 32.0), 1.0, 10.0)  # a wrinkle
    m = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["spot_count"] == 0


def test_a_dark_patch_cut_by_the_edge_of_the_skin_is_not_a_spot() -> None:
    """Hair, brows and lashes leave dark bits along the edge of the skin that is measured: a
    dark patch with skin on one side only is not a macule; the same patch inside skin is."""
    scene = skin_scene(SIZE)
    scene.disc(8.0, 8.0, 2.5, (-10.0, 1.0, 3.0))  # a quarter of it inside the corner below
    scene.disc(24.0, 24.0, 1.5, (-10.0, 1.0, 3.0))
    cornered = {"site": scene.mask(8, 8, 36, 36)}
    assert measure_pigment(scene.linear(), cornered, mm_per_px=0.1).measures["spot_count"] == 1
    whole = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert whole["spot_count"] == 2


def test_spots_count_in_their_own_region() -> None:
    scene = skin_scene((30.0, 40.0))
    regions = {"cheek_left": scene.mask(0, 0, 30, 20), "cheek_right": scene.mask(0, 20, 30, 40)}
    for centre in [(8.0, 6.0), (8.0, 14.0), (20.0, 10.0)]:
        scene.disc(*centre, 1.5, (-10.0, 1.0, 3.0))
    result = measure_pigment(scene.linear(), regions, mm_per_px=0.1)
    assert result.measures["spot_count"] == 3
    assert result.regions["cheek_left"]["spot_count"] == 3
    assert result.regions["cheek_right"]["spot_count"] == 0
    assert result.regions["cheek_right"]["spot_contrast_de00"] == 0
    _, per_region = score(result)
    assert per_region["cheek_left"].severity > per_region["cheek_right"].severity


def test_evenness_rises_with_mottling_and_ignores_shading() -> None:
    values = []
    for amplitude in (0.0, 1.0, 2.0, 3.0):
        scene = skin_scene(SIZE, seed=2)
        scene.texture(amplitude, grain_mm=1.5)
        values.append(measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=0.1))
    evenness = [r.measures["evenness_sd"] for r in values]
    assert evenness == sorted(evenness)
    assert evenness[-1] > 5 * evenness[0]
    shaded = skin_scene(SIZE, seed=2)
    ys, _ = shaded.coords_mm()
    shaded.lab[..., 0] += 10.0 * ys / SIZE[0]  # a 10 L* illumination gradient across the patch
    m = measure_pigment(shaded.linear(), shaded.everywhere(), mm_per_px=0.1).measures
    assert m["evenness_sd"] < 0.3
    assert m["spot_count"] == 0


# --- Melanin from the skin-colour separation, on two-layer model skin of three tones --------

BL_SHAPE = (360, 360)  # 36 × 36 mm at 0.1 mm/px
BL_SPOTS = [(90.0, 90.0), (90.0, 270.0), (270.0, 90.0), (270.0, 270.0)]
BL_TONE_NAMES = ("light", "intermediate", "dark")


def _bl_scene(tone: str, *, spot_relative: float = 0.0, mottling: float = 0.0):
    """Model skin of ``tone``; spots hold ``1 + spot_relative`` times the skin's melanin."""
    from test_separation import disc_mask, smooth_field, two_layer_skin

    from skinscan.datasets.phantom import SKIN_TONES

    melanin = np.full(BL_SHAPE, SKIN_TONES[tone], np.float32)
    # Mottling is relative: the same change of melanogenesis on any constitutive level.
    melanin *= 1.0 + mottling * smooth_field(BL_SHAPE, 15.0, seed=4)
    for centre in BL_SPOTS:
        melanin[disc_mask(BL_SHAPE, centre, 20.0)] *= 1.0 + spot_relative  # 2 mm radius
    blood = np.full(BL_SHAPE, 0.02, np.float32)
    rng = np.random.default_rng(2)
    rgb = two_layer_skin(melanin, blood) * (1 + 0.002 * rng.standard_normal((*BL_SHAPE, 3)))
    rgb = np.clip(rgb, 0, 1).astype(np.float32)
    site = {"site": np.ones(BL_SHAPE, bool)}
    return measure_pigment(rgb, site, mm_per_px=0.1), measure_redness(rgb, site, mm_per_px=0.1)


@pytest.mark.parametrize("tone", BL_TONE_NAMES)
def test_added_melanin_spots_raise_pigment_and_not_redness(tone) -> None:
    from skinscan.datasets.phantom import SKIN_TONES

    plain, _ = _bl_scene(tone)
    spotted, redness = _bl_scene(tone, spot_relative=0.5)
    truth_pct = 100 * len(BL_SPOTS) * math.pi * 20.0**2 / (BL_SHAPE[0] * BL_SHAPE[1])
    assert plain.measures["spot_count"] == 0
    assert spotted.measures["spot_count"] == len(BL_SPOTS)
    assert spotted.measures["spot_area_pct"] == pytest.approx(truth_pct, rel=0.1)
    assert spotted.measures["melanin_mean"] > plain.measures["melanin_mean"]
    assert spotted.method == "classical-v1"
    # The map is melanin above the local skin, volume-fraction points.
    assert spotted.map[90, 90] == pytest.approx(0.5 * 100 * SKIN_TONES[tone], rel=0.1)
    assert redness.measures["red_area_pct"] == 0.0
    assert abs(redness.measures["delta_hemoglobin"]) < 0.05


def test_same_added_melanin_reads_the_same_on_every_tone() -> None:
    results = [_bl_scene(tone, spot_relative=0.3)[0].measures for tone in BL_TONE_NAMES]
    assert {m["spot_count"] for m in results} == {len(BL_SPOTS)}
    areas = [m["spot_area_pct"] for m in results]
    assert max(areas) - min(areas) <= 0.02 * max(areas), areas


def test_melanin_variation_is_relative_mottling_on_every_tone() -> None:
    by_amplitude = []
    for amplitude in (0.0, 0.05, 0.1, 0.2):
        by_amplitude.append(
            [
                _bl_scene(t, mottling=amplitude)[0].measures["melanin_variation"]
                for t in BL_TONE_NAMES
            ]
        )
    table = np.array(by_amplitude)  # (amplitude, tone)
    assert np.all(np.diff(table, axis=0) > 0), table
    assert table[0].max() < 0.2 * table[1].min(), table
    # The same relative mottling reads within 10 % on light, intermediate and dark skin.
    assert np.all(np.ptp(table[1:], axis=1) <= 0.1 * table[1:].mean(axis=1)), table


# --- A coarse, noisy photo: 0.28 mm/px, sensor noise and the skin's own mm-scale grain -------


def _grainy(count: int, seed: int):
    size, mm_per_px, radius = (48.0, 48.0), 0.28, 2.0
    scene = skin_scene(size, mm_per_px=mm_per_px, noise=3.0, seed=seed)
    scene.texture(1.5, grain_mm=1.0)  # blotches a few mm across, 1.5 L* SD, no edges
    for centre in grid_points(count, size, 8.0):
        scene.disc(*centre, radius, (-10.0, 1.0, 3.0))
    m = measure_pigment(scene.linear(), scene.everywhere(), mm_per_px=mm_per_px).measures
    return m, 100 * count * math.pi * radius**2 / (size[0] * size[1])


@pytest.mark.parametrize("seed", [3, 4])
def test_skin_grain_on_a_coarse_noisy_photo_is_not_spots(seed) -> None:
    plain, _ = _grainy(0, seed)
    spotted, truth_pct = _grainy(5, seed)
    # Without the ring test the grain alone reads as ~40 spots over ~2.7 % of the skin.
    assert plain["spot_area_pct"] < 0.25 * truth_pct
    assert spotted["spot_area_pct"] == pytest.approx(truth_pct, rel=0.15)
    assert 5 <= spotted["spot_count"] <= 7


def test_a_spot_near_the_contrast_threshold_counts_in_part() -> None:
    # A 2 mm spot darkened step by step: its share of the skin (3.1 %) is taken in over several
    # steps across the contrast threshold, not in one jump, so a spot at the threshold does not
    # flip the area between two captures; the count still switches once.
    size = (20.0, 20.0)
    areas, counts = [], []
    for darker in np.arange(1.0, 4.01, 0.25):
        scene = skin_scene(size, seed=1)
        scene.disc(10.0, 10.0, 2.0, (-darker, 0.25 * darker, darker))
        m = measure_pigment(shadowed(scene), scene.everywhere(), mm_per_px=0.1).measures
        areas.append(m["spot_area_pct"])
        counts.append(m["spot_count"])
    full = 100.0 * np.pi * 2.0**2 / (size[0] * size[1])
    assert areas[0] == 0.0
    assert areas[-1] == pytest.approx(full, rel=0.05)
    assert np.all(np.diff(areas) >= -1e-6)
    assert np.max(np.diff(areas)) <= 0.5 * full, areas
    assert sorted(set(counts)) == [0.0, 1.0]
