"""Weak labels: the classical measures' detections and scores, as training labels for any photo.

An unlabelled photo is assessed by the classical pipeline (:func:`skinscan.assess` with the
learned models off, so a model never learns from its own output); its wrinkle and spot
detections become masks, its four severities and grades become targets, and the ITA° of its
skin gives the skin-tone group. They are *weak*: what the filters find, with their misses and
false alarms (``docs/validation.md``), not a clinician's annotation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.datasets._files import hash_split, write_mask_png, write_rgb_png
from skinscan.datasets.manifest import ManifestSample, write_manifest
from skinscan.errors import PhotoInputError, SkinscanError
from skinscan.io import write_atomic
from skinscan.models.contract import CONCERNS, MASK_NAMES, tone_group

__all__ = ["RejectedPhotoError", "WeakLabel", "weak_label", "write_weak_label_set"]

#: Share of the skin's box added on every side when a weak label is cut around the skin.
CROP_MARGIN = 0.05


class RejectedPhotoError(SkinscanError, ValueError):
    """The quality gate rejected the photo, so it has no measures to label it with.

    ``issues`` holds the gate's rejecting issues (``code``, ``message``, …).
    """

    def __init__(self, message: str, issues: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.issues = issues


@dataclass(frozen=True)
class WeakLabel:
    """A photo's classical labels, all in the coordinates of its analysis copy.

    Attributes
    ----------
    rgb_u8 : ndarray of shape (H, W, 3), uint8
        The analysis copy (sRGB, as captured: the image a model sees at inference).
    masks : dict of str to ndarray of shape (H, W), bool
        ``wrinkles`` (the wrinkle measure's binary map: full width at half depth) and ``spots``
        (the pigment measure's spots); False outside the assessed skin.
    skin : ndarray of shape (H, W), bool
        The assessed skin (union of the regions): where the masks mean something.
    severity : dict of str to float
        Classical severity 0-100 of each concern.
    grade : dict of str to int
        Classical grade 0-4 of each concern.
    ita_deg : float
        ITA° of the skin (pigment measure).
    skin_tone : str
        :func:`~skinscan.models.contract.tone_group` of ``ita_deg``.
    mm_per_px : float or None
        Scale of the analysis copy (None without a face).
    sha256 : str
        Of the photo file or array, as :func:`skinscan.assess` records it.
    box : tuple of int
        ``(x0, y0, x1, y1)`` of these arrays in the full analysis copy (all of it unless cut by
        :meth:`cropped`).
    """

    rgb_u8: NDArray[np.uint8]
    masks: dict[str, NDArray[np.bool_]]
    skin: NDArray[np.bool_]
    severity: dict[str, float]
    grade: dict[str, int]
    ita_deg: float
    skin_tone: str
    mm_per_px: float | None
    sha256: str
    box: tuple[int, int, int, int]

    def cropped(self, margin: float = CROP_MARGIN) -> WeakLabel:
        """The same label cut to the skin's bounding box grown by ``margin`` of its size."""
        ys, xs = np.nonzero(self.skin)
        if ys.size == 0:
            return self
        h, w = self.skin.shape
        grow_y = round(margin * (ys.max() - ys.min() + 1))
        grow_x = round(margin * (xs.max() - xs.min() + 1))
        y0, y1 = max(0, int(ys.min()) - grow_y), min(h, int(ys.max()) + 1 + grow_y)
        x0, x1 = max(0, int(xs.min()) - grow_x), min(w, int(xs.max()) + 1 + grow_x)
        cut = (slice(y0, y1), slice(x0, x1))
        bx0, by0 = self.box[:2]
        return replace(
            self,
            rgb_u8=np.ascontiguousarray(self.rgb_u8[cut]),
            masks={k: np.ascontiguousarray(v[cut]) for k, v in self.masks.items()},
            skin=np.ascontiguousarray(self.skin[cut]),
            box=(bx0 + x0, by0 + y0, bx0 + x1, by0 + y1),
        )


def weak_label(
    photo: str | os.PathLike[str] | bytes | NDArray[Any],
    *,
    protocol: str | None = None,
) -> WeakLabel:
    """Label a photo with the classical measures.

    Parameters
    ----------
    photo : path, bytes or ndarray of shape (H, W, 3)
        Anything :func:`skinscan.assess` reads.
    protocol : str, optional
        Capture protocol name (default: chosen by whether a face is found).

    Returns
    -------
    WeakLabel
        Its severities and grades equal those of ``skinscan.assess(photo, learned=False)``.

    Raises
    ------
    skinscan.errors.PhotoInputError
        The photo cannot be read.
    RejectedPhotoError
        The quality gate rejected it (the message lists why).
    """
    from skinscan.pipeline import assess

    assessment = assess(photo, protocol=protocol, learned=False)
    standard = assessment.standard
    if assessment.concerns is None or standard is None:
        issues = [i for i in assessment.quality.get("issues", []) if i.get("level") == "reject"]
        reasons = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in issues) or "rejected"
        raise RejectedPhotoError(f"the quality gate rejected the photo ({reasons})", issues)
    concerns = assessment.concerns
    masks = {
        "wrinkles": concerns["wrinkles"].result.masks.get("wrinkles"),
        "spots": concerns["pigment"].result.masks.get("spots"),
    }
    shape = standard.rgb_u8.shape[:2]
    for name, mask in masks.items():
        if mask is None or mask.shape != shape:
            raise RuntimeError(f"the classical measures returned no {name} mask of shape {shape}")
    skin = np.zeros(shape, dtype=bool)
    for region in standard.regions.values():
        skin |= region
    ita = float(concerns["pigment"].result.measures["ita_deg"])
    return WeakLabel(
        rgb_u8=np.ascontiguousarray(standard.rgb_u8),
        masks={k: np.asarray(v, dtype=bool) for k, v in masks.items() if v is not None},
        skin=skin,
        severity={c: float(concerns[c].severity.severity) for c in CONCERNS},
        grade={c: int(concerns[c].severity.grade) for c in CONCERNS},
        ita_deg=ita,
        skin_tone=tone_group(ita),
        mm_per_px=standard.mm_per_px,
        sha256=assessment.photo.sha256,
        box=(0, 0, shape[1], shape[0]),
    )


def _source_name(photo: Any, index: int) -> str:
    if isinstance(photo, str | os.PathLike):
        return Path(photo).stem
    return f"photo{index:05d}"


def write_weak_label_set(
    photos: Iterable[str | os.PathLike[str] | NDArray[Any]],
    out_dir: str | os.PathLike[str],
    *,
    split_fn: Callable[[str], str] | None = None,
    crop: bool = True,
    val_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Weak-label photos and write them as a training set; return its ``manifest.jsonl``.

    Parameters
    ----------
    photos : iterable of path or ndarray
        Photos to label.
    out_dir : path
        Receives ``images/<id>.png`` (the analysis copy), ``masks/wrinkles/<id>.png``,
        ``masks/spots/<id>.png``, ``manifest.jsonl`` and, if any photo was refused,
        ``rejected.jsonl`` (source, reason).
    split_fn : callable, optional
        ``sample id -> "train" | "val" | "test"`` (e.g. by the patient a file name encodes);
        default: a seeded hash of the photo's SHA-256 (``val_fraction`` to ``val``), so copies of
        one photo share a split.
    crop : bool
        Cut each sample to its skin (:meth:`WeakLabel.cropped`), so that few pixels lie where
        the masks are unlabelled.
    val_fraction, seed : float, int
        Of the default split.
    progress : bool
        Show a Rich progress bar.

    Returns
    -------
    Path
        The manifest; ``id`` = ``<file stem>-<first 8 hex of SHA-256>``, severities and grades
        of the four concerns, ``labels`` with ``kind = "weak-label"``, the source, ITA°, scale
        and crop box.
    """
    from rich.progress import Progress

    from skinscan.scoring import CALIBRATION_VERSION

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = list(photos)
    samples: list[ManifestSample] = []
    rejected: list[dict[str, Any]] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("weak labels", total=len(items))
        for index, photo in enumerate(items):
            source = _source_name(photo, index)
            try:
                label = weak_label(photo)
            except (PhotoInputError, RejectedPhotoError) as error:
                where = source if isinstance(photo, np.ndarray) else str(photo)
                rejected.append({"source": where, "reason": str(error)})
                bar.advance(task)
                continue
            if crop:
                label = label.cropped()
            sample_id = f"{source}-{label.sha256[:8]}"
            image = write_rgb_png(out / "images" / f"{sample_id}.png", label.rgb_u8)
            masks = {
                name: write_mask_png(out / "masks" / name / f"{sample_id}.png", label.masks[name])
                for name in MASK_NAMES
                if name in label.masks
            }
            split = (
                split_fn(sample_id)
                if split_fn is not None
                else hash_split(label.sha256, seed=seed, val_fraction=val_fraction)
            )
            samples.append(
                ManifestSample(
                    id=sample_id,
                    image=image,
                    split=split,
                    skin_tone=label.skin_tone,
                    masks=masks,
                    severity=dict(label.severity),
                    grade=dict(label.grade),
                    labels={
                        "kind": "weak-label",
                        "method": f"skinscan-classical {CALIBRATION_VERSION}",
                        "source": source,
                        "sha256": label.sha256,
                        "ita_deg": round(label.ita_deg, 2),
                        "mm_per_px": None if label.mm_per_px is None else round(label.mm_per_px, 5),
                        "box": list(label.box),
                    },
                )
            )
            bar.advance(task)
    if rejected:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejected)
        write_atomic(out / "rejected.jsonl", lines)
    return write_manifest(samples, out / "manifest.jsonl")
