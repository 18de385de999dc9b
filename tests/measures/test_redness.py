"""Redness: uniform skin reads none, painted red patches read their area, per person and region."""

from __future__ import annotations

import numpy as np
import pytest
from synth import TONES, skin_scene

from skinscan.colour_space import lab_to_linear_srgb
from skinscan.datasets.phantom import render_patch
from skinscan.measures import measure_pigment, measure_redness
from skinscan.measures.redness import RED_DELTA_HEMOGLOBIN, band_limit, lower_mean
from skinscan.scoring import score

SIZE = (30.0, 30.0)


@pytest.mark.parametrize("tone", list(TONES))
def test_uniform_skin_has_no_red_area(tone) -> None:
    scene = skin_scene(SIZE, tone=tone)
    m = measure_redness(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["red_area_pct"] == pytest.approx(0.0, abs=0.1)
    assert m["delta_a_star"] == pytest.approx(0.0, abs=0.3)
    assert m["a_star"] == pytest.approx(TONES[tone][1], abs=0.2)
    assert score(measure_redness(scene.linear(), scene.everywhere(), mm_per_px=0.1))[0].severity < 3


def test_erythema_index_is_100_log10_red_over_green() -> None:
    rgb = np.zeros((40, 40, 3), np.float32)
    rgb[:] = (0.40, 0.20, 0.15)
    m = measure_redness(rgb, {"site": np.ones((40, 40), bool)}, mm_per_px=0.1).measures
    assert m["erythema_index"] == pytest.approx(100 * np.log10(0.40 / 0.20), rel=1e-4)


@pytest.mark.parametrize("tone", list(TONES))
@pytest.mark.parametrize("fraction", [0.05, 0.10, 0.25])
def test_red_patch_area_is_measured(tone, fraction) -> None:
    scene = skin_scene(SIZE, tone=tone)
    scene.rect(0.0, 0.0, SIZE[0] * fraction, SIZE[1], (0.0, 15.0, 0.0))
    m = measure_redness(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["red_area_pct"] == pytest.approx(100 * fraction, abs=2.0)
    assert m["delta_a_star"] == pytest.approx(15.0 * fraction, abs=0.5)
    if fraction > 0.1:  # the 90th percentile then lies inside the patch
        assert m["a_star_p90"] == pytest.approx(TONES[tone][1] + 15.0, abs=1.0)


def test_red_patch_raises_severity() -> None:
    plain = skin_scene(SIZE)
    red = skin_scene(SIZE)
    red.rect(0.0, 0.0, 3.0, SIZE[1], (0.0, 15.0, 0.0))
    before = score(measure_redness(plain.linear(), plain.everywhere(), mm_per_px=0.1))[0]
    after = score(measure_redness(red.linear(), red.everywhere(), mm_per_px=0.1))[0]
    assert after.severity > before.severity + 10


def test_red_patch_inside_one_region_raises_that_region_only() -> None:
    scene = skin_scene((30.0, 40.0))
    regions = {
        "forehead": scene.mask(0.0, 0.0, 12.0, 40.0),
        "cheek_left": scene.mask(15.0, 0.0, 30.0, 18.0),
        "cheek_right": scene.mask(15.0, 22.0, 30.0, 40.0),
    }
    scene.rect(18.0, 3.0, 27.0, 15.0, (0.0, 15.0, 0.0))  # inside cheek_left, 40 % of it
    result = measure_redness(scene.linear(), regions, mm_per_px=0.1)
    assert result.regions["cheek_left"]["red_area_pct"] == pytest.approx(40.0, abs=3.0)
    assert result.regions["forehead"]["red_area_pct"] < 0.5
    assert result.regions["cheek_right"]["red_area_pct"] < 0.5
    _, per_region = score(result)
    assert per_region["cheek_left"].severity > per_region["forehead"].severity + 20
    assert per_region["forehead"].severity < 3
    # The map is hemoglobin above the baseline: far over the red threshold inside, far under it out.
    assert result.map[scene.mask(18.5, 3.5, 26.5, 14.5)].min() > 2.5 * RED_DELTA_HEMOGLOBIN
    assert result.map[regions["forehead"]].max() < 0.5 * RED_DELTA_HEMOGLOBIN


def test_baseline_is_the_persons_skin_not_the_patch() -> None:
    # Most of the skin red: the mean of the lowest 40 % still sits on the uninvolved skin.
    scene = skin_scene(SIZE)
    scene.rect(0.0, 0.0, SIZE[0] * 0.6, SIZE[1], (0.0, 10.0, 0.0))
    m = measure_redness(scene.linear(), scene.everywhere(), mm_per_px=0.1).measures
    assert m["red_area_pct"] == pytest.approx(60.0, abs=2.0)


def test_lower_mean_is_the_mean_of_the_lowest_fraction() -> None:
    values = np.arange(1000, dtype=np.float32) / 100  # 0.00 … 9.99
    assert lower_mean(values, 0.4, resolution=0.01) == pytest.approx(values[:400].mean(), abs=0.01)
    constant = np.full(50, 3.0, np.float32)
    assert lower_mean(constant, 0.4, resolution=0.01) == pytest.approx(3.0, abs=0.005)
    assert np.isnan(lower_mean(np.zeros(0, np.float32), 0.4, resolution=0.01))


def test_lighter_redder_colour_raises_a_star_and_erythema_index() -> None:
    lab = np.zeros((20, 20, 3), np.float32)
    lab[:] = (60.0, 12.0, 18.0)
    redder = lab.copy()
    redder[..., 1] += 8.0
    regions = {"site": np.ones((20, 20), bool)}
    a = measure_redness(np.clip(lab_to_linear_srgb(lab), 0, 1), regions, mm_per_px=0.1).measures
    b = measure_redness(np.clip(lab_to_linear_srgb(redder), 0, 1), regions, mm_per_px=0.1).measures
    assert b["a_star"] == pytest.approx(a["a_star"] + 8.0, abs=0.05)
    assert b["erythema_index"] > a["erythema_index"] + 5


# --- Hemoglobin from the skin-colour separation, on two-layer model skin of three tones ------

BL_SHAPE = (300, 300)  # 30 × 30 mm at 0.1 mm/px
MODEL_TONES = ("light", "intermediate", "dark")


def _model_redness(tone: str, added_points: float, fraction: float):
    """Model skin of ``tone`` with ``added_points`` of dermal blood over the top ``fraction``."""
    from test_separation import two_layer_skin

    from skinscan.datasets.phantom import SKIN_TONES

    melanin = np.full(BL_SHAPE, SKIN_TONES[tone], np.float32)
    blood = np.full(BL_SHAPE, 0.02, np.float32)
    blood[: round(BL_SHAPE[0] * fraction)] += added_points / 100
    rng = np.random.default_rng(1)
    rgb = two_layer_skin(melanin, blood) * (1 + 0.002 * rng.standard_normal((*BL_SHAPE, 3)))
    rgb = np.clip(rgb, 0, 1).astype(np.float32)
    site = {"site": np.ones(BL_SHAPE, bool)}
    return measure_redness(rgb, site, mm_per_px=0.1), measure_pigment(rgb, site, mm_per_px=0.1)


@pytest.mark.parametrize("tone", MODEL_TONES)
def test_added_hemoglobin_raises_redness_and_not_pigment(tone) -> None:
    plain_red, plain_pig = _model_redness(tone, 0.0, 0.0)
    red, pig = _model_redness(tone, 2.0, 0.2)
    assert plain_red.measures["red_area_pct"] == 0.0
    assert plain_red.measures["delta_hemoglobin"] == pytest.approx(0.0, abs=0.02)
    assert red.measures["red_area_pct"] == pytest.approx(20.0, abs=0.5)
    assert red.measures["delta_hemoglobin"] == pytest.approx(2.0 * 0.2, abs=0.03)
    assert red.measures["hemoglobin_mean"] > plain_red.measures["hemoglobin_mean"] + 0.35
    assert red.method == "classical-v1"
    # No cross-talk into melanin: same mean (within 1 %), no spots.
    assert pig.measures["melanin_mean"] == pytest.approx(
        plain_pig.measures["melanin_mean"], rel=0.01
    )
    assert pig.measures["spot_count"] == 0


@pytest.mark.parametrize(("added", "fraction"), [(2.0, 0.1), (3.0, 0.2), (4.0, 0.35)])
def test_same_added_hemoglobin_reads_the_same_on_every_tone(added, fraction) -> None:
    # The separation returns blood in volume-fraction points: the same blood under more melanin
    # reads the same, although a* barely moves on dark skin.
    measures = [_model_redness(tone, added, fraction)[0].measures for tone in MODEL_TONES]
    for key, tolerance in (("delta_hemoglobin", 0.03), ("red_area_pct", 0.5)):
        values = [m[key] for m in measures]
        assert max(values) - min(values) <= tolerance, (key, values)


def test_band_limit_removes_narrow_dips_and_bumps_and_keeps_wide_patches() -> None:
    image = np.full((80, 80), 2.0, np.float32)
    image[10:12, :] = 1.0  # a 2 px dip (a shadow line)
    image[30:32, :] = 3.0  # a 2 px bump
    image[50:70, 20:60] = 4.0  # a 20 px patch
    out = band_limit(image, 5.0)
    assert np.allclose(out[:40], 2.0)
    assert np.allclose(out[52:68, 22:58], 4.0)
    assert np.allclose(band_limit(image, 2.0), image)


@pytest.mark.parametrize("seed", [0, 3])
def test_wrinkle_and_pore_shadows_on_dark_skin_do_not_read_as_blood(seed: int) -> None:
    # On dark skin the separation reads part of a narrow shadow's grey darkening as a blood
    # change; the deepest painted wrinkles and coarsest texture must still read next to no red.
    for concern in ("wrinkles", "texture"):
        phantom = render_patch(tone="dark", seed=seed, **{concern: 4})
        result = measure_redness(
            phantom.linear_rgb, {"site": phantom.truth.skin}, mm_per_px=phantom.truth.mm_per_px
        )
        assert not phantom.truth.red_area.any()
        assert result.measures["red_area_pct"] < 4.0, concern
        assert result.measures["delta_hemoglobin"] < 0.3, concern
        assert score(result)[0].severity < 6.0, concern


@pytest.mark.parametrize("seed", [0, 3])
def test_painted_erythema_on_dark_skin_keeps_its_area(seed: int) -> None:
    phantom = render_patch(tone="dark", seed=seed, redness=1)
    result = measure_redness(
        phantom.linear_rgb, {"site": phantom.truth.skin}, mm_per_px=phantom.truth.mm_per_px
    )
    truth_pct = 100.0 * float(phantom.truth.red_area.mean())
    assert result.measures["red_area_pct"] == pytest.approx(truth_pct, abs=1.5)


def test_red_area_holds_still_when_clipped_skin_meets_a_small_colour_shift() -> None:
    """Skin yellower than the skin model reads as blood 0 (clipped). A residual of the colour
    calibration (R/G off by up to 0.8 %) shifts every other pixel's blood; the baseline must
    move with them, or the red skin's distance from it (and the red area) changes."""
    from skinscan.datasets._skin_optics import skin_linear_rgb

    rng = np.random.default_rng(0)
    n = 300
    rows = np.mgrid[0:n, 0:n][0]
    # 15 % clipped (too yellow), 60 % plain at 1 % blood, 25 % red at +1 point: mid-ramp.
    blood = np.where(rows >= 0.75 * n, 0.02, 0.01).astype(np.float32)
    rgb = skin_linear_rgb(np.full((n, n), 0.05, np.float32), blood)
    rgb[rows < 0.15 * n, 2] *= 0.85
    rgb *= (1.0 + 0.003 * rng.standard_normal(rgb.shape)).astype(np.float32)
    site = {"site": np.ones((n, n), bool)}
    areas = [
        measure_redness(rgb * np.float32([gain, 1.0, 1.0]), site, mm_per_px=0.1).measures[
            "red_area_pct"
        ]
        for gain in (0.996, 1.0, 1.004, 1.008)
    ]
    # Half weight (mid-ramp) on a quarter of the skin.
    assert np.mean(areas) == pytest.approx(12.5, abs=1.5), areas
    assert max(areas) - min(areas) < 0.5, areas
