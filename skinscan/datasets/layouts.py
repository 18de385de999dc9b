"""Loaders for the public dataset layouts researchers have, returning manifest samples.

Each loader reads a folder exactly as the dataset's own instructions leave it and returns
:class:`~skinscan.datasets.manifest.ManifestSample` rows, which
:func:`~skinscan.datasets.manifest.write_manifest` can save and
:class:`~skinscan.datasets.torch_data.ManifestDataset` can train on. No image is copied or
converted. Dataset cards with sources, licences and preparation steps: ``datasets/ffhq-wrinkle/``
and ``datasets/acne04/``.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from skinscan.datasets._files import hash_split
from skinscan.datasets.manifest import ManifestSample
from skinscan.models.contract import MASK_NAMES

__all__ = ["IMAGE_SUFFIXES", "acne04", "ffhq_wrinkle", "from_folder"]

#: Image files :func:`from_folder` picks up (what OpenCV decodes).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
_FFHQ_TEST_LIST = "test_file_lists.txt"


def _folder(root: str | os.PathLike[str]) -> Path:
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"no such folder: {path}")
    return path


def _bucket(ffhq_id: str) -> str:
    """FFHQ's thousand-image folder: ``01234`` lies in ``01000``."""
    return f"{int(ffhq_id) // 1000 * 1000:05d}"


