"""Training and evaluation of skinscan's models: recipes, the trainer, metrics, benchmarks.

- :class:`Recipe` (:mod:`skinscan.training.recipe`): a YAML file says what to train and how.
- :func:`train` (:mod:`skinscan.training.trainer`): one process or ``torchrun`` × N, with bf16
  autocast, channels_last, optional ``torch.compile``, checkpoints and exact resume, Rich
  progress, TensorBoard, and a model bundle at the end.
- :mod:`skinscan.training.metrics`: Dice, Jaccard, F1, MAE, quadratic-weighted kappa, all
  also per skin-tone group, in a :class:`MetricTable`.
- :func:`evaluate` / :func:`compare_with_classical` (:mod:`skinscan.training.evaluate`): a
  bundle's metrics on a dataset, beside those of the classical filters.
- :func:`bench_training` (:mod:`skinscan.training.bench`): GPU throughput and utilisation.

The commands ``skinscan train``, ``skinscan evaluate`` and ``skinscan bench-train`` are
:data:`skinscan.training.cli.app`'s; ``python -m skinscan.training`` runs the same app (for
``torchrun``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skinscan.training.metrics import MetricTable
from skinscan.training.recipe import Recipe, RecipeError

if TYPE_CHECKING:
    from skinscan.training.bench import BenchResult, bench_training
    from skinscan.training.evaluate import (
        ClassicalComparison,
        compare_with_classical,
        evaluate,
        record_evaluation,
    )
    from skinscan.training.trainer import TrainResult, train

__all__ = [
    "BenchResult",
    "ClassicalComparison",
    "MetricTable",
    "Recipe",
    "RecipeError",
    "TrainResult",
    "bench_training",
    "compare_with_classical",
    "evaluate",
    "record_evaluation",
    "train",
]

# torch and the datasets load only when the trainer, evaluation or benchmark is used.
_LAZY = {
    "TrainResult": "skinscan.training.trainer",
    "train": "skinscan.training.trainer",
    "evaluate": "skinscan.training.evaluate",
    "compare_with_classical": "skinscan.training.evaluate",
    "record_evaluation": "skinscan.training.evaluate",
    "ClassicalComparison": "skinscan.training.evaluate",
    "bench_training": "skinscan.training.bench",
    "BenchResult": "skinscan.training.bench",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skinscan.training' has no attribute {name!r}")
