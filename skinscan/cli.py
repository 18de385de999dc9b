"""The ``skinscan`` command line.

Exit status: 0 assessed; 2 the input cannot be used (unreadable, unsupported or too large photo,
unknown protocol, bad mask) with one line on stderr; 3 the quality gate rejected the photo (the
JSON is still printed, with ``quality.ok`` false and ``concerns`` null).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from skinscan.errors import PhotoInputError, ProtocolError

__all__ = ["EXIT_INPUT", "EXIT_REJECTED", "app", "main"]

EXIT_INPUT = 2
EXIT_REJECTED = 3

app = typer.Typer(
    name="skinscan",
    help="Skin photo assessment: calibrated severity of texture, pigment, redness, wrinkles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    # One line, no traceback: the message says what is wrong with the input.
    err_console.print(f"skinscan: error: {message}", markup=False)
    raise typer.Exit(EXIT_INPUT)


@contextmanager
def _native_messages_hidden() -> Iterator[None]:
    """Send what C libraries write straight to file descriptor 2 to /dev/null meanwhile.

    libpng, libjpeg and LibRaw print their own warnings on corrupt input ("libpng error: IDAT:
    CRC error"); skinscan already turns those inputs into one clear line, so theirs would only
    add noise to it. Python's own errors are raised after the descriptor is restored.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _load_site_mask(path: Path | None) -> Any:
    if path is None:
        return None
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        _fail(f"{path.name}: the site mask cannot be read as an image")
    return mask > 0


@app.command()
def assess(
    photo: Annotated[
        Path, typer.Argument(help="Photo file: JPEG, PNG, TIFF, HEIC, DNG/RAW or DICOM.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print skinscan.assessment/1 JSON.")
    ] = False,
    maps: Annotated[
        Path | None, typer.Option("--maps", help="Write PNG overlays into this folder.")
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="face-frontal, body-site or a protocol JSON file. Default: by face found.",
        ),
    ] = None,
    site: Annotated[
        Path | None,
        typer.Option(
            "--site", help="Body-site photos: mask image (non-zero = assess) of the photo's size."
        ),
    ] = None,
) -> None:
    """Assess one photo: quality, calibration, face, and the four concerns."""
    from skinscan.pipeline import assess as run_assess

    try:
        mask = _load_site_mask(site)
        with _native_messages_hidden():
            result = run_assess(photo, protocol=protocol, site=mask)
    except (PhotoInputError, ProtocolError) as exc:
        _fail(str(exc))
    record = result.to_dict()
    if maps is not None:
        from skinscan.maps import write_maps

        write_maps(result, maps)
    if as_json:
        sys.stdout.write(json.dumps(record, allow_nan=False) + "\n")
    else:
        _print_report(record)
    if not result.ok:
        raise typer.Exit(EXIT_REJECTED)


def _print_report(record: dict[str, Any]) -> None:
    console = Console()
    photo = record["photo"]
    console.print(
        f"[bold]{photo['format']}[/] {photo['width']}×{photo['height']}"
        f"  sha256 {photo['sha256'][:16]}…"
    )
    quality = record["quality"]
    status = "[green]ok[/]" if quality["ok"] else "[red]rejected[/]"
    console.print(f"quality: {status}")
    for issue in quality["issues"]:
        colour = "red" if issue["level"] == "reject" else "yellow"
        console.print(f"  [{colour}]{issue['level']}[/] {issue['code']}: {issue['message']}")
    cal = record["calibration"]
    delta = "" if cal["delta_e00"] is None else f", mean ΔE00 {cal['delta_e00']:.2f}"
    console.print(f"calibration: {cal['method']}{delta}")
    face = record["face"]
    if face["found"]:
        pose = face["pose_deg"]
        console.print(
            f"face: yaw {pose['yaw']:.1f}° pitch {pose['pitch']:.1f}° roll {pose['roll']:.1f}°, "
            f"{face['mm_per_px']:.4f} mm/px"
        )
    else:
        console.print("face: not found (body-site)")
    if record["concerns"] is None:
        return
    table = Table(title="Concerns")
    table.add_column("concern")
    table.add_column("severity", justify="right")
    table.add_column("grade", justify="right")
    table.add_column("measures")
    for name, concern in record["concerns"].items():
        measures = ", ".join(
            f"{k} {v:.3g}" if v is not None else f"{k} –" for k, v in concern["measures"].items()
        )
        table.add_row(name, f"{concern['severity']:.1f}", str(concern["grade"]), measures)
    console.print(table)
    timings = record["timings_ms"]
    console.print(
        f"time: {timings['total']:.0f} ms (load {timings['load']:.0f}, "
        f"standardise {timings['standardise']:.0f}, measure {timings['measure']:.0f})"
    )