def _read_ids(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _split(key: str, test: bool, seed: int, val_fraction: float) -> str:
    """``test`` where the layout says so, else ``train``/``val`` by a seeded hash of ``key``."""
    return "test" if test else hash_split(key, seed=seed, val_fraction=val_fraction)


def ffhq_wrinkle(
    root: str | os.PathLike[str],
    *,
    masks: Literal["manual", "weak"] = "manual",
    images: Literal["full", "masked"] = "full",
    test_ids: Iterable[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> list[ManifestSample]:
    """The FFHQ-Wrinkle dataset (Moon, Chung & Jang, ICPR 2024) as manifest samples.

    Parameters
    ----------
    root : path
        The dataset's ``base_folder``, laid out as its README
        (github.com/labhai/ffhq-wrinkle-dataset) leaves it::

            images1024x1024/00000/00000.png … 49000/49999.png   (FFHQ, downloaded separately)
            manual_wrinkle_masks/00001.png … 21035.png          (1,000 hand-drawn masks)
            weak_wrinkle_masks/00000/00000.png … 49000/49999.png (50,000 weak masks)
            face_images/00001.png …, masked_face_images/00001.png … (made by face_masking.sh)
            test_file_lists.txt                                  (optional: the 100 test IDs)

    masks : {"manual", "weak"}
        ``manual``: the 1,000 hand-labelled images. ``weak``: the 50,000 images with the
        dataset's automatically made masks — masked *texture maps* (8-bit grayscale), which
        :func:`~skinscan.datasets._files.read_mask` binarises at half scale (≥ 128).
    images : {"full", "masked"}
        ``full``: the FFHQ image (``images1024x1024/…``, else ``face_images/<id>.png``).
        ``masked``: ``masked_face_images/<id>.png`` (background zeroed, as the paper fine-tunes
        on); manual masks only.
    test_ids : iterable of str, optional
        FFHQ IDs for the ``test`` split; default: those in ``root/test_file_lists.txt`` (copy it
        from the repository), else none. Test IDs are kept out of train/val for both mask sets,
        so pretraining on weak masks never sees a manual test image.
    val_fraction : float
        Share of the other IDs put in ``val`` by a seeded hash of the ID.
    seed : int

    Returns
    -------
    list of ManifestSample
        ``id`` = ``ffhq-<id>``, ``masks = {"wrinkles": …}``, ``skin_tone = "unknown"`` (the
        dataset has no tone labels), ``labels`` = ``{"dataset", "ffhq_id", "mask_source"}``,
        sorted by ID. IDs whose image is not on disk are skipped with a warning (FFHQ is often
        fetched in part); none at all is an error.

    Notes
    -----
    Licence: the masks are CC BY-NC-SA 4.0, as are the FFHQ images (Karras et al. 2019; each
    image also under its Flickr licence): non-commercial use only, cite the paper.
    """
    base = _folder(root)
    if masks not in ("manual", "weak"):
        raise ValueError(f"masks must be 'manual' or 'weak', not {masks!r}")
    if images not in ("full", "masked"):
        raise ValueError(f"images must be 'full' or 'masked', not {images!r}")
    if masks == "weak" and images == "masked":
        raise ValueError("masked face images exist for the manual masks only")
    if test_ids is None:
        listed = base / _FFHQ_TEST_LIST
        test = _read_ids(listed) if listed.is_file() else set()
    else:
        test = {str(i).strip() for i in test_ids}
    if masks == "manual":
        mask_dir = base / "manual_wrinkle_masks"
        mask_files = sorted(mask_dir.glob("*.png"))
    else:
        mask_dir = base / "weak_wrinkle_masks"
        mask_files = sorted(mask_dir.glob("*/*.png"))
    if not mask_files:
        raise FileNotFoundError(f"no masks in {mask_dir}: is {base} the FFHQ-Wrinkle base_folder?")

    samples: list[ManifestSample] = []
    missing = 0
    for mask in mask_files:
        ffhq_id = mask.stem
        if not ffhq_id.isdigit():
            continue
        if images == "masked":
            candidates = [base / "masked_face_images" / f"{ffhq_id}.png"]
        else:
            candidates = [
                base / "images1024x1024" / _bucket(ffhq_id) / f"{ffhq_id}.png",
                base / "face_images" / f"{ffhq_id}.png",
            ]
        image = next((c for c in candidates if c.is_file()), None)
        if image is None:
            missing += 1
            continue
        split = _split(ffhq_id, ffhq_id in test, seed, val_fraction)
        samples.append(
            ManifestSample(
                id=f"ffhq-{ffhq_id}",
                image=image,
                split=split,
                masks={"wrinkles": mask},
                labels={"dataset": "ffhq-wrinkle", "ffhq_id": ffhq_id, "mask_source": masks},
            )
        )
    if not samples:
        raise FileNotFoundError(
            f"none of the {len(mask_files)} {masks} masks has its image under {base} "
            "(expected images1024x1024/<bucket>/<id>.png, face_images/ or masked_face_images/)"
        )
    if missing:
        warnings.warn(
            f"FFHQ-Wrinkle: {missing} of {len(mask_files)} {masks} masks have no image; skipped",
            stacklevel=2,
        )
    return samples


def _acne_list(path: Path) -> list[tuple[int, str, int, int]]:
    """``(line, image, grade, count)`` of an ACNE04 ``NNEW_*.txt`` file."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(
                f"{path.name} line {number}: expected 'image grade count', got {line!r}"
            )
        try:
            grade, count = int(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"{path.name} line {number}: grade and count must be integers"
            ) from None
        if not 0 <= grade <= 3 or count < 0:
            raise ValueError(f"{path.name} line {number}: grade {grade} not in 0-3 or count < 0")
        rows.append((number, parts[0], grade, count))
    return rows


def _voc_boxes(path: Path) -> dict[str, Any]:
    """Lesion boxes of a Pascal VOC annotation: ``[xmin, ymin, xmax, ymax]`` in its image size."""
    root = ET.parse(path).getroot()
    boxes, names = [], []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        if box is None:
            continue
        coords = [float(box.findtext(tag, "nan")) for tag in ("xmin", "ymin", "xmax", "ymax")]
        boxes.append(coords)
        names.append(obj.findtext("name", ""))
    size = root.find("size")
    width = int(float(size.findtext("width", "0"))) if size is not None else 0
    height = int(float(size.findtext("height", "0"))) if size is not None else 0
    return {"boxes": boxes, "box_labels": names, "box_image_size": [width, height]}


def acne04(
    root: str | os.PathLike[str],
    *,
    fold: int = 0,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> list[ManifestSample]:
    """The ACNE04 dataset (Wu et al., ICCV 2019) as manifest samples.

    Parameters
    ----------
    root : path
        The unpacked dataset (github.com/xpwu95/LDL, Google Drive / Baidu archive)::

            Classification/JPEGImages/levle0_1.jpg …        (1,457 photos)
            Classification/NNEW_trainval_<fold>.txt          (lines "image grade count")
            Classification/NNEW_test_<fold>.txt
            Detection/VOC2007/Annotations/levle0_1.xml …    (optional: lesion boxes)

    fold : int
        Which of the five published train/test folds (0-4).
    val_fraction : float
        Share of ``trainval`` put in ``val`` by a seeded hash of the image name.
    seed : int

    Returns
    -------
    list of ManifestSample
        ``grade = {"acne": 0-3}`` (Hayashi: 0 mild ≤ 5 lesions, 1 moderate 6-20, 2 severe 21-50,
        3 very severe > 50, on half a face), no masks, ``skin_tone = "unknown"``;
        ``labels``: ``lesion_count`` and, where the VOC file exists, ``boxes``
        (``[xmin, ymin, xmax, ymax]`` px of ``box_image_size``), ``box_labels`` (``fore``).

    Raises
    ------
    FileNotFoundError
        The folder, a list file or a listed image is missing.
    ValueError
        A malformed line in a list file.

    Notes
    -----
    Terms: "free for academic usage; for other purposes, contact Xiaoping Wu" (the LDL
    repository's README). Cite Wu et al. (2019), "Joint Acne Image Grading and Counting via
    Label Distribution Learning", ICCV. File names really are spelled ``levle``.
    """
    base = _folder(root)
    classification = base / "Classification"
    lists = {
        "trainval": classification / f"NNEW_trainval_{fold}.txt",
        "test": classification / f"NNEW_test_{fold}.txt",
    }
    for path in lists.values():
        if not path.is_file():
            raise FileNotFoundError(f"missing {path} (ACNE04 folds are 0-4)")
    annotations = base / "Detection" / "VOC2007" / "Annotations"
    samples: dict[str, ManifestSample] = {}
    for part, path in lists.items():
        for _, name, grade, count in _acne_list(path):
            if name in samples:
                continue
            image = classification / "JPEGImages" / name
            if not image.is_file():
                raise FileNotFoundError(f"{path.name} lists {name}, not found in {image.parent}")
            split = _split(name, part == "test", seed, val_fraction)
            labels: dict[str, Any] = {"dataset": "acne04", "fold": fold, "lesion_count": count}
            xml = annotations / f"{Path(name).stem}.xml"
            if xml.is_file():
                labels |= _voc_boxes(xml)
            samples[name] = ManifestSample(
                id=f"acne04-{Path(name).stem}",
                image=image,
                split=split,
                grade={"acne": grade},
                labels=labels,
            )
    return list(samples.values())


def _mask_folders(
    masks: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None,
) -> dict[str, Path]:
    if masks is None:
        return {}
    if isinstance(masks, Mapping):
        folders = {str(k): _folder(v) for k, v in masks.items()}
    else:
        base = _folder(masks)
        folders = {n: base / n for n in MASK_NAMES if (base / n).is_dir()}
        if not folders:
            raise FileNotFoundError(
                f"{base} holds none of the mask folders {', '.join(MASK_NAMES)}; pass a mapping "
                "{'wrinkles': folder, …} for another layout"
            )
    unknown = set(folders) - set(MASK_NAMES)
    if unknown:
        raise ValueError(f"unknown mask name(s) {sorted(unknown)}; use {', '.join(MASK_NAMES)}")
    return folders


def from_folder(
    images: str | os.PathLike[str],
    masks: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]] | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> list[ManifestSample]:
    """A plain folder of photos, with optional same-named mask PNGs.

    Parameters
    ----------
    images : path
        A folder of photos (:data:`IMAGE_SUFFIXES`; not searched recursively).
    masks : path or mapping of str to path, optional
        Either a folder with one sub-folder per mask name (``masks/wrinkles/<stem>.png``,
        ``masks/spots/<stem>.png``) or ``{"wrinkles": folder, …}``. A photo without a mask file
        of that name is unlabelled for it.
    val_fraction : float
        Share put in ``val`` by a seeded hash of the file name; the rest is ``train``.
    seed : int

    Returns
    -------
    list of ManifestSample
        ``id`` = the file name, sorted; ``skin_tone = "unknown"``.
    """
    folder = _folder(images)
    mask_dirs = _mask_folders(masks)
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    samples = []
    for photo in files:
        found = {n: d / f"{photo.stem}.png" for n, d in mask_dirs.items()}
        samples.append(
            ManifestSample(
                id=photo.name,
                image=photo,
                split=_split(photo.name, False, seed, val_fraction),
                masks={n: p for n, p in found.items() if p.is_file()},
            )
        )
    return samples
