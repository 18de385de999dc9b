"""``assess``: load → standardise → measure → score, and the ``skinscan.assessment/1`` record."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.errors import PhotoInputError
from skinscan.fusion import LearnedConcern, LearnedModels, default_models, learned_concerns
from skinscan.io import LoadLimits, Photo, PhotoMetadata, load_photo, photo_from_array
from skinscan.measures import CONCERNS, ConcernResult, measure_all
from skinscan.scoring import CALIBRATION_VERSION, Severity, score
from skinscan.standardise.face import Landmarker, default_landmarker
from skinscan.standardise.protocol import CaptureProtocol
from skinscan.standardise.standard import StandardPhoto, standardise

__all__ = [
    "CLASSICAL_MODEL_NAME",
    "SCHEMA",
    "Assessment",
    "ConcernScore",
    "assess",
    "calibration_version",
]

SCHEMA = "skinscan.assessment/1"
#: The classical measures' entry in ``models``; its version is the scoring calibration's.
CLASSICAL_MODEL_NAME = "skinscan-classical"
CLASSICAL_MODEL = {"name": CLASSICAL_MODEL_NAME, "version": CALIBRATION_VERSION}


@dataclass(frozen=True)
class ConcernScore:
    """Severity and measures of one concern, whole face and per region.

    ``severity`` is the classical one; ``learned`` what the trained models said, when loaded.
    ``reported`` is the severity the record gives: the learned one only where the bundle's shipped
    evaluation says it beats the classical filters (:mod:`skinscan.fusion`); ``source`` says which.
    Region severities are always classical (the regressor scores the whole face).
    """

    severity: Severity
    result: ConcernResult
    region_severity: dict[str, Severity]
    learned: LearnedConcern | None = None
    learned_models: tuple[tuple[str, str], ...] = ()

    @property
    def source(self) -> str:
        return "learned" if self.learned is not None and self.learned.chosen else "classical"

    @property
    def reported(self) -> Severity:
        if self.learned is not None and self.learned.chosen and self.learned.severity is not None:
            return self.learned.severity
        return self.severity

    def to_dict(self) -> dict[str, Any]:
        reported = self.reported
        record: dict[str, Any] = {
            "severity": reported.severity,
            "grade": reported.grade,
            "source": self.source,
            "measures": _rounded(self.result.measures),
            "regions": {
                name: {
                    "severity": self.region_severity[name].severity,
                    "measures": _rounded(measures),
                }
                for name, measures in self.result.regions.items()
                if name in self.region_severity
            },
        }
        if self.learned is not None:
            models = [{"name": n, "version": v} for n, v in self.learned_models]
            record["learned"] = self.learned.to_dict(models)
            record["classical"] = {"severity": self.severity.severity, "grade": self.severity.grade}
        return record


@dataclass(frozen=True)
class Assessment:
    """The result of :func:`assess`; ``to_dict()`` is ``skinscan.assessment/1``.

    ``standard`` keeps the arrays behind the numbers (analysis image, regions, maps) for overlays;
    it is not serialised.
    """

    photo: PhotoMetadata
    quality: dict[str, Any]
    calibration: dict[str, Any]
    face: dict[str, Any]
    concerns: dict[str, ConcernScore] | None
    models: list[dict[str, str]]
    timings_ms: dict[str, float]
    standard: StandardPhoto | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return bool(self.quality["ok"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "photo": self.photo.to_dict(),
            "quality": self.quality,
            "calibration": self.calibration,
            "face": self.face,
            "concerns": None
            if self.concerns is None
            else {name: self.concerns[name].to_dict() for name in CONCERNS},
            "models": self.models,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def _calibration_dict(standard: StandardPhoto) -> dict[str, Any]:
    delta = standard.calibration.delta_e00
    return {
        "method": standard.calibration.method,
        "delta_e00": None if delta is None else round(float(delta), 3),
    }


def _rounded(measures: dict[str, float]) -> dict[str, float | None]:
    return {k: (round(float(v), 4) if np.isfinite(v) else None) for k, v in measures.items()}


def assess(
    photo: str | os.PathLike[str] | bytes | NDArray[Any] | Photo,
    *,
    protocol: CaptureProtocol | str | None = None,
    site: NDArray[np.bool_] | None = None,
    limits: LoadLimits | None = None,
    landmarker: Landmarker | None = None,
    models: LearnedModels | None = None,
    learned: bool = True,
) -> Assessment:
    """Assess one photo.

    Parameters
    ----------
    photo : path, bytes, ndarray of shape (H, W, 3) or Photo
        A photo file (JPEG, PNG, TIFF, HEIC, camera RAW/DNG, DICOM), its bytes, an RGB array
        (uint8/uint16, or float in [0, 1], sRGB-encoded) or an already loaded photo.
    protocol : CaptureProtocol or str, optional
        Capture protocol or its name (``face-frontal``, ``body-site``) or a JSON path; default:
        chosen by whether a face is found.
    site : ndarray of shape (H, W), bool, optional
        Body-site photos: the area to assess.
    limits : LoadLimits, optional
        File-size and pixel limits for loading.
    landmarker : Landmarker, optional
        Replaces the bundled face landmarker.
    models : LearnedModels, optional
        Trained models to run beside the classical measures; default: the bundles shipped as
        package data (:func:`skinscan.fusion.default_models`), loaded once per process.
    learned : bool
        False runs the classical measures alone.

    Returns
    -------
    Assessment
        ``concerns`` is None when the quality gate rejected the photo.

    Raises
    ------
    skinscan.errors.PhotoInputError
        The photo cannot be read (empty, truncated, not an image, unsupported, too large).
    """
    t_start = time.perf_counter()
    if isinstance(photo, Photo):
        loaded = photo
    elif isinstance(photo, np.ndarray):
        loaded = photo_from_array(photo)
    else:
        loaded = load_photo(photo, limits=limits or LoadLimits())
    if site is not None and site.shape[:2] != loaded.pixels.shape[:2]:
        raise PhotoInputError(
            "bad_mask",
            f"the site mask is {site.shape[1]}×{site.shape[0]} but the photo is "
            f"{loaded.meta.width}×{loaded.meta.height}",
        )
    t_loaded = time.perf_counter()

    marker = landmarker or default_landmarker()
    standard = standardise(loaded, protocol=protocol, site=site, landmarker=marker)
    t_standard = time.perf_counter()

    concerns: dict[str, ConcernScore] | None = None
    runtimes = (models or default_models()) if learned else LearnedModels()
    if standard.quality.ok:
        view = standard.measurement_view()
        results = measure_all(view.linear, view.regions, mm_per_px=view.mm_per_px)
        concerns = {}
        for name in CONCERNS:
            result = results[name]
            # Maps travel in analysis-copy coordinates, like every other array of the assessment.
            shape = standard.rgb_u8.shape
            result = replace(
                result,
                map=view.to_analysis(result.map, shape),
                masks={
                    k: view.to_analysis(m.astype(np.float32), shape) >= 0.5
                    for k, m in result.masks.items()
                },
            )
            overall, per_region = score(result)
            concerns[name] = ConcernScore(overall, result, per_region)
        fused = learned_concerns(
            standard.rgb_u8,
            standard.regions,
            {name: (c.severity, c.result) for name, c in concerns.items()},
            runtimes,
            mm_per_px=standard.mm_per_px,
        )
        entries = tuple((e["name"], e["version"]) for e in runtimes.entries)
        for name, learned_concern in fused.items():
            concerns[name] = replace(
                concerns[name], learned=learned_concern, learned_models=entries
            )
    t_end = time.perf_counter()

    model_entries = [CLASSICAL_MODEL, *runtimes.entries]
    if standard.face is not None:
        model_entries.insert(0, {"name": marker.name, "version": marker.version})
    return Assessment(
        photo=loaded.meta,
        quality=standard.quality.to_dict(),
        calibration=_calibration_dict(standard),
        face=standard.face_dict(),
        concerns=concerns,
        models=model_entries,
        timings_ms={
            "load": (t_loaded - t_start) * 1e3,
            "standardise": (t_standard - t_loaded) * 1e3,
            "measure": (t_end - t_standard) * 1e3,
            "total": (t_end - t_start) * 1e3,
        },
        standard=standard,
    )


def calibration_version(record: Mapping[str, Any]) -> str | None:
    """The scoring calibration a ``skinscan.assessment/1`` record names (None if it names none)."""
    for model in record.get("models") or []:
        if isinstance(model, Mapping) and model.get("name") == CLASSICAL_MODEL_NAME:
            return str(model.get("version"))
    return None
