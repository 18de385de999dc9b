"""The spectral skin phantom: optics plausibility, ladders, independence, wrinkle masks, faces."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from skinscan.colour_space import delta_e00, linear_srgb_to_lab
from skinscan.datasets import phantom
from skinscan.datasets.phantom import (
    DEFAULT_HEMOGLOBIN,
    LADDER_LEVELS,
    SKIN_TONES,
    load_wrinkle_masks,
    render_face,
    render_patch,
    skin_linear_rgb,
    skin_reflectance,
)

CONCERNS = ("redness", "pigment", "texture", "wrinkles")
# Maps each concern owns; the others must not move when its level changes.
OWN_MAPS = {
    "redness": ("hemoglobin", "red_area", "hemoglobin_added"),
    "pigment": ("melanin", "spots", "melanin_added"),
    "texture": ("pores",),
    "wrinkles": ("wrinkles",),
}


def _lab(melanin: float, hemoglobin: float = DEFAULT_HEMOGLOBIN) -> np.ndarray:
    return linear_srgb_to_lab(skin_linear_rgb(melanin, hemoglobin))


def _ita(lab: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(lab[0] - 50.0, lab[2])))


# --- optics -------------------------------------------------------------------------------


def test_tone_presets_span_ita_categories_and_look_like_skin() -> None:
    fractions = list(SKIN_TONES.values())
    assert fractions == sorted(fractions)
    labs = [_lab(m) for m in fractions]
    itas = [_ita(lab) for lab in labs]
    assert itas[0] > 55.0
    assert itas[-1] < -30.0
    assert all(np.diff(itas) < 0)
    for lab in labs:
        hue = np.degrees(np.arctan2(lab[2], lab[1]))
        assert 40.0 <= hue <= 70.0
    # Each named preset falls in its Chardon / Del Bino ITA category.
    bounds = {"very_light": (55, 90), "light": (41, 55), "intermediate": (28, 41)}
    bounds |= {"tan": (10, 28), "brown": (-30, 10), "dark": (-90, -30)}
    for name, (low, high) in bounds.items():
        assert low < _ita(_lab(SKIN_TONES[name])) <= high, name


def test_ita_is_monotone_in_melanin() -> None:
    melanin = np.linspace(0.01, 0.45, 40)
    lab = linear_srgb_to_lab(skin_linear_rgb(melanin, DEFAULT_HEMOGLOBIN))
    ita = np.degrees(np.arctan2(lab[:, 0] - 50.0, lab[:, 2]))
    assert np.all(np.diff(ita) < 0)
    assert np.all(np.diff(lab[:, 0]) < 0)


@pytest.mark.parametrize("tone", ["very_light", "light", "intermediate", "tan", "brown", "dark"])
def test_hemoglobin_raises_a_star_more_than_b_star(tone: str) -> None:
    blood = np.linspace(0.0, 0.1, 11)
    lab = linear_srgb_to_lab(skin_linear_rgb(SKIN_TONES[tone], blood))
    assert np.all(np.diff(lab[:, 1]) > 0)
    assert lab[-1, 1] - lab[0, 1] > lab[-1, 2] - lab[0, 2]


def test_melanin_raises_b_star_on_light_skin() -> None:
    assert _lab(0.05)[2] > _lab(0.01)[2]


def test_lut_matches_direct_spectral_computation() -> None:
    import colour

    rng = np.random.default_rng(0)
    melanin = rng.uniform(0.0, 0.45, 12)
    blood = rng.uniform(0.0, 0.2, 12)
    spectra = skin_reflectance(melanin, blood)
    lam = np.arange(380, 781, 5)
    shape = colour.SpectralShape(380, 780, 5)
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy().align(shape)
    d65 = colour.SDS_ILLUMINANTS["D65"].copy().align(shape)

    def xyz_of(values: np.ndarray) -> np.ndarray:
        sd = colour.SpectralDistribution(dict(zip(lam, values, strict=True)))
        return colour.sd_to_XYZ(sd, cmfs, d65, method="Integration")

    white = colour.XYZ_to_xy(xyz_of(np.ones(lam.size)))
    direct = colour.XYZ_to_Lab(np.array([xyz_of(s) for s in spectra]) / 100.0, white)
    lut = linear_srgb_to_lab(skin_linear_rgb(melanin, blood))
    assert float(delta_e00(direct, lut).max()) < 0.5


def test_reflectance_is_physical() -> None:
    spectra = skin_reflectance(np.array([0.0, 0.1, 0.4]), 0.05)
    assert spectra.shape == (3, 81)
    assert np.all((spectra > 0) & (spectra < 1))
    # Skin reflects more red than blue, and melanin darkens every wavelength.
    assert np.all(spectra[:, -10:].mean(axis=1) > spectra[:, :10].mean(axis=1))
    assert np.all(np.diff(spectra, axis=0) < 0)
    with pytest.raises(ValueError, match="fractions"):
        skin_reflectance(1.5, 0.0)


# --- ladders ------------------------------------------------------------------------------

LADDER_MEASURES = {
    "redness": lambda t: (t.red_area.mean(), t.hemoglobin.mean()),
    "pigment": lambda t: (t.spots.sum(), t.melanin.mean() + t.melanin_added.std()),
    "texture": lambda t: (t.pores.sum(), (1.0 - t.shading).std()),
    "wrinkles": lambda t: (t.wrinkles.sum(), (1.0 - t.shading).sum()),
}


@pytest.mark.parametrize("tone", ["very_light", "intermediate", "very_dark"])
@pytest.mark.parametrize("concern", CONCERNS)
def test_each_ladder_is_monotone_in_its_truth(concern: str, tone: str) -> None:
    truths = [render_patch(tone=tone, seed=3, **{concern: lv}).truth for lv in range(5)]
    values = np.array([LADDER_MEASURES[concern](t) for t in truths], dtype=np.float64)
    assert values[0, 0] == 0
    assert np.all(np.diff(values, axis=0) > 0), values


def test_ladder_masks_nest() -> None:
    for concern, field in (("pigment", "spots"), ("wrinkles", "wrinkles"), ("redness", "red_area")):
        masks = [getattr(render_patch(seed=5, **{concern: lv}).truth, field) for lv in range(5)]
        for low, high in itertools.pairwise(masks):
            assert not np.any(low & ~high), concern


def test_spots_are_large_enough_and_darker() -> None:
    patch = render_patch(tone="tan", pigment=1, seed=2)
    from scipy import ndimage

    labels, count = ndimage.label(patch.truth.spots)
    areas_mm2 = np.bincount(labels.ravel())[1:] * patch.truth.mm_per_px**2
    assert count >= 1
    assert areas_mm2.max() >= np.pi * 0.75**2
    lab = linear_srgb_to_lab(patch.linear_rgb)
    assert lab[..., 0][patch.truth.spots].mean() < lab[..., 0][~patch.truth.spots].mean() - 4.0


def test_wrinkles_are_dark_valleys() -> None:
    patch = render_patch(wrinkles=3, seed=4)
    shading = patch.truth.shading
    assert shading[patch.truth.wrinkles].mean() < 0.9 * shading[~patch.truth.wrinkles].mean()
    assert shading.max() > 1.0  # the lit wall


@pytest.mark.parametrize("concern", CONCERNS)
def test_changing_one_concern_leaves_the_others_identical(concern: str) -> None:
    base = dict.fromkeys(CONCERNS, 2)
    a = render_patch(seed=11, tone="brown", **base).truth
    b = render_patch(seed=11, tone="brown", **(base | {concern: 4})).truth
    for other in CONCERNS:
        for field in OWN_MAPS[other]:
            same = np.array_equal(getattr(a, field), getattr(b, field))
            assert same == (other != concern), (concern, field)


def test_same_seed_same_image_different_seed_different() -> None:
    kwargs = dict.fromkeys(CONCERNS, 3)
    first = render_patch(seed=7, **kwargs)
    again = render_patch(seed=7, **kwargs)
    other = render_patch(seed=8, **kwargs)
    assert np.array_equal(first.linear_rgb, again.linear_rgb)
    for field in dataclasses.fields(first.truth):
        left, right = getattr(first.truth, field.name), getattr(again.truth, field.name)
        assert np.array_equal(left, right) if isinstance(left, np.ndarray) else left == right
    assert not np.array_equal(first.linear_rgb, other.linear_rgb)


def test_patch_contract() -> None:
    patch = render_patch(size=(120, 200), mm_per_px=0.2, tone=0.1, hemoglobin=0.04, seed=1)
    assert patch.linear_rgb.shape == (120, 200, 3)
    assert patch.linear_rgb.dtype == np.float32
    assert patch.linear_rgb.min() >= 0.0
    assert patch.linear_rgb.max() <= 1.0
    srgb = patch.srgb_u8()
    assert srgb.dtype == np.uint8
    assert srgb.shape == (120, 200, 3)
    assert patch.truth.skin.all()
    assert patch.truth.mm_per_px == 0.2
    assert patch.truth.levels == dict.fromkeys(CONCERNS, 0)
    assert abs(float(np.median(patch.truth.melanin)) - 0.1) < 0.01
    assert LADDER_LEVELS == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"redness": 5}, "redness"),
        ({"wrinkles": -1}, "wrinkles"),
        ({"tone": "green"}, "unknown tone"),
        ({"tone": 0.9}, "melanin"),
        ({"size": (4, 4)}, "size"),
        ({"mask_index": 1}, "no wrinkle mask"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_patch(**kwargs)


def test_render_patch_is_fast() -> None:
    import time

    render_patch(seed=0)
    start = time.perf_counter()
    for seed in range(4):
        render_patch(seed=seed, **dict.fromkeys(CONCERNS, 4))
    assert (time.perf_counter() - start) / 4 < 0.3


# --- wrinkle masks ------------------------------------------------------------------------


def test_wrinkle_masks_are_all_there_in_the_canonical_frame() -> None:
    from skinscan.datasets._wrinkle_curves import load_crops

    crops = load_crops()
    assert len(crops) == 674
    fractions = np.array([crop.crop.mean() for crop in crops])
    # The README's range, 0.2-7.5 % of the crop (rounded to 0.1 %), median 1.4 %.
    assert round(fractions.min() * 100, 1) >= 0.2
    assert round(fractions.max() * 100, 1) <= 7.5
    assert abs(float(np.median(fractions)) - 0.014) < 0.001
    assert all(c.top + c.crop.shape[0] <= 1024 and c.left + c.crop.shape[1] <= 1024 for c in crops)
    (index, mask), *_ = load_wrinkle_masks((crops[0].ffhq_index,))
    assert index == crops[0].ffhq_index
    assert mask.shape == (1024, 1024)
    assert mask.dtype == bool
    assert mask.sum() == crops[0].crop.sum()
    rows, cols = np.nonzero(mask)
    assert rows.min() >= crops[0].top
    assert cols.min() >= crops[0].left


def test_all_masks_load_as_full_frames() -> None:
    masks = load_wrinkle_masks()
    assert len(masks) == 674
    indices = [index for index, _ in masks]
    assert indices == sorted(indices)
    assert all(m.shape == (1024, 1024) and m.any() for _, m in masks[::37])


# --- faces --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def astronaut_face(astronaut: np.ndarray) -> dict:
    from skinscan.standardise.face import analyse_face, face_hull_mask, skin_mask

    geometry = analyse_face(astronaut)
    assert geometry is not None
    landmarks = geometry.detection.landmarks
    skin = skin_mask(astronaut, landmarks=landmarks) & face_hull_mask(astronaut.shape, landmarks)
    return {
        "rgb": astronaut,
        "to_canonical": geometry.to_canonical,
        "skin": skin,
        "mm_per_px": geometry.mm_per_px,
    }


def _face(face: dict, **levels: int) -> phantom.Phantom:
    return render_face(
        face["rgb"],
        to_canonical=face["to_canonical"],
        skin=face["skin"],
        mm_per_px=face["mm_per_px"],
        **levels,
    )


def test_face_level_zero_returns_the_photo(astronaut_face: dict) -> None:
    result = _face(astronaut_face)
    difference = np.abs(result.srgb_u8().astype(int) - astronaut_face["rgb"].astype(int))
    assert difference.max() <= 1
    for field in ("wrinkles", "spots", "pores", "red_area"):
        assert not getattr(result.truth, field).any()


def test_face_paints_inside_the_skin_only(astronaut_face: dict) -> None:
    result = _face(astronaut_face, redness=3, pigment=3, texture=3, wrinkles=4, seed=1)
    skin = astronaut_face["skin"]
    truth = result.truth
    assert truth.wrinkles.sum() > 20
    for field in ("wrinkles", "spots", "pores", "red_area"):
        assert not np.any(getattr(truth, field) & ~skin), field
    changed = np.abs(result.srgb_u8().astype(int) - astronaut_face["rgb"].astype(int)).max(axis=2)
    assert changed[~skin].max() <= 1
    assert truth.shading[truth.wrinkles].mean() < truth.shading[skin & ~truth.wrinkles].mean()
    lab = linear_srgb_to_lab(result.linear_rgb)
    before = linear_srgb_to_lab(_face(astronaut_face).linear_rgb)
    assert lab[..., 1][truth.red_area].mean() > before[..., 1][truth.red_area].mean() + 1.0


def test_face_ladders_grow_and_keep_others(astronaut_face: dict) -> None:
    counts = [_face(astronaut_face, wrinkles=lv, seed=2).truth.wrinkles.sum() for lv in range(5)]
    assert counts[0] == 0
    assert all(np.diff(counts) > 0)
    a = _face(astronaut_face, pigment=2, wrinkles=1, seed=2).truth
    b = _face(astronaut_face, pigment=2, wrinkles=3, seed=2).truth
    assert np.array_equal(a.melanin, b.melanin)
    assert np.array_equal(a.spots, b.spots)


def test_painting_blood_on_a_photo_adds_no_fine_detail() -> None:
    """A painted change of blood is smooth: the photo's own fine relief and noise keep their
    contrast, so painted redness does not read as texture (the painter's pigment estimate is
    taken at the millimetre scale, not from each noisy pixel)."""
    import cv2

    rng = np.random.default_rng(0)
    shape = (240, 240)
    skin_colour = np.array([0.55, 0.36, 0.27], np.float32)
    relief = np.exp(rng.normal(0.0, 0.05, shape)).astype(np.float32)
    # Colour noise of 5 % per channel, as in the shadows of an 8-bit JPEG.
    noise = rng.normal(0.0, 0.05, (*shape, 3)).astype(np.float32)
    photo = np.clip(skin_colour * relief[..., None] * (1.0 + noise), 0.0, 1.0)
    skin = np.ones(shape, bool)
    identity = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    painted = render_face(photo, to_canonical=identity, skin=skin, mm_per_px=0.1, redness=4)
    added = painted.truth.hemoglobin_added
    assert added.max() > 0.03

    def fine_contrast(linear: np.ndarray) -> np.ndarray:
        log_y = np.log(linear @ np.array([0.2126, 0.7152, 0.0722], np.float32))
        return log_y - cv2.GaussianBlur(log_y, (0, 0), 5.0)

    red = added > 0.9 * added.max()
    red[:20], red[-20:], red[:, :20], red[:, -20:] = False, False, False, False
    assert red.sum() > 500
    before = fine_contrast(photo)[red].std()
    after = fine_contrast(painted.linear_rgb)[red].std()
    assert after == pytest.approx(before, rel=0.03)
