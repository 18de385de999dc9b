"""``evaluate(bundle, data)``: a bundle's metrics on a dataset, the classical filters' beside them.

A bundle is run as it is deployed (:func:`skinscan.models.load_runtime`: onnxruntime on the
CPU, the PyTorch network in bf16 on a GPU) on each photo at its own size, and scored against the
mask files and labels of a manifest, overall and per skin-tone group
(:mod:`skinscan.training.metrics`). :func:`compare_with_classical` scores the classical
measures (:mod:`skinscan.measures`: the wrinkle measure's detections, the pigment measure's
spots, the scored severities) on the same samples with the same metrics, so that a bundle's
card can say, per concern, whether it beats the classical filters; the fusion of the two
(:mod:`skinscan.fusion`) reads that verdict from the bundle's ``metadata.json``
(``evaluation.better_than_classical``), which :func:`record_evaluation` writes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skinscan.models.contract import CONCERNS, MASK_NAMES
from skinscan.training._accumulators import SegmentationAccumulator, SeverityAccumulator
from skinscan.training._samples import DataLike, EvalSample, load_sample, resolve_data
from skinscan.training._table import MetricTable

__all__ = [
    "CONCERN_OF_MASK",
    "ClassicalComparison",
    "compare_with_classical",
    "evaluate",
    "record_evaluation",
]

#: The concern each segmentation plane measures (as :mod:`skinscan.fusion` pairs them).
CONCERN_OF_MASK = {"wrinkles": "wrinkles", "spots": "pigment"}
#: The classical measure and mask name behind each plane.
_CLASSICAL_MASK = {"wrinkles": ("wrinkles", "wrinkles"), "spots": ("pigment", "spots")}

Accumulator = SegmentationAccumulator | SeverityAccumulator


def _output_names(runtime: Any) -> tuple[str, list[str]]:
    task = str(runtime.task)
    names = [str(n) for n in runtime.metadata["output"]["names"]]
    if task == "segmentation":
        unknown = [n for n in names if n not in MASK_NAMES]
        if unknown:
            raise ValueError(
                f"bundle {runtime.name} has planes {unknown} that no manifest labels "
                f"(masks are {list(MASK_NAMES)})"
            )
    return task, names


def _grade_scales(runtime: Any) -> dict[str, int]:
    """Grade scales of a bundle's heads, from the recipe its metadata records (default 0-4)."""
    recipe = (runtime.metadata.get("training") or {}).get("recipe") or {}
    scales = (recipe.get("data") or {}).get("grade_scales") or {}
    return {str(k): int(v) for k, v in scales.items()}


def _accumulator(
    task: str, names: Sequence[str], grade_scales: Mapping[str, int] | None = None
) -> Accumulator:
    if task == "segmentation":
        return SegmentationAccumulator(names)
    if task == "severity":
        return SeverityAccumulator(names, grade_scales=grade_scales)
    raise ValueError(f"task must be 'segmentation' or 'severity', not {task!r}")


def _add(accumulator: Accumulator, sample: EvalSample, prediction: np.ndarray) -> None:
    """Add one sample's prediction (probabilities or masks ``(K, H, W)``; severities ``(H,)``)."""
    if isinstance(accumulator, SegmentationAccumulator):
        accumulator.update(
            prediction[None], sample.masks[None], sample.mask_valid[None], [sample.skin_tone]
        )
        return
    heads = accumulator.heads
    target = np.array([[sample.severity.get(h, 0.0) for h in heads]])
    valid = np.array([[h in sample.severity for h in heads]])
    grades = np.array([[sample.grade.get(h, -1) for h in heads]])
    accumulator.update(prediction[None], target, valid, [sample.skin_tone], grades=grades)


def _classical(sample: EvalSample, task: str, names: Sequence[str]) -> np.ndarray:
    """The classical measures' masks ``(K, H, W)`` or severities ``(H,)`` of one sample."""
    from skinscan.colour_space import to_linear_float
    from skinscan.measures import measure_all
    from skinscan.scoring import score

    height, width = sample.rgb_u8.shape[:2]
    linear = to_linear_float(sample.rgb_u8)
    results = measure_all(
        linear, {"site": np.ones((height, width), bool)}, mm_per_px=sample.mm_per_px
    )
    if task == "segmentation":
        planes = []
        for name in names:
            concern, mask_name = _CLASSICAL_MASK[name]
            mask = results[concern].masks.get(mask_name)
            planes.append(np.zeros((height, width), bool) if mask is None else mask)
        return np.stack(planes)
    return np.array([score(results[head])[0].severity for head in names], np.float64)


def evaluate(
    bundle: str | os.PathLike[str],
    data: DataLike,
    *,
    device: str = "cpu",
    split: str | None = None,
    batch_size: int = 8,
) -> MetricTable:
    """Metrics of a bundle on a dataset, overall and per skin-tone group.

    Parameters
    ----------
    bundle : path or name
        A bundle folder or the name of a shipped bundle.
    data : path, mapping or DataSource
        A manifest (CSV / JSONL), or ``{"phantom": {"n": …, "size": …, "seed": …}}``.
    device : str
        ``cpu`` (onnxruntime) or ``cuda`` / ``cuda:N`` (torch, bf16).
    split : str, optional
        Manifest split to score; default ``test`` if the manifest has any, else ``val``.
    batch_size : int
        Photos per model run.

    Returns
    -------
    MetricTable
        Segmentation: Dice, IoU, precision, recall, F1 per mask (probability ≥ 0.5 is a
        detection); severity: MAE and quadratic-weighted kappa per head.
    """
    from skinscan.models import load_runtime

    runtime = load_runtime(bundle, device=device)
    task, names = _output_names(runtime)
    accumulator = _accumulator(task, names, _grade_scales(runtime))
    with resolve_data(data, split=split) as (samples, _):
        for start in range(0, len(samples), batch_size):
            chunk = [
                load_sample(s, names if task == "segmentation" else ())
                for s in samples[start : start + batch_size]
            ]
            predictions = runtime.predict_batch([s.rgb_u8 for s in chunk], batch_size=batch_size)
            for sample, prediction in zip(chunk, predictions, strict=True):
                _add(accumulator, sample, np.asarray(prediction))
    return accumulator.table()


