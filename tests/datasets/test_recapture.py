"""Simulated re-captures: drawn within tolerance, applied as a camera would."""

from __future__ import annotations

import numpy as np
import pytest

from skinscan.colour_space import to_linear_float
from skinscan.datasets.recapture import RecaptureParams, apply_recapture, sample_recapture
from skinscan.io import load_photo


def test_samples_stay_within_the_tolerances() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = sample_recapture(rng)
        assert 0.92 <= p.exposure <= 1.08
        assert all(0.94 <= g <= 1.06 for g in p.white_balance)
        assert all(abs(s) <= 0.02 for s in p.shift_frac)
        assert abs(p.rotation_deg) <= 2.0
        assert 88 <= p.jpeg_quality <= 95


def test_same_seed_same_captures() -> None:
    a = [sample_recapture(np.random.default_rng(7)) for _ in range(3)]
    b = [sample_recapture(np.random.default_rng(7)) for _ in range(3)]
    assert a == b


def test_exposure_and_white_balance_act_in_linear_light() -> None:
    scene = np.full((64, 64, 3), 0.2, np.float32)
    params = RecaptureParams(1.05, (1.1, 1.0, 0.9), (0.0, 0.0), 0.0, 95)
    photo = load_photo(apply_recapture(scene, params))
    assert photo.meta.format == "JPEG"
    linear = to_linear_float(photo.pixels).reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(linear, 0.2 * 1.05 * np.array([1.1, 1.0, 0.9]), rtol=0.02)


def test_shift_moves_the_scene() -> None:
    scene = np.zeros((100, 200, 3), np.float32)
    scene[:, 100:] = 0.8
    shifted = RecaptureParams(1.0, (1.0, 1.0, 1.0), (0.05, 0.0), 0.0, 95)
    gray = load_photo(apply_recapture(scene, shifted)).pixels[..., 1].astype(float)
    edge = int(np.argmax(np.diff(gray[50]) > 60))
    assert edge == pytest.approx(100 + 0.05 * 200, abs=2)