@app.command()
def bench(
    megapixels: Annotated[float, typer.Option(help="Size of the generated test photo.")] = 12.0,
    repeats: Annotated[int, typer.Option(min=1, help="Timed repetitions.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Time load + standardise (and full assess) of a generated photo; report medians and ratios."""
    from rich.progress import Progress

    from skinscan.bench import run_bench

    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("benchmark", total=repeats)
        result = run_bench(
            megapixels=megapixels, repeats=repeats, progress=lambda: progress.advance(task)
        )
    figures = result.to_dict()
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    console = Console()
    console.print(
        f"photo: {figures['megapixels']} MP JPEG, {figures['file_bytes'] / 1e6:.1f} MB; "
        f"{figures['repeats']} repeats; calibration {figures['calibration']}"
    )
    table = Table(title="median time")
    table.add_column("step")
    table.add_column("ms", justify="right")
    table.add_column("× cv2.imdecode", justify="right")
    for step, ms in figures["median_ms"].items():
        ratio = figures["ratio_to_decode"].get(step, 1.0)
        table.add_row(step, f"{ms:.1f}", f"{ratio:.2f}")
    console.print(table)
    console.print(f"peak RSS: {figures['peak_rss_mb']:.0f} MB")
    kernels = Table(title="kernels vs scikit-image (same 1024² region, this run)")
    kernels.add_column("kernel")
    kernels.add_column("× faster", justify="right")
    kernels.add_column("correlation", justify="right")
    for name, kernel in figures["kernels"].items():
        kernels.add_row(name, f"{kernel['ratio']:.1f}", f"{kernel['correlation']:.4f}")
    console.print(kernels)


@app.command()
def validate(
    out: Annotated[Path, typer.Option(help="Write the Markdown report here.")] = Path(
        "docs/validation.md"
    ),
    seed: Annotated[int, typer.Option(help="Seeds phantoms and re-captures.")] = 0,
    repeats: Annotated[int, typer.Option(min=3, help="Re-captures per face.")] = 10,
) -> None:
    """Run the severity ladders, fairness and repeatability studies; write the report."""
    from rich.status import Status

    from skinscan.validation import sample_faces, validation_report

    with Status("validating", console=err_console) as status:
        report = validation_report(
            faces=sample_faces(), seed=seed, repeats=repeats, progress=status.update
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    partial.write_text(report, encoding="utf-8")
    os.replace(partial, out)
    Console().print(f"wrote {out}")


@app.command()
def protocols(
    name: Annotated[str | None, typer.Argument(help="Show this protocol in full.")] = None,
) -> None:
    """List the built-in capture protocols, or print one as JSON (a template for your own)."""
    from skinscan.standardise.protocol import builtin_protocol_names, load_protocol

    if name is None:
        for builtin in builtin_protocol_names():
            console = Console()
            console.print(f"{builtin}: {load_protocol(builtin).description}")
        return
    try:
        chosen = load_protocol(name)
    except ProtocolError as exc:
        _fail(str(exc))
    sys.stdout.write(chosen.model_dump_json(indent=2) + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
