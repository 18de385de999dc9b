"""The end of a run: the selected weights as a model bundle with their metrics and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from skinscan.training._table import MetricTable
from skinscan.training.recipe import Recipe

__all__ = ["BUNDLE_DIR", "export_bundle", "record_classical_comparison"]

#: Sub-folder of the run's output that holds the exported bundle.
BUNDLE_DIR = "bundle"


def export_bundle(
    model: nn.Module,
    recipe: Recipe,
    metrics: MetricTable | None,
    *,
    training: dict[str, Any],
    folder: Path | None = None,
) -> Path:
    """Write ``model`` as a bundle (:func:`skinscan.models.save_bundle`); return its folder.

    Parameters
    ----------
    model : torch.nn.Module
        The network to ship, on the CPU, in eval mode.
    recipe : Recipe
        Name, version, task, input size, texture channel, licence and card come from it.
    metrics : MetricTable or None
        Validation metrics, overall and per skin-tone group (stored in the metadata).
    training : dict
        Facts of the run: recipe, steps, data sizes, device, duration.
    folder : Path, optional
        Default ``<output>/bundle``.
    """
    from skinscan.models import save_bundle

    target = folder if folder is not None else recipe.output_dir / BUNDLE_DIR
    card = None
    if recipe.export.card is not None:
        card = Path(recipe.export.card).read_text(encoding="utf-8")
    return Path(
        save_bundle(
            model,
            target,
            name=recipe.bundle_name,
            version=recipe.version,
            task=recipe.task,
            input_size=(recipe.data.size, recipe.data.size),
            texture=recipe.data.texture,
            metrics=None if metrics is None else metrics.to_dict(),
            training=training,
            licence=recipe.export.licence,
            card=card,
            onnx=recipe.export.onnx,
        )
    )


def record_classical_comparison(bundle: Path, recipe: Recipe) -> dict[str, bool] | None:
    """Compare the bundle with the classical measures on the validation data; record the result.

    The validation data are ``data.val``, or the training manifest's ``data.val_split``; None
    (nothing recorded) without either. Returns ``better_than_classical``.
    """
    from skinscan.training.evaluate import compare_with_classical, record_evaluation

    source = recipe.data.val
    split = recipe.data.val_split
    if source is None:
        if recipe.data.train.manifest is None:
            return None
        source = recipe.data.train
    if source.phantom is not None and source.phantom.size is None:
        source = source.model_copy(
            update={"phantom": source.phantom.model_copy(update={"size": recipe.data.size})}
        )
    comparison = compare_with_classical(source, bundle=bundle, split=split)
    record_evaluation(bundle, comparison)
    return comparison.better_than_classical
