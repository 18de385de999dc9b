"""Commands of the training work: ``train``, ``evaluate``, ``bench-train``.

``skinscan`` mounts them as top-level commands; ``python -m skinscan.training`` runs them on
their own, which is what ``torchrun`` launches::

    torchrun --nproc_per_node=8 -m skinscan.training train training/segmenter-ffhq-wrinkle.yaml

Exit status: 0 done; 2 a recipe, bundle or dataset that cannot be used, with one line on
stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from skinscan._cli_errors import EXIT_INPUT, err_console
from skinscan._cli_errors import fail as _fail
from skinscan.errors import SkinscanError
from skinscan.models import BundleError
from skinscan.training.metrics import MetricTable
from skinscan.training.recipe import RecipeError

__all__ = ["EXIT_INPUT", "app", "main"]


app = typer.Typer(
    name="skinscan-training",
    help="Train, evaluate and benchmark skinscan's models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = err_console


#: Errors that mean "this input cannot be used" (one line, exit 2), not a bug.
_INPUT_ERRORS: tuple[type[Exception], ...] = (
    RecipeError,
    BundleError,
    SkinscanError,
    FileNotFoundError,
)
#: Evaluation also refuses a bundle whose outputs no manifest labels (ValueError).
_EVALUATE_ERRORS: tuple[type[Exception], ...] = (*_INPUT_ERRORS, ValueError)
#: The benchmark refuses to time a GPU that is not there (RuntimeError).
_BENCH_ERRORS: tuple[type[Exception], ...] = (*_INPUT_ERRORS, RuntimeError)


@app.command()
def train(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML (see training/README.md).")],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from <output>/checkpoints/last.pt.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe key: --set optim.lr=3e-4 (repeatable)."),
    ] = None,
) -> None:
    """Train the model a recipe describes (also under torchrun, one process per GPU)."""
    from skinscan.training.recipe import Recipe
    from skinscan.training.trainer import train as run_training

    try:
        parsed = Recipe.from_yaml(recipe, overrides or [])
        result = run_training(parsed, resume=resume, console=_err)
    except _INPUT_ERRORS as exc:
        _fail(str(exc))
    if result.bundle is not None:
        _err.print(
            f"{result.steps} steps in {result.duration_s:.0f} s "
            f"({result.images_per_s:.1f} images/s on {result.device}); bundle: {result.bundle}",
            markup=False,
        )


@app.command()
def evaluate(
    bundle: Annotated[str, typer.Argument(help="Bundle folder or shipped bundle name.")],
    data: Annotated[
        str,
        typer.Argument(
            help="Manifest (CSV/JSONL), or phantom:N[:SIZE[:SEED]] for phantom patches."
        ),
    ],
    device: Annotated[str, typer.Option(help="cpu (onnxruntime) or cuda[:N] (torch).")] = "cpu",
    split: Annotated[
        str | None, typer.Option(help="Manifest split (default: test, else val).")
    ] = None,
    classical: Annotated[
        bool, typer.Option("--classical", help="Also score the classical measures.")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record", help="Store the comparison in the bundle's metadata (--classical)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Print a bundle's metrics on a dataset, overall and per skin-tone group."""
    from skinscan.training.evaluate import (
        compare_with_classical,
        record_evaluation,
    )
    from skinscan.training.evaluate import evaluate as run_evaluation

    source = _data_argument(data)
    tables: dict[str, MetricTable | None]
    try:
        if classical or record:
            comparison = compare_with_classical(source, bundle=bundle, device=device, split=split)
            if record:
                record_evaluation(bundle, comparison)
            record_dict = comparison.to_dict()
            tables = {"learned": comparison.learned, "classical": comparison.classical}
        else:
            table = run_evaluation(bundle, source, device=device, split=split)
            record_dict = table.to_dict()
            tables = {"learned": table}
    except _EVALUATE_ERRORS as exc:
        _fail(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(record_dict, allow_nan=False) + "\n")
        return
    console = Console()
    for label, shown in tables.items():
        if shown is not None:
            console.print(
                shown.to_rich(
                    title=f"{label}: {bundle if label == 'learned' else 'classical measures'}"
                )
            )
    if classical or record:
        console.print(f"better than the classical measures: {comparison.better_than_classical}")


def _data_argument(text: str) -> Path | dict[str, dict[str, int]]:
    """``phantom:N[:SIZE[:SEED]]`` → a phantom spec; anything else is a manifest path."""
    if not text.startswith("phantom:"):
        return Path(text)
    try:
        numbers = [int(part) for part in text.split(":")[1:]]
    except ValueError:
        _fail(f"{text!r}: write phantom:N, phantom:N:SIZE or phantom:N:SIZE:SEED")
    if not 1 <= len(numbers) <= 3:
        _fail(f"{text!r}: write phantom:N, phantom:N:SIZE or phantom:N:SIZE:SEED")
    keys = ("n", "size", "seed")
    return {"phantom": dict(zip(keys, numbers, strict=False))}


@app.command("bench-train")
def bench_train(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML whose network and data to time.")],
    seconds: Annotated[float, typer.Option(min=0.1, help="Timed seconds per phase.")] = 30.0,
    device: Annotated[str, typer.Option(help="cuda[:N]; cpu only to check that it runs.")] = "cuda",
    inference_batch: Annotated[int, typer.Option(min=1, help="Batch of the inference phase.")] = 64,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe key (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Training images/s and GPU utilisation, data pipeline vs synthetic; inference at 512² bf16."""
    from skinscan.training.bench import bench_training
    from skinscan.training.recipe import Recipe

    try:
        parsed = Recipe.from_yaml(recipe, overrides or [])
        result = bench_training(
            parsed, seconds=seconds, device=device, inference_batch=inference_batch
        )
    except _BENCH_ERRORS as exc:
        _fail(str(exc))
    figures = result.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    console = Console()
    size = result.image_size
    console.print(f"{figures['device']}, batch {result.batch_size} at {size}², {result.precision}")
    for name in ("pipeline", "synthetic", "inference"):
        phase = figures[name]
        util = phase["gpu_utilisation_pct"]
        busy = "" if util is None else f", GPU busy {util:.0f} %"
        console.print(f"{name:>9}: {phase['images_per_s']:.1f} images/s{busy}")
    console.print(f"pipeline / synthetic: {result.pipeline_ratio:.2f}")


def main() -> None:
    """Entry point of ``python -m skinscan.training``."""
    app()
