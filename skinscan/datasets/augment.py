"""Augmentation: one albumentations call moves an image and all its masks together.

:func:`train_augment` and :func:`eval_augment` return a :class:`PairTransform`, called as
``image, masks = transform(image, masks, key=(epoch, index))``. Randomness is explicit: the
transform holds a seed, and a call with a ``key`` draws its parameters from
``SeedSequence([seed, *key])`` alone, so the same sample gets the same augmentation in any
DataLoader worker, on any machine, and a different one each epoch when the epoch is part of the
key. Without a key, calls continue one seeded stream (two transforms with the same seed repeat
each other call for call).

Masks travel as 0/255 planes: flips and rotations move them with nearest-neighbour sampling,
downscaling averages them (``INTER_AREA``), and a pixel of the result is on where at least a
quarter of it was covered (:data:`MASK_COVERAGE`), so a wrinkle one pixel wide survives a
fourfold reduction.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

# albumentations asks PyPI for a newer version on import unless told not to; skinscan makes no
# network call at run time.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # type: ignore[import-untyped]

__all__ = ["MASK_COVERAGE", "PairTransform", "eval_augment", "train_augment"]

#: Share of a pixel a mask must cover after resampling for the pixel to be on.
MASK_COVERAGE = 0.25
_MASK_ON = round(255 * MASK_COVERAGE)


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 8 or width < 8:
        raise ValueError(f"size must be at least 8 pixels, not {size}")
    return height, width


class PairTransform:
    """An albumentations pipeline applied to an image and its masks in one call.

    Parameters
    ----------
    compose : albumentations.Compose
        The pipeline; its random state is replaced on every call.
    seed : int, optional
        Seed of every draw; a fresh random seed when omitted (recorded in :attr:`seed`).

    Examples
    --------
    >>> transform = train_augment(128, seed=0)
    >>> rgb = np.zeros((200, 300, 3), np.uint8)
    >>> image, (mask,) = transform(rgb, [np.zeros((200, 300), bool)], key=(0, 7))
    >>> image.shape, mask.shape, mask.dtype
    ((128, 128, 3), (128, 128), dtype('bool'))
    """

    def __init__(self, compose: A.Compose, *, seed: int | None = None) -> None:
        self.compose = compose
        self.seed = secrets.randbits(63) if seed is None else int(seed) % 2**63
        self._stream = np.random.default_rng(self.seed)

    def _set_state(self, key: Sequence[int] | None) -> None:
        if key is None:
            sequence = np.random.SeedSequence(int(self._stream.integers(2**63)))
        else:
            sequence = np.random.SeedSequence([self.seed, *(int(k) for k in key)])
        py_seed = int(sequence.generate_state(1, np.uint64)[0])
        self.compose.set_random_state(np.random.default_rng(sequence), random.Random(py_seed))

    def __call__(
        self,
        image: NDArray[np.uint8],
        masks: Sequence[NDArray[Any]] = (),
        *,
        key: Sequence[int] | None = None,
    ) -> tuple[NDArray[np.uint8], list[NDArray[np.bool_]]]:
        """Augment one sample.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), uint8
            sRGB.
        masks : sequence of ndarray of shape (H, W)
            Boolean (or 0/1, 0/255) planes in the image's coordinates.
        key : sequence of int, optional
            Identifies the draw, e.g. ``(epoch, index)``; see the module notes.

        Returns
        -------
        image : ndarray of shape (h, w, 3), uint8
        masks : list of ndarray of shape (h, w), bool
        """
        rgb = np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, not {rgb.dtype} {rgb.shape}")
        planes = []
        for mask in masks:
            plane = np.asarray(mask)
            if plane.shape != rgb.shape[:2]:
                raise ValueError(f"mask shape {plane.shape} does not match image {rgb.shape[:2]}")
            planes.append(np.where(plane.astype(bool), 255, 0).astype(np.uint8))
        self._set_state(key)
        data: dict[str, Any] = {"image": np.ascontiguousarray(rgb)}
        if planes:
            data["masks"] = planes
        out = self.compose(**data)
        moved = [np.asarray(m) >= _MASK_ON for m in out.get("masks", [])]
        return np.ascontiguousarray(out["image"], dtype=np.uint8), moved

    def __repr__(self) -> str:
        names = ", ".join(type(t).__name__ for t in self.compose.transforms)
        return f"PairTransform([{names}], seed={self.seed})"


def train_augment(
    size: int | tuple[int, int],
    *,
    seed: int | None = None,
    scale: tuple[float, float] = (0.35, 1.0),
) -> PairTransform:
    """The training augmentation: what a clinic's camera and framing vary, not the skin.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)`` (an int: square).
    seed : int, optional
    scale : (float, float)
        Share of the image area a crop covers. The images of a manifest are framed on the skin
        (the phantom sets and weak-label sets are cut around the face), so a crop of a third or
        more stays on skin.

    Returns
    -------
    PairTransform

    Notes
    -----
    In order: random resized crop (``scale``, aspect 0.8-1.25; downscaling by area averaging),
    horizontal flip (p 0.5), rotation ±10° (p 0.5, reflected border), brightness and contrast
    ±15 % (p 0.5), hue ±4° and saturation ±8 (p 0.3) — small enough not to turn pigment into
    redness or change a severity —, Gaussian noise σ ≤ 2 % of full scale (p 0.3), and JPEG at
    quality 60-100 (p 0.5).
    """
    height, width = _size(size)
    compose = A.Compose(
        [
            A.RandomResizedCrop(
                size=(height, width),
                scale=scale,
                ratio=(0.8, 1.25),
                area_for_downscale="image_mask",
            ),
            A.HorizontalFlip(p=0.5),
            A.Rotate(limit=10, border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
            A.HueSaturationValue(hue_shift_limit=4, sat_shift_limit=8, val_shift_limit=0, p=0.3),
            A.GaussNoise(std_range=(0.0, 0.02), p=0.3),
            A.ImageCompression(quality_range=(60, 100), p=0.5),
        ]
    )
    return PairTransform(compose, seed=seed)


def eval_augment(size: int | tuple[int, int]) -> PairTransform:
    """Deterministic resize for evaluation: the long side to ``size``, then zero padding.

    Parameters
    ----------
    size : int or (int, int)
        Output ``(height, width)``; the image keeps its aspect ratio and is centred.
    """
    height, width = _size(size)
    compose = A.Compose(
        [
            A.LongestMaxSize(max_size_hw=(height, width), area_for_downscale="image_mask"),
            A.PadIfNeeded(
                min_height=height,
                min_width=width,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
            ),
        ]
    )
    return PairTransform(compose, seed=0)
