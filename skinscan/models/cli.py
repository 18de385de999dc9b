"""``skinscan models``: list the shipped bundles, show one's metadata, verify one.

Exit status: 0 done; 1 the bundle is unknown, unreadable, or fails verification.
"""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skinscan._cli_errors import err_console, fail
from skinscan.models._bundle_io import BundleError

__all__ = ["app"]

app = typer.Typer(
    name="models",
    help="Model bundles: list the shipped ones, show one's metadata, verify one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_out = Console(highlight=False, soft_wrap=True)
_err = err_console

_Target = Annotated[str, typer.Argument(help="A shipped model's name, or a bundle folder.")]


def _fail(message: str) -> NoReturn:
    fail(message, command="skinscan models", status=1)


@app.command("list")
def list_command() -> None:
    """The model bundles shipped with skinscan (package data)."""
    from skinscan.models.registry import list_models

    entries = list_models()
    if not entries:
        _out.print("No model bundles installed; skinscan reports the classical measures only.")
        return
    table = Table(title="skinscan models")
    for column in ("name", "version", "task", "arch", "input", "outputs", "licence"):
        table.add_column(column)
    for e in entries:
        size = "×".join(str(v) for v in e.preprocessing.get("input_size", []))
        table.add_row(
            e.name,
            e.version,
            e.task,
            e.arch,
            f"{e.input.get('channels')}ch {size}",
            ", ".join(e.output.get("names", [])),
            e.licence,
        )
    _out.print(table)


@app.command()
def info(target: _Target) -> None:
    """A bundle's metadata.json, as JSON."""
    from skinscan.models.bundle import load_bundle

    try:
        bundle = load_bundle(target)
    except BundleError as exc:
        _fail(str(exc))
    typer.echo(
        json.dumps({"path": str(bundle.path), **bundle.metadata}, indent=2, ensure_ascii=False)
    )


@app.command()
def verify(
    target: _Target,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load a bundle, check its files' sha256, compare PyTorch with ONNX, time the ONNX model."""
    from skinscan.models.verify import verify_bundle

    report = verify_bundle(target)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        status = "[green]OK[/green]" if report["ok"] else "[red]FAILED[/red]"
        title = " ".join(str(v) for v in (report["name"] or target, report["version"]) if v)
        _out.print(f"{escape(title)}: {status}")
        for key in ("path", "task", "input_shape", "output_shape", "max_abs_diff"):
            _out.print(f"  {key}: {report[key]}", markup=False)
        latency = report["onnx_cpu_latency_ms"]
        if latency is not None:
            _out.print(
                f"  onnx CPU latency: {latency:.1f} ms ({report['threads']} threads)", markup=False
            )
        for error in report["errors"]:
            _err.print(f"  error: {error}", markup=False)
    if not report["ok"]:
        raise typer.Exit(1)
