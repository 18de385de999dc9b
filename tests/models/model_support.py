"""Sizes of the tiny bundles the model tests build (see conftest.py)."""

from __future__ import annotations

#: Decoder widths small enough that a CPU forward at 64² takes milliseconds.
TINY_DECODER = (8, 8, 8, 8, 4)
#: Input size (H, W) of the segmentation test bundle: not square, so axes cannot be swapped.
SEG_SIZE = (64, 96)
#: Input size of the severity test bundle.
SEV_SIZE = (64, 64)