@dataclass(frozen=True)
class ClassicalComparison:
    """A bundle's metrics and the classical filters' on the same samples.

    Attributes
    ----------
    task : str
    classical : MetricTable
    learned : MetricTable or None
        None when no bundle was given.
    data : str
        What was evaluated.
    """

    task: str
    classical: MetricTable
    learned: MetricTable | None
    data: str

    @property
    def better_than_classical(self) -> dict[str, bool]:
        """Per concern: whether the learned output is closer to the truth.

        Segmentation: the plane's micro Dice is higher (``wrinkles`` → wrinkles, ``spots`` →
        pigment); severity: the head's MAE is lower. False where either is undefined.
        """
        if self.learned is None:
            return {}
        verdict: dict[str, bool] = {}
        learned, classical = self.learned.overall, self.classical.overall
        if self.task == "segmentation":
            for plane, concern in CONCERN_OF_MASK.items():
                key = f"{plane}/dice"
                if key in learned:
                    a, b = learned[key], classical.get(key, math.nan)
                    verdict[concern] = math.isfinite(a) and math.isfinite(b) and a > b
        else:
            for head in CONCERNS:
                key = f"{head}/mae"
                if key in learned:
                    a, b = learned[key], classical.get(key, math.nan)
                    verdict[head] = math.isfinite(a) and math.isfinite(b) and a < b
        return verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``data``, ``task``, ``learned``, ``classical``, ``better_than_classical``."""
        return {
            "data": self.data,
            "task": self.task,
            "learned": None if self.learned is None else self.learned.to_dict(),
            "classical": self.classical.to_dict(),
            "better_than_classical": self.better_than_classical,
        }


def compare_with_classical(
    data: DataLike,
    *,
    bundle: str | os.PathLike[str] | None = None,
    task: str = "segmentation",
    device: str = "cpu",
    split: str | None = None,
) -> ClassicalComparison:
    """Score the classical measures, and optionally a bundle, on the same samples.

    Parameters
    ----------
    data : path, mapping or DataSource
        As :func:`evaluate`.
    bundle : path or name, optional
        The bundle to compare; its task and output names decide what is scored.
    task : {"segmentation", "severity"}
        What to score without a bundle (masks of :data:`MASK_NAMES`, or the four severities).
    device, split
        As :func:`evaluate`.

    Returns
    -------
    ClassicalComparison

    Notes
    -----
    The classical measures run on each whole image as one skin site
    (:func:`skinscan.measures.measure_all`), at the manifest's ``labels.mm_per_px`` when it
    has one (phantom sets do) and the measures' assumed scale otherwise; the image is taken as
    calibrated sRGB (the phantom's is; a photo's colour calibration would happen in
    :mod:`skinscan.standardise`). Classical severities come from
    :func:`skinscan.scoring.score`. Against the phantom's synthetic severity targets
    (``25 × ladder level``) the MAE of both measures ladder agreement, not clinical accuracy.
    """
    runtime = None
    names: list[str] = list(MASK_NAMES) if task == "segmentation" else list(CONCERNS)
    scales: dict[str, int] = {}
    if bundle is not None:
        from skinscan.models import load_runtime

        runtime = load_runtime(bundle, device=device)
        task, names = _output_names(runtime)
        scales = _grade_scales(runtime)
    if task == "severity" and not set(names) <= set(CONCERNS):
        raise ValueError(
            f"the classical measures score the four concerns {list(CONCERNS)}, not {names}"
        )
    classical = _accumulator(task, names, scales)
    learned = _accumulator(task, names, scales) if runtime is not None else None
    with resolve_data(data, split=split) as (samples, description):
        for entry in samples:
            sample = load_sample(entry, names if task == "segmentation" else ())
            _add(classical, sample, _classical(sample, task, names))
            if runtime is not None and learned is not None:
                _add(learned, sample, np.asarray(runtime.predict(sample.rgb_u8)))
    return ClassicalComparison(
        task=task,
        classical=classical.table(),
        learned=None if learned is None else learned.table(),
        data=description,
    )


def record_evaluation(
    bundle: str | os.PathLike[str], comparison: ClassicalComparison
) -> dict[str, Any]:
    """Store a comparison as the bundle's ``evaluation`` (what :mod:`skinscan.fusion` reads).

    Returns the bundle's new metadata (:func:`skinscan.models.update_bundle_metadata`).
    """
    from skinscan.models import update_bundle_metadata

    if comparison.learned is None:
        raise ValueError("a comparison without a bundle's metrics has nothing to record")
    return update_bundle_metadata(bundle, evaluation=comparison.to_dict())
