"""The phantom's result types (re-exported by :mod:`skinscan.datasets.phantom`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_to_srgb

__all__ = ["Phantom", "PhantomTruth"]


@dataclass(frozen=True)
class PhantomTruth:
    """Ground truth of a phantom; every map has the image's shape ``(H, W)``.

    Attributes
    ----------
    melanin : ndarray, float32
        Epidermal melanin volume fraction.
    hemoglobin : ndarray, float32
        Dermal blood volume fraction.
    shading : ndarray, float32
        Multiplicative shading from relief, pores and wrinkles (1 = flat).
    wrinkles, spots, pores, red_area : ndarray, bool
        Painted wrinkle pixels (valley half-width), lentigines (half-strength contour), pore
        discs, erythema patches (where at least half the patch's peak blood was added).
    skin : ndarray, bool
        Where there is skin (all of a patch).
    mm_per_px : float
    levels : dict of str to int
        Ladder level 0-4 of ``redness``, ``pigment``, ``texture``, ``wrinkles``.
    melanin_added, hemoglobin_added : ndarray, float32
        What the pigment and redness ladders added over level 0 (zero at level 0).
    wrinkle_mask_index : int
        FFHQ index of the hand-drawn mask the wrinkle curves came from.
    """

    melanin: NDArray[np.float32]
    hemoglobin: NDArray[np.float32]
    shading: NDArray[np.float32]
    wrinkles: NDArray[np.bool_]
    spots: NDArray[np.bool_]
    pores: NDArray[np.bool_]
    red_area: NDArray[np.bool_]
    skin: NDArray[np.bool_]
    mm_per_px: float
    levels: dict[str, int]
    melanin_added: NDArray[np.float32]
    hemoglobin_added: NDArray[np.float32]
    wrinkle_mask_index: int


@dataclass(frozen=True)
class Phantom:
    """A rendered phantom image and its truth.

    Attributes
    ----------
    linear_rgb : ndarray of shape (H, W, 3), float32
        Linear sRGB in [0, 1].
    truth : PhantomTruth
    """

    linear_rgb: NDArray[np.float32]
    truth: PhantomTruth

    def srgb_u8(self) -> NDArray[np.uint8]:
        """The image encoded as 8-bit sRGB, ``ndarray of shape (H, W, 3), uint8``."""
        encoded = linear_to_srgb(self.linear_rgb) * 255.0 + 0.5
        return np.clip(encoded, 0, 255).astype(np.uint8)
