"""``skinscan datasets``: render phantom training sets, weak-label photos, check manifests.

The Typer app :data:`app` is mounted under the main CLI as ``skinscan datasets``::

    skinscan datasets phantom --out data/phantom --n 20000 [--size 256] [--seed 0] [--no-faces]
    skinscan datasets weak-labels PHOTOS... --out data/weak
    skinscan datasets check MANIFEST
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["app"]

app = typer.Typer(
    name="datasets",
    help="Training data: phantom sets, weak labels of unlabelled photos, manifest checks.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("phantom")
def phantom(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the set into.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of samples.")],
    size: Annotated[int, typer.Option(min=32, help="Side of the square images, px.")] = 256,
    seed: Annotated[int, typer.Option(help="Sample i is fixed by (seed, i).")] = 0,
    faces: Annotated[
        bool, typer.Option("--faces/--no-faces", help="Also paint concerns on real face photos.")
    ] = True,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share in val.")] = 0.1,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Rendering processes (default: CPU count).")
    ] = None,
) -> None:
    """Render a phantom training set (PNG images and masks + manifest.jsonl)."""
    from skinscan.datasets.training_set import write_phantom_training_set

    manifest = write_phantom_training_set(
        out, n=n, size=size, seed=seed, val_fraction=val_fraction, faces=faces, workers=workers
    )
    summary = (manifest.parent / "generator.json").read_text(encoding="utf-8")
    Console(stderr=True).print(summary)
    print(manifest)


def _photo_files(paths: list[Path]) -> list[Path]:
    from skinscan.datasets.layouts import IMAGE_SUFFIXES

    suffixes = (*IMAGE_SUFFIXES, ".heic", ".heif", ".dng", ".dcm")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
        else:
            files.append(path)
    return files


@app.command("weak-labels")
def weak_labels(
    photos: Annotated[list[Path], typer.Argument(help="Photos, or folders searched for photos.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the set into.")],
    val_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share in val.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seeds the train/val split.")] = 0,
) -> None:
    """Label photos with the classical measures (masks, severities, skin tone) for training."""
    from skinscan.datasets.weak_labels import write_weak_label_set

    files = _photo_files(photos)
    if not files:
        typer.echo("no photos found", err=True)
        raise typer.Exit(1)
    manifest = write_weak_label_set(files, out, val_fraction=val_fraction, seed=seed)
    rejected = manifest.parent / "rejected.jsonl"
    if rejected.exists():
        skipped = len(rejected.read_text(encoding="utf-8").splitlines())
        Console(stderr=True).print(f"{skipped} photo(s) refused; reasons in {rejected}")
    print(manifest)


@app.command("check")
def check(
    manifest: Annotated[Path, typer.Argument(help="A manifest (.csv or .jsonl).")],
) -> None:
    """Validate a manifest and count its samples per split and skin tone."""
    from skinscan.datasets.manifest import SPLITS, ManifestError, read_manifest
    from skinscan.models.contract import MASK_NAMES, SKIN_TONE_GROUPS

    try:
        samples = read_manifest(manifest)
    except ManifestError as error:
        typer.echo(f"{manifest}: {error}", err=True)
        raise typer.Exit(1) from None
    counts = Counter((s.split, s.skin_tone) for s in samples)
    table = Table(title=f"{manifest.name}: {len(samples)} samples")
    table.add_column("split")
    for tone in SKIN_TONE_GROUPS:
        table.add_column(tone.replace("_", " "), justify="right")
    table.add_column("total", justify="right")
    for split in SPLITS:
        row = [counts[(split, tone)] for tone in SKIN_TONE_GROUPS]
        table.add_row(split, *(str(v) for v in row), str(sum(row)))
    labelled = Table(title="labelled")
    labelled.add_column("label")
    labelled.add_column("samples", justify="right")
    for name in MASK_NAMES:
        labelled.add_row(f"mask {name}", str(sum(name in s.masks for s in samples)))
    names = sorted({k for s in samples for k in s.severity} | {k for s in samples for k in s.grade})
    for name in names:
        labelled.add_row(f"severity {name}", str(sum(name in s.severity for s in samples)))
        labelled.add_row(f"grade {name}", str(sum(name in s.grade for s in samples)))
    console = Console()
    console.print(table)
    console.print(labelled)
