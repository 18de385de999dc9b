"""Skin-colour separation: recovers known maps, ignores shading, falls back when ICA cannot work."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from skinscan.measures import _two_layer, _two_layer_inverse
from skinscan.measures._optical_density import log_reflectance
from skinscan.measures._separation import (
    HEMOGLOBIN_VECTOR,
    MELANIN_VECTOR,
    fastica_2d,
    fixed_vectors,
    separate,
)

SHAPE = (200, 200)

# --- Beer–Lambert skin of known maps: OD = m·v_mel + h·v_hem + p·(1, 1, 1) (also used by the
# redness and pigment tests) ------------------------------------------------------------------

#: Constitutive melanin of light, medium and dark Beer–Lambert skin (separation units).
BL_TONES = {"light": 0.3, "medium": 0.8, "dark": 1.5}


def beer_lambert(
    melanin: NDArray[np.floating],
    hemoglobin: NDArray[np.floating],
    shading: NDArray[np.floating] | float = 0.3,
    *,
    vectors: tuple[NDArray[np.float64], NDArray[np.float64]] = (MELANIN_VECTOR, HEMOGLOBIN_VECTOR),
    noise: float = 0.002,
    seed: int = 0,
) -> NDArray[np.float32]:
    """Linear RGB of the given maps, with multiplicative per-pixel noise of SD ``noise``."""
    mel, hem = (v / np.linalg.norm(v) for v in vectors)
    od = melanin[..., None] * mel + hemoglobin[..., None] * hem + np.asarray(shading)[..., None]
    rgb = np.exp(-od)
    rng = np.random.default_rng(seed)
    rgb *= 1.0 + noise * rng.standard_normal(rgb.shape)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def smooth_field(shape: tuple[int, int], sigma_px: float, seed: int) -> NDArray[np.float32]:
    """Zero-mean, unit-SD Gaussian random field of correlation length ``sigma_px``."""
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), sigma_px)
    return np.asarray((field - field.mean()) / field.std(), dtype=np.float32)


def disc_mask(
    shape: tuple[int, int], centre: tuple[float, float], radius: float
) -> NDArray[np.bool_]:
    """Pixels whose centres lie within ``radius`` px of ``centre`` (row, col)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.asarray((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


def rotate_towards(v: np.ndarray, w: np.ndarray, degrees: float) -> np.ndarray:
    """``v`` turned by ``degrees`` in the plane of ``v`` and ``w``."""
    v = v / np.linalg.norm(v)
    u = w - (w @ v) * v
    u /= np.linalg.norm(u)
    t = np.radians(degrees)
    return np.cos(t) * v + np.sin(t) * u


def skewed_maps(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Independent, non-Gaussian melanin and hemoglobin maps (lognormal mottling, blotches)."""
    melanin = 0.6 + 0.1 * np.exp(0.8 * smooth_field(SHAPE, 6.0, seed))
    hemoglobin = 0.4 + 0.1 * np.maximum(smooth_field(SHAPE, 4.0, seed + 1), 0.0) ** 2
    return melanin.astype(np.float32), hemoglobin.astype(np.float32)


@pytest.mark.parametrize("turn_deg", [0.0, 8.0, -8.0])
def test_ica_recovers_maps_and_vectors_of_beer_lambert_skin(turn_deg) -> None:
    # The photo's true vectors differ from the fixed ones: ICA must find them, not the defaults.
    mel_true = rotate_towards(MELANIN_VECTOR, np.array([1.0, 0.0, 0.0]), turn_deg)
    hem_true = rotate_towards(HEMOGLOBIN_VECTOR, np.array([0.0, 1.0, 0.0]), turn_deg / 2)
    melanin, hemoglobin = skewed_maps()
    rgb = beer_lambert(melanin, hemoglobin, vectors=(mel_true, hem_true))
    s = separate(rgb, method="ica")
    assert s.method == "ica", s.reason
    assert corr(s.melanin, melanin) >= 0.98
    assert corr(s.hemoglobin, hemoglobin) >= 0.98
    mel_plane, hem_plane = (v - v.mean() for v in (mel_true, hem_true))
    # Smooth random fields of this size are only nearly independent: a few degrees of slack.
    assert angle_deg(s.melanin_vector - s.melanin_vector.mean(), mel_plane) < 5.0
    assert angle_deg(s.hemoglobin_vector - s.hemoglobin_vector.mean(), hem_plane) < 5.0


def test_fixed_vectors_invert_their_own_model_exactly() -> None:
    melanin, hemoglobin = skewed_maps(3)
    s = separate(beer_lambert(melanin, hemoglobin, noise=0.0), method="fixed")
    assert s.method == "fixed"
    np.testing.assert_allclose(s.melanin, melanin, atol=1e-4)
    np.testing.assert_allclose(s.hemoglobin, hemoglobin, atol=1e-4)
    np.testing.assert_allclose(s.shading, 0.3, atol=1e-4)


@pytest.mark.parametrize(("method", "atol"), [("ica", 1e-2), ("fixed", 1e-4)])
def test_a_multiplicative_shading_field_changes_only_the_shading(method, atol) -> None:
    melanin, hemoglobin = skewed_maps(5)
    rgb = beer_lambert(melanin, hemoglobin, noise=0.0)
    ys, xs = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]] / SHAPE[0]
    light = (0.35 + 0.65 * np.exp(-((ys - 0.3) ** 2 + (xs - 0.6) ** 2) * 3)).astype(np.float32)
    plain, shaded = (
        separate(rgb, method=method),
        separate(rgb * light[..., None], method=method),
    )
    assert plain.method == shaded.method == method
    np.testing.assert_allclose(shaded.melanin, plain.melanin, atol=atol)
    np.testing.assert_allclose(shaded.hemoglobin, plain.hemoglobin, atol=atol)
    np.testing.assert_allclose(shaded.shading - plain.shading, -np.log(light), atol=atol)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("uniform", "varies"),
        ("noise", "Gaussian"),
        ("one_pigment", "too little"),
        ("tiny", "too few"),
    ],
)
def test_degenerate_photos_fall_back_to_the_fixed_vectors(name, reason) -> None:
    melanin = np.full(SHAPE, 0.6, np.float32)
    hemoglobin = np.full(SHAPE, 0.4, np.float32)
    skin = np.ones(SHAPE, bool)
    if name == "uniform":
        rgb = beer_lambert(melanin, hemoglobin, noise=0.0)
    elif name == "noise":
        rgb = beer_lambert(melanin, hemoglobin, noise=0.01)
    elif name == "one_pigment":  # blotchy hemoglobin, melanin only noise
        hemoglobin += 0.3 * (smooth_field(SHAPE, 5.0, 2) > 1.0)
        rgb = beer_lambert(melanin, hemoglobin)
    else:
        rgb = beer_lambert(*skewed_maps())
        skin = np.zeros(SHAPE, bool)
        skin[:10, :10] = True
    s = separate(rgb, skin, method="ica")
    assert s.method == "fixed"
    assert reason in s.reason
    np.testing.assert_array_equal(s.melanin_vector, MELANIN_VECTOR)
    np.testing.assert_array_equal(s.hemoglobin_vector, HEMOGLOBIN_VECTOR)


def test_fixed_fallback_still_separates_one_pigment_blotches() -> None:
    melanin = np.full(SHAPE, 0.6, np.float32)
    hemoglobin = 0.4 + 0.3 * (smooth_field(SHAPE, 5.0, 2) > 1.0).astype(np.float32)
    s = separate(beer_lambert(melanin, hemoglobin), method="ica")
    blotch = hemoglobin > 0.5
    assert corr(s.hemoglobin, hemoglobin) >= 0.98
    rise_h = s.hemoglobin[blotch].mean() - s.hemoglobin[~blotch].mean()
    rise_m = s.melanin[blotch].mean() - s.melanin[~blotch].mean()
    assert rise_h == pytest.approx(0.3, abs=0.01)
    assert abs(rise_m) < 0.01


def test_fastica_unmixes_two_independent_sources() -> None:
    rng = np.random.default_rng(0)
    sources = np.stack([rng.uniform(-1, 1, 5000), rng.laplace(size=5000)], axis=1)
    mixing = np.array([[1.0, 0.6], [0.3, 1.0]])
    found, estimated = fastica_2d(sources @ mixing.T)
    for k in range(2):  # each true source is one estimated source up to sign and order
        best = max(abs(np.corrcoef(sources[:, k], estimated[:, j])[0, 1]) for j in range(2))
        assert best > 0.99
    cosines = np.abs(
        (found / np.linalg.norm(found, axis=0)).T @ (mixing / np.linalg.norm(mixing, axis=0))
    )
    assert cosines.max(axis=0).min() > 0.999


def test_fastica_rejects_one_dimensional_samples() -> None:
    line = np.outer(np.linspace(0, 1, 100), [1.0, 2.0])
    with pytest.raises(ValueError, match="two dimensions"):
        fastica_2d(line)


def test_two_layer_vectors_turn_with_tone_and_unknown_models_are_refused() -> None:
    light = fixed_vectors(np.array([0.5, 0.8, 1.0]), model="two-layer")
    dark = fixed_vectors(np.array([2.3, 2.8, 3.0]), model="two-layer")
    assert light[0][2] > light[0][0]  # melanin: blue-heavy on light skin
    assert dark[0][0] > dark[0][2]  # the blue channel saturates on dark skin
    with pytest.raises(ValueError, match="model"):
        fixed_vectors(np.ones(3), model="kubelka")  # type: ignore[arg-type]


# --- The default: per-pixel inversion of the two-layer model ---------------------------------


def two_layer_skin(
    melanin: NDArray[np.floating], blood: NDArray[np.floating], shading: float | np.ndarray = 1.0
) -> NDArray[np.float32]:
    """Linear RGB of the phantom's skin model for maps of melanin and blood fractions."""
    phantom = pytest.importorskip("skinscan.datasets.phantom")
    rgb = phantom.skin_linear_rgb(melanin, blood) * np.asarray(shading, np.float32)[..., None]
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


@pytest.mark.parametrize(
    ("tone", "blood_atol"),
    [
        ("light", 0.1),
        ("intermediate", 0.1),
        ("tan", 0.15),
        ("brown", 0.15),
        # On dark skin a point of blood moves the OD 3–10 times less than on light skin.
        ("dark", 0.5),
    ],
)
def test_two_layer_inversion_recovers_the_fractions_in_percent(tone, blood_atol) -> None:
    phantom = pytest.importorskip("skinscan.datasets.phantom")
    base = phantom.SKIN_TONES[tone]
    melanin = base * (1.0 + 0.05 * smooth_field(SHAPE, 30.0, 1))
    melanin[disc_mask(SHAPE, (100, 100), 20)] *= 1.6  # a spot: 60 % more melanin
    blood = 0.02 * (1.0 + 0.1 * smooth_field(SHAPE, 30.0, 2))
    blood[:, 150:] += 0.015  # a red band
    s = separate(two_layer_skin(melanin, blood), local_sigma_px=50.0)
    assert s.method == "two-layer"
    np.testing.assert_allclose(s.melanin, 100 * melanin, rtol=0.03)
    np.testing.assert_allclose(s.hemoglobin, 100 * blood, atol=blood_atol)
    assert corr(s.hemoglobin, blood) > 0.99


@pytest.mark.parametrize("tone", ["light", "intermediate"])
def test_two_layer_shading_moves_only_the_shading(tone) -> None:
    # Light down to 80 %: from tan skin on, where the pigments change the chromaticity less,
    # such shading leaks into the maps (a documented limit: on dark skin 7 % of the melanin and
    # 0.8 point of blood).
    phantom = pytest.importorskip("skinscan.datasets.phantom")
    melanin = np.full(SHAPE, phantom.SKIN_TONES[tone], np.float32)
    blood = 0.02 + 0.01 * (smooth_field(SHAPE, 10.0, 3) > 0.5).astype(np.float32)
    ys, xs = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]] / SHAPE[0]
    light = (0.8 + 0.2 * np.exp(-((ys - 0.3) ** 2 + (xs - 0.6) ** 2) * 3)).astype(np.float32)
    plain = separate(two_layer_skin(melanin, blood))
    shaded = separate(two_layer_skin(melanin, blood, light))
    # The pigments barely move: a few percent of the melanin, about 0.1 point of blood.
    assert np.abs(shaded.melanin - plain.melanin).max() < 0.06 * plain.melanin.mean()
    assert np.abs(shaded.hemoglobin - plain.hemoglobin).max() < 0.12


def test_separate_refuses_unknown_methods() -> None:
    with pytest.raises(ValueError, match="method"):
        separate(np.full((8, 8, 3), 0.4, np.float32), method="pca")  # type: ignore[arg-type]


# --- The tabulated per-pixel inverse --------------------------------------------------------


def _model_pixels(
    melanin: NDArray[np.floating], blood: NDArray[np.floating], shading: NDArray[np.floating]
) -> NDArray[np.float32]:
    """ln RGB of model states (fractions) under shading ``p`` (OD), as a (1, N, 3) image."""
    model, _, _ = _two_layer.model_at(
        np.asarray(melanin, np.float32)[None], np.asarray(blood, np.float32)[None]
    )
    return np.asarray(-(model + np.asarray(shading, np.float32)[None, :, None]), np.float32)


@pytest.mark.parametrize(
    ("melanin_range", "blood_atol"),
    # From 20 % melanin a point of blood moves the colour 3–10 times less: more points per cell.
    [((0.01, 0.12), 0.06), ((0.12, 0.2), 0.1), ((0.2, 0.45), 0.5)],
)
def test_inverse_table_returns_the_model_state_of_a_model_colour(melanin_range, blood_atol) -> None:
    # The tables are built from the model at first use; a model colour at its own shading must
    # come back as its state, on both grids (the fine one from 18 % melanin).
    rng = np.random.default_rng(4)
    melanin = rng.uniform(*melanin_range, 2000)
    blood = rng.uniform(0.01, 0.08, 2000)
    shading = rng.uniform(-0.3, 0.5, 2000)
    log_rgb = _model_pixels(melanin, blood, shading)
    m, h, p = _two_layer_inverse.invert_pixels(log_rgb, shading.astype(np.float32)[None])
    # Interpolation on the grids: within the test tolerances of the maps below.
    np.testing.assert_allclose(m[0], 100 * melanin, rtol=0.01, atol=0.05)
    np.testing.assert_allclose(h[0], 100 * blood, atol=blood_atol)
    np.testing.assert_allclose(p[0], shading, atol=0.01)


def test_inverse_table_finds_the_global_minimum_of_the_pixel_cost() -> None:
    # Off the model (shading unlike the local prior, colours off the surface): the table's answer
    # costs hardly more than the best state of the model's 0.25-point grid (the interpolation's
    # excess against a noise of 0.0027). Pixels reported at 0 blood are fitted with blood below 0,
    # outside this grid.
    rng = np.random.default_rng(5)
    melanin, blood = rng.uniform(0.02, 0.35, 200), rng.uniform(0.01, 0.06, 200)
    log_rgb = _model_pixels(melanin, blood, np.zeros(200)) + rng.normal(0, 0.03, (1, 200, 3))
    log_rgb = log_rgb.astype(np.float32)
    prior = rng.normal(0, 0.05, (1, 200)).astype(np.float32)
    m, h, p = _two_layer_inverse.invert_pixels(log_rgb, prior)
    od, w = -log_rgb[0].astype(np.float64), _two_layer.PIXEL_SHADING_PRIOR

    def cost(model: np.ndarray, shading: np.ndarray, i: int) -> np.ndarray:
        return (
            np.sum((od[i] - model - shading[..., None]) ** 2, axis=-1)
            + w * (shading - prior[0, i]) ** 2
        )

    grid = _two_layer.model_tables()[0].astype(np.float64)
    found = _two_layer.model_at(m / 100, h / 100)[0][0].astype(np.float64)
    excess = []
    for i in np.flatnonzero(h[0] > 0.2):
        best_p = (np.sum(od[i] - grid, axis=-1) + w * prior[0, i]) / (3 + w)
        excess.append(cost(found[i], p[0, i], i) - cost(grid, best_p, i).min())
    assert len(excess) > 150
    assert max(excess) < 3e-4
    assert np.median(excess) < 1e-5


def test_colours_yellower_than_the_model_take_no_blood_and_keep_their_melanin() -> None:
    # Less blood than none: the excess yellow goes to a (reported as 0) negative blood, not into
    # the melanin.
    melanin = np.full(50, 0.1)
    log_rgb = _model_pixels(melanin, np.full(50, 0.0), np.zeros(50))
    blood_direction = _two_layer.model_tables()[2][40, 0]
    yellower = (log_rgb + 0.02 * blood_direction).astype(np.float32)  # 2 points of blood less
    m, h, _ = _two_layer_inverse.invert_pixels(yellower, np.zeros((1, 50), np.float32))
    np.testing.assert_array_equal(h, 0.0)
    np.testing.assert_allclose(m, 10.0, atol=0.1)


def test_block_size_does_not_change_the_maps(monkeypatch) -> None:
    phantom = pytest.importorskip("skinscan.datasets.phantom")
    rgb = phantom.render_patch(size=(120, 90), tone="dark", pigment=4, redness=2, seed=3)
    log_rgb = log_reflectance(rgb.linear_rgb)
    prior = np.full(log_rgb.shape[:2], 0.05, np.float32)
    whole = _two_layer_inverse.invert_pixels(log_rgb, prior)
    monkeypatch.setattr(_two_layer_inverse, "_BLOCK_PIXELS", 500)
    for a, b in zip(whole, _two_layer_inverse.invert_pixels(log_rgb, prior), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


# --- Validation on the spectral phantom (two-layer Kubelka–Munk skin) -------------------------

PHANTOM_TONES = ("light", "intermediate", "tan", "brown", "dark", "very_dark")
PAINTED = {"redness": ("hemoglobin",), "pigment": ("melanin",), "both": ("melanin", "hemoglobin")}


#: Known shortfalls (hemoglobin r, docs/measures/pigment.md): on very dark skin (30 % melanin)
#: a point of blood moves the OD ten times less than on light skin, and the faintest redness,
#: alone or under spots, drowns in the melanin's cross-talk.
KNOWN_BELOW = {
    ("very_dark", "redness", 1): 0.89,
    ("very_dark", "both", 2): 0.92,
}


def _phantom_cases() -> list:
    cases = []
    for tone in PHANTOM_TONES:
        for concern in PAINTED:
            for level in (1, 2, 3, 4) if concern != "both" else (2, 3, 4):
                marks = []
                if (tone, concern, level) in KNOWN_BELOW:
                    reason = f"hemoglobin r ≈ {KNOWN_BELOW[tone, concern, level]}"
                    marks = [pytest.mark.xfail(strict=True, reason=reason)]
                cases.append(
                    pytest.param(tone, concern, level, id=f"{tone}-{concern}-{level}", marks=marks)
                )
    return cases


@pytest.mark.parametrize(("tone", "concern", "level"), _phantom_cases())
def test_painted_maps_correlate_with_the_phantom_truth(tone, concern, level) -> None:
    """The issue's criterion: Pearson ≥ 0.95 per skin pixel with the truth of every painted map
    (both maps where redness and pigment are painted together)."""
    phantom_module = pytest.importorskip("skinscan.datasets.phantom")
    levels = {"redness": level, "pigment": level} if concern == "both" else {concern: level}
    phantom = phantom_module.render_patch(
        size=(300, 300), mm_per_px=0.1, tone=tone, seed=7, **levels
    )
    skin = phantom.truth.skin
    s = separate(phantom.linear_rgb, skin)
    for name in PAINTED[concern]:
        r = corr(getattr(s, name)[skin], getattr(phantom.truth, name)[skin])
        assert r >= 0.95, (tone, concern, level, name, r)


@pytest.mark.parametrize("tone", ["intermediate", "dark"])
def test_linear_two_layer_vectors_still_fall_short_on_spots(tone) -> None:
    # Why the default inverts the model: one pair of tangent vectors per photo cannot follow
    # the melanin direction as it turns inside a spot (see docs/measures/pigment.md).
    phantom_module = pytest.importorskip("skinscan.datasets.phantom")
    phantom = phantom_module.render_patch(
        size=(300, 300), mm_per_px=0.1, tone=tone, seed=7, redness=4, pigment=4
    )
    skin = phantom.truth.skin
    linear = separate(phantom.linear_rgb, skin, method="fixed", fixed="two-layer")
    model = separate(phantom.linear_rgb, skin)
    worst = {
        name: min(
            corr(getattr(s, n)[skin], getattr(phantom.truth, n)[skin])
            for n in ("melanin", "hemoglobin")
        )
        for name, s in (("linear", linear), ("model", model))
    }
    assert worst["model"] > 0.95 > worst["linear"], worst
