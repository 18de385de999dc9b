"""Augmentation moves masks with the image, and its randomness is seeded and keyed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from skinscan.datasets.augment import eval_augment, train_augment


def _bars() -> tuple[np.ndarray, np.ndarray]:
    """A grey image with a bright cross; the mask is exactly the cross."""
    rgb = np.full((256, 320, 3), 90, np.uint8)
    mask = np.zeros((256, 320), bool)
    mask[110:130, 40:280] = True
    mask[40:220, 200:220] = True
    rgb[mask] = 250
    return rgb, mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_train_augment_moves_the_mask_with_the_image() -> None:
    rgb, mask = _bars()
    transform = train_augment(128, seed=0)
    _, (reference,) = eval_augment(128)(rgb, [mask])
    moved_somewhere = 0
    for index in range(30):
        image, (moved,) = transform(rgb, [mask], key=(0, index))
        assert image.shape == (128, 128, 3)
        assert moved.shape == (128, 128)
        bright = image.mean(axis=2) > 140  # a quarter of the way from grey to the bar
        if moved.any():
            assert _iou(bright, moved) > 0.8, index
        # The geometry really changes: crops, flips and rotations put the bars elsewhere.
        moved_somewhere += _iou(moved, reference) < 0.9
    assert moved_somewhere >= 20


def test_seeded_transforms_repeat_and_keys_decide_the_draw() -> None:
    rgb, mask = _bars()
    first, second = train_augment(96, seed=3), train_augment(96, seed=3)
    for _ in range(5):
        a, (ma,) = first(rgb, [mask])
        b, (mb,) = second(rgb, [mask])
        assert np.array_equal(a, b)
        assert np.array_equal(ma, mb)
    # A keyed call ignores the stream: the same key gives the same draw, any time, any copy.
    keyed = first(rgb, [mask], key=(2, 11))[0]
    assert np.array_equal(keyed, train_augment(96, seed=3)(rgb, [mask], key=(2, 11))[0])
    assert np.array_equal(keyed, pickle.loads(pickle.dumps(first))(rgb, [mask], key=(2, 11))[0])
    others = [first(rgb, [mask], key=(epoch, 11))[0] for epoch in range(3, 6)]
    assert not any(np.array_equal(keyed, other) for other in others)
    assert not np.array_equal(keyed, train_augment(96, seed=4)(rgb, [mask], key=(2, 11))[0])


def test_thin_lines_survive_downscaling() -> None:
    rgb = np.full((400, 400, 3), 100, np.uint8)
    mask = np.zeros((400, 400), bool)
    mask[200, 20:380] = True  # one pixel wide, reduced fourfold
    _, (moved,) = eval_augment(100)(rgb, [mask])
    assert moved.any(axis=1).sum() in (1, 2)
    assert moved.sum() >= 85


def test_eval_augment_keeps_aspect_and_pads() -> None:
    rgb = np.full((100, 200, 3), 200, np.uint8)
    mask = np.zeros((100, 200), bool)
    mask[:, :100] = True
    image, (moved,) = eval_augment(64)(rgb, [mask])
    assert image.shape == (64, 64, 3)
    # 200 × 100 → 64 × 32, centred: rows 16-47 hold the image, the rest is zero padding.
    assert (image[:16] == 0).all()
    assert (image[48:] == 0).all()
    assert (image[16:48] == 200).all()
    assert moved[16:48, :32].all()
    assert not moved[16:48, 32:].any()
    assert not moved[:16].any()


def test_bad_inputs_are_refused() -> None:
    transform = train_augment(32, seed=0)
    with pytest.raises(ValueError, match="uint8"):
        transform(np.zeros((40, 40, 3), np.float32))
    with pytest.raises(ValueError, match="does not match"):
        transform(np.zeros((40, 40, 3), np.uint8), [np.zeros((40, 41), bool)])
    with pytest.raises(ValueError, match="at least 8"):
        train_augment(4)
