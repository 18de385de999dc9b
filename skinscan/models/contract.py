"""What the trained models, their datasets and their trainer agree on.

One sample, as every ``skinscan.datasets`` torch dataset returns it and every model and metric of
``skinscan.training`` reads it (a ``dict``; batches stack the tensors and list the strings):

``image``
    ``float32 (C, H, W)``: :func:`skinscan.models.preprocess.to_input` of the photo — normalised
    sRGB (3 channels), plus the texture channel when the model takes one (4 channels).
``masks``
    ``float32 (K, H, W)`` in {0, 1}, one plane per name of :data:`MASK_NAMES`.
``mask_valid``
    ``bool (K,)``: which planes are labelled for this sample (an unlabelled plane is all zeros and
    must not count in a loss or a metric).
``severity``
    ``float32 (4,)``: severity 0-100 per concern, in the order of :data:`CONCERNS`.
``severity_valid``
    ``bool (4,)``: which severities are labelled.
``grade``
    ``int64 (4,)``: grade 0-4 per concern, −1 where unlabelled.
``skin_tone``
    ``str``: one of :data:`SKIN_TONE_GROUPS`.
``id``
    ``str``: the sample's identifier (its image path or generator key).
"""

from __future__ import annotations

from skinscan.measures import CONCERNS
from skinscan.measures.pigment import ITA_CATEGORY_NAMES

__all__ = ["CONCERNS", "MASK_NAMES", "SKIN_TONE_GROUPS", "UNKNOWN_TONE", "tone_group"]

#: Segmentation planes, in channel order.
MASK_NAMES: tuple[str, ...] = ("wrinkles", "spots")
UNKNOWN_TONE = "unknown"
#: Skin-tone groups metrics are broken down by: the ITA° categories (Chardon et al. 1991; Del Bino
#: et al. 2006), plus ``unknown``.
SKIN_TONE_GROUPS: tuple[str, ...] = (*ITA_CATEGORY_NAMES, UNKNOWN_TONE)


def tone_group(ita_deg: float | None) -> str:
    """The skin-tone group of an ITA° (``unknown`` for None or NaN)."""
    from skinscan.measures.pigment import ita_category

    if ita_deg is None or ita_deg != ita_deg:
        return UNKNOWN_TONE
    return ITA_CATEGORY_NAMES[ita_category(float(ita_deg))]
