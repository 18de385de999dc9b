"""The ``skinscan`` command line.

Exit status: 0 assessed (compared); 2 the input cannot be used (unreadable, unsupported or too
large photo, unknown protocol, bad mask, not an assessment record) with one line on stderr; 3 the
quality gate rejected the photo, or ``compare`` refused the pair (the JSON is still printed, with
``concerns`` null; ``quality.ok`` false, or ``refusal`` saying why).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
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
    classical_only: Annotated[
        bool,
        typer.Option(
            "--classical-only", help="Do not run the trained models beside the classical measures."
        ),
    ] = False,
) -> None:
    """Assess one photo: quality, calibration, face, and the four concerns."""
    from skinscan.pipeline import assess as run_assess

    try:
        mask = _load_site_mask(site)
        with _native_messages_hidden():
            result = run_assess(photo, protocol=protocol, site=mask, learned=not classical_only)
    except (PhotoInputError, ProtocolError) as exc:
        _fail(str(exc))
    record = result.to_dict()
    if maps is not None:
        from skinscan.maps import write_maps

        write_maps(result, maps)
    _emit(record, as_json=as_json, report=_print_report, ok=result.ok)


def _emit(
    record: dict[str, Any], *, as_json: bool, report: Callable[[dict[str, Any]], None], ok: bool
) -> None:
    """Print ``record`` as one JSON line or as a report; exit 3 when it was rejected or refused."""
    if as_json:
        sys.stdout.write(json.dumps(record, allow_nan=False) + "\n")
    else:
        report(record)
    if not ok:
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
    table.add_column("source")
    table.add_column("learned (agreement)")
    table.add_column("measures")
    for name, concern in record["concerns"].items():
        measures = ", ".join(
            f"{k} {v:.3g}" if v is not None else f"{k} –" for k, v in concern["measures"].items()
        )
        table.add_row(
            name,
            f"{concern['severity']:.1f}",
            str(concern["grade"]),
            concern.get("source", "classical"),
            _learned_cell(concern.get("learned")),
            measures,
        )
    console.print(table)
    timings = record["timings_ms"]
    console.print(
        f"time: {timings['total']:.0f} ms (load {timings['load']:.0f}, "
        f"standardise {timings['standardise']:.0f}, measure {timings['measure']:.0f})"
    )


def _learned_cell(learned: dict[str, Any] | None) -> str:
    if not learned:
        return "–"
    parts = [] if learned["severity"] is None else [f"{learned['severity']:.1f}"]
    parts += [
        f"{k} {v:+.2f}" if k.endswith("delta") else f"{k} {v:.2f}"
        for k, v in learned["agreement"].items()
    ]
    return ", ".join(parts) or "–"


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
    if figures["models"]:
        models = Table(title="shipped models, CPU, one photo (this run)")
        for column in (
            "model",
            "size",
            "threads",
            "onnxruntime ms",
            "predict ms",
            "torch ÷ onnxruntime",
        ):
            models.add_column(column, justify="left" if column == "model" else "right")
        for model in figures["models"].values():
            models.add_row(
                f"{model['name']} {model['version']}",
                f"{model['size']}²",
                str(model["threads"]),
                f"{model['onnxruntime_ms']:.1f}",
                f"{model['predict_ms']:.1f}",
                f"{model['torch_over_onnxruntime']:.2f}",
            )
        console.print(models)


@app.command("bench-serve")
def bench_serve(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="PostgreSQL URL (postgresql+psycopg://…) of a database of its own; "
            "default: SQLite in a temporary data folder.",
        ),
    ] = None,
    seconds: Annotated[
        float, typer.Option(min=0.5, help="Measured seconds per read endpoint.")
    ] = 10.0,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Concurrent keep-alive connections of the load generator.")
    ] = 32,
    rate: Annotated[
        float,
        typer.Option(
            min=0,
            help="Offered requests/s of the open-loop run of each score read, after the "
            "closed-loop capacity runs (0: closed loop only).",
        ),
    ] = 1500.0,
    uploads: Annotated[
        int, typer.Option(min=0, help="Concurrent uploads of the integrity check (0: skip).")
    ] = 200,
    patients: Annotated[int, typer.Option(min=1, help="Patients the uploads are spread over.")] = 8,
    server_workers: Annotated[
        int, typer.Option(min=1, help="HTTP server processes of the service (serve --workers).")
    ] = 1,
    assess_workers: Annotated[
        int, typer.Option(min=1, help="Assessment worker processes per HTTP server process.")
    ] = 2,
    client: Annotated[
        str,
        typer.Option(
            help="Load generator: wrk (C, cheapest), raw (minimal asyncio HTTP/1.1), httpx "
            "(httpx.AsyncClient, costly), or auto (wrk when installed, else raw)."
        ),
    ] = "auto",
    relaxed_read_audit: Annotated[
        bool,
        typer.Option(
            "--relaxed-read-audit",
            help="Run the service with SKINSCAN_READ_AUDIT_DURABLE=false: read audit rows "
            "are committed before each answer but reach the disk shortly after.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Load-test the HTTP service on loopback: score reads (closed-loop capacity against
    /healthz, then open-loop latency at --rate), then concurrent uploads."""
    from skinscan.serve.loadtest import CLIENTS

    if client not in CLIENTS:
        _fail(f"--client must be one of {', '.join(CLIENTS)}, not {client!r}")
    _bench_serve(
        database_url,
        seconds,
        concurrency,
        rate,
        uploads,
        patients,
        server_workers,
        assess_workers,
        client,
        as_json,
        read_audit_durable=not relaxed_read_audit,
    )


def _bench_serve(
    database_url: str | None,
    seconds: float,
    concurrency: int,
    rate: float,
    uploads: int,
    patients: int,
    server_workers: int,
    assess_workers: int,
    client: str,
    as_json: bool,
    *,
    read_audit_durable: bool = True,
) -> None:
    """Load-test the HTTP service on loopback: reads vs /healthz, then concurrent uploads."""
    from skinscan.serve.loadtest import run_serve_bench

    def say(line: str) -> None:
        err_console.print(f"bench-serve: {line}", markup=False)

    try:
        report = run_serve_bench(
            database_url=database_url,
            seconds=seconds,
            concurrency=concurrency,
            rate=rate,
            uploads=uploads,
            upload_patients=patients,
            server_workers=server_workers,
            assess_workers=assess_workers,
            client=client,
            read_audit_durable=read_audit_durable,
            progress=say,
        )
    except ValueError as exc:  # e.g. --client wrk without wrk installed
        _fail(str(exc))
    upload_report = report["uploads"]
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        setup = report["setup"]
        console = Console()
        audit = "durable" if setup.get("read_audit_durable", True) else "relaxed"
        console.print(
            f"{setup['backend']}; {setup['server']}; {setup['cpu_count']} CPUs; "
            f"{setup['concurrency']} connections × {setup['seconds']:g} s per endpoint; "
            f"read audit: {audit}; load generator: {setup['load_generator']}",
            markup=False,
        )
        _print_closed_loop(console, report["reads"])
        if report.get("paced"):
            _print_open_loop(console, report["paced"], setup)
        _print_targets(console, report)
        if upload_report is not None:
            verdict = "ok" if upload_report["ok"] else "FAILED"
            console.print(
                f"uploads: {verdict} — {upload_report['uploads']} concurrent uploads, "
                f"{upload_report['pairs']} (patient, photo) pairs → "
                f"{upload_report['visits_db']} visits in the database, "
                f"{upload_report['created']} created, {upload_report['duplicates']} duplicates; "
                f"by status {upload_report['by_status']}; answered in "
                f"{upload_report['answered_s']:.1f} s, settled in "
                f"{upload_report['settled_s']:.1f} s",
                markup=False,
            )
            for failure in upload_report["failures"]:
                console.print(f"  {failure}", markup=False)
    if upload_report is not None and not upload_report["ok"]:
        raise typer.Exit(1)


def _print_closed_loop(console: Console, reads: dict[str, Any]) -> None:
    table = Table(
        title="closed loop: capacity, latency at saturation (ratios: to GET /healthz in this run)"
    )
    for column in ("endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    table.add_column("× req/s", justify="right")
    table.add_column("× p99", justify="right")
    table.add_column("server ms/req", justify="right")
    table.add_column("generator CPU s", justify="right")
    for figures in reads.values():
        table.add_row(
            figures["path"].replace("/api/v1", ""),
            f"{figures['requests_per_s']:.0f}",
            f"{figures['p50_ms']:.1f}",
            f"{figures['p95_ms']:.1f}",
            f"{figures['p99_ms']:.1f}",
            str(figures["errors"]),
            f"{figures['ratio_rps_to_health']:.2f}",
            f"{figures['ratio_p99_to_health']:.2f}",
            f"{figures['server_http_cpu_ms_per_request']:.2f}",
            f"{figures['generator_cpu_s']:.2f} / {figures['seconds']:.0f}",
        )
    console.print(table)


def _print_open_loop(console: Console, paced: dict[str, Any], setup: dict[str, Any]) -> None:
    table = Table(
        title=f"open loop at {setup['offered_rate_per_s']:g} requests/s "
        f"(latency from each request's {setup['latency_from']})"
    )
    for column in (
        "endpoint",
        "achieved req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "errors",
        "late",
        "server ms/req",
        "generator CPU s",
    ):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for figures in paced.values():
        table.add_row(
            figures["path"].replace("/api/v1", ""),
            f"{figures['requests_per_s']:.0f}",
            f"{figures['p50_ms']:.1f}",
            f"{figures['p95_ms']:.1f}",
            f"{figures['p99_ms']:.1f}",
            f"{figures['max_ms']:.1f}",
            str(figures["errors"]),
            str(figures["late"]),
            f"{figures['server_http_cpu_ms_per_request']:.2f}",
            f"{figures['generator_cpu_s']:.2f} / {figures['seconds']:.0f}",
        )
    console.print(table)


def _print_targets(console: Console, report: dict[str, Any]) -> None:
    targets = report["targets"]
    words = {True: "met", False: "NOT met", None: "not judged (no run at the target rate)"}
    console.print(
        f"targets (capacity ≥ {targets['reads_per_s']:g} req/s; at {targets['reads_per_s']:g} "
        f"req/s offered: ≥ {targets['achieved_fraction']:g} of it achieved, p99 ≤ "
        f"{targets['p99_ms']:g} ms): "
        + ", ".join(f"{name} {words[met]}" for name, met in report.get("targets_met", {}).items()),
        markup=False,
    )


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
    from skinscan.io import write_atomic

    write_atomic(out, report)
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


@app.command()
def repeatability(
    photos: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Same-day repeat photos, or folders of them; the parent folder names the "
            "subject (repeats/<patient>/<n>.jpg).",
            show_default=False,
        ),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest", help="CSV with columns photo,subject (paths relative to the CSV)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Write the table here.")] = Path(
        "repeatability.json"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print skinscan.repeatability/1 JSON.")
    ] = False,
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic",
            help="Run the shipped synthetic study (sample face, painted concerns, simulated "
            "re-captures) instead of reading photos.",
        ),
    ] = False,
    subjects: Annotated[int, typer.Option(min=1, help="--synthetic: subjects.")] = 8,
    repeats: Annotated[int, typer.Option(min=2, help="--synthetic: re-captures each.")] = 6,
    seed: Annotated[int, typer.Option(help="--synthetic: seeds painting and re-captures.")] = 0,
) -> None:
    """Repeatability study: SEM, ICC(2,1), CV and MDC95 from repeat captures; writes the table."""
    from skinscan.longitudinal import repeat_studies as study

    try:
        if synthetic:
            if photos or manifest is not None:
                _fail("--synthetic makes its own captures; give no photos or --manifest")
            command = (
                f"skinscan repeatability --synthetic --subjects {subjects} --repeats {repeats} "
                f"--seed {seed} --out {out}"
            )
            table = study.synthetic_study(
                subjects=subjects, repeats=repeats, seed=seed, progress=True, command=command
            )
        else:
            if photos and manifest is not None:
                _fail("give photos or --manifest, not both")
            if manifest is not None:
                subject_of = study.read_manifest(manifest)
                table = study.study_from_photos(
                    list(subject_of), subject_of=subject_of, progress=True
                )
            elif photos:
                table = study.study_from_photos(photos, progress=True)
            else:
                _fail("no photos given (give repeat photos, --manifest CSV or --synthetic)")
    except ValueError as exc:
        _fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.save(out)
    skipped = table.skipped
    if any(skipped.values()):
        err_console.print(
            f"skipped: {skipped['unreadable_photos']} unreadable photo(s), "
            f"{skipped['rejected_captures']} rejected by the quality gate, "
            f"{skipped['dropped_subjects']} subject(s) with fewer than 2 usable captures",
            markup=False,
        )
    if as_json:
        sys.stdout.write(json.dumps(table.to_dict(), allow_nan=False, ensure_ascii=False) + "\n")
        err_console.print(f"wrote {out}", markup=False)
        return
    console = Console()
    console.print(table.source, markup=False)
    grid = Table(title="severity repeatability (points of 0–100)")
    for column in ("concern", "mean", "SEM", "ICC(2,1)", "CV %", "MDC95", "subjects", "captures"):
        grid.add_column(column, justify="left" if column == "concern" else "right")
    for name, concern in table.concerns.items():
        stat = concern.severity
        grid.add_row(
            name,
            f"{stat.mean:.1f}",
            f"{stat.sem:.2f}",
            "–" if stat.icc is None else f"{stat.icc:.3f}",
            "–" if stat.cv_pct is None else f"{stat.cv_pct:.1f}",
            f"{stat.mdc95:.2f}",
            str(stat.n_subjects),
            str(stat.n_captures),
        )
    console.print(grid)
    console.print(f"wrote {out}", markup=False)


@app.command()
def compare(
    before: Annotated[
        Path, typer.Argument(help="First visit: a photo, or its saved assessment (.json).")
    ],
    after: Annotated[
        Path, typer.Argument(help="Second visit: a photo, or its saved assessment (.json).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print skinscan.comparison/1 JSON.")
    ] = False,
    maps: Annotated[
        Path | None,
        typer.Option("--maps", help="Write change maps and a registration check (PNG) here."),
    ] = None,
    mdc: Annotated[
        Path | None,
        typer.Option(
            "--mdc", help="Repeatability table (skinscan repeatability --out). Default: shipped."
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", help="Protocol of photos given as files. Default: by face."),
    ] = None,
) -> None:
    """Compare two visits: registration, change per concern and region, significant if > MDC95."""
    from skinscan.longitudinal.compare import compare as run_compare
    from skinscan.longitudinal.repeatability import RepeatabilityTable

    try:
        table = None if mdc is None else RepeatabilityTable.load(mdc)
        with _native_messages_hidden():
            result = run_compare(before, after, table=table, protocol=protocol)
    except (PhotoInputError, ProtocolError, ValueError, OSError) as exc:
        _fail(str(exc))
    record = result.to_dict()
    if maps is not None and result.ok:
        if result.before_assessment is None or result.after_assessment is None:
            err_console.print("skinscan: change maps need photos, not saved assessments")
        else:
            from skinscan.longitudinal.change_maps import write_change_maps

            write_change_maps(result, maps)
    _emit(record, as_json=as_json, report=_print_comparison, ok=result.ok)


def _print_comparison(record: dict[str, Any]) -> None:
    console = Console()
    registration = record["registration"]
    if record["refusal"] is not None:
        console.print(
            f"[red]not compared[/] ({record['refusal']['code']}): {record['refusal']['message']}",
            markup=True,
        )
        return
    error = registration.get("error_px")
    figure = "" if error is None else f", residual {error:.2f} px"
    console.print(f"registration: {registration.get('method')}{figure}")
    table = Table(title="Change between visits")
    for column in ("concern", "before", "after", "Δ", "MDC95", "verdict"):
        table.add_column(column, justify="left" if column in ("concern", "verdict") else "right")
    colours = {"worsened": "red", "improved": "green", "unchanged": "dim"}
    for name, change in record["concerns"].items():
        mdc = "–" if change["mdc95"] is None else f"{change['mdc95']:.1f}"
        table.add_row(
            name,
            f"{change['before']:.1f}",
            f"{change['after']:.1f}",
            f"{change['delta']:+.1f}",
            mdc,
            f"[{colours[change['direction']]}]{change['direction']}[/]",
        )
    console.print(table)
    source = record["repeatability"]
    console.print(f"MDC95 from: {source['source']}")
    if "warning" in source:
        console.print(f"[yellow]{source['warning']}[/]")


keys_app = typer.Typer(
    name="keys",
    help="API keys of the service (in SKINSCAN_DATABASE_URL): create, list, revoke.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _service_settings() -> Any:
    from pydantic import ValidationError

    from skinscan.serve.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(error["msg"] for error in exc.errors())
        _fail(f"bad SKINSCAN_* settings: {problems}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    migrate_only: Annotated[
        bool, typer.Option("--migrate-only", help="Upgrade the database schema and exit.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Create a demo clinic and key (printed) and load sample visits."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="HTTP server processes sharing the port (default: SKINSCAN_SERVER_WORKERS, "
            "else 1); each has its own SKINSCAN_WORKERS assessment processes.",
        ),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log one line per request (the audit log records reads and writes of "
            "patient data either way).",
        ),
    ] = False,
) -> None:
    """Run the HTTP API and the clinician's page (settings from SKINSCAN_* variables)."""
    settings = _service_settings()
    if migrate_only:
        from skinscan.serve.admin import migrate_database

        Console().print(
            f"database at the latest schema: {migrate_database(settings)}", markup=False
        )
        return
    from skinscan.serve.process import run_service

    if demo:
        _start_demo(settings, host, port)
    status = run_service(
        settings,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
    )
    if status:
        raise typer.Exit(status)


def _start_demo(settings: Any, host: str, port: int) -> None:
    """Create the demo clinic's key, print it, and load the sample visits once the API is up."""
    import threading

    from skinscan.serve.admin import database_session, migrate_database
    from skinscan.serve.demo import DEMO_CLINIC, load_demo
    from skinscan.serve.keys import create_key

    migrate_database(settings)
    with database_session(settings) as session:
        _, key = create_key(session, DEMO_CLINIC, "clinician")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    console = Console()
    console.print(f"demo clinic '{DEMO_CLINIC}': open {url}/ and enter this key:", markup=False)
    console.print(key, markup=False, soft_wrap=True)

    def load() -> None:
        try:
            patient = load_demo(url, key)
        except Exception as exc:  # the service keeps running; the demo data is a convenience
            err_console.print(f"skinscan: demo visits not loaded: {exc}", markup=False)
            return
        if patient is not None:
            console.print(f"demo patient loaded: {patient} (3 visits)", markup=False)

    threading.Thread(target=load, name="skinscan-demo", daemon=True).start()


@keys_app.command("create")
def keys_create(
    clinic: Annotated[str, typer.Option("--clinic", help="Clinic name (created if new).")],
    role: Annotated[
        str, typer.Option("--role", help="clinician (reads and writes) or integration (reads).")
    ],
) -> None:
    """Create a key; the key itself is printed as the last line, once."""
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import create_key
    from skinscan.serve.models import ROLES

    if role not in ROLES:
        _fail(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    if not clinic.strip():
        _fail("--clinic is empty")
    with database_session(_service_settings()) as session:
        info, key = create_key(session, clinic, role)
    err_console.print(
        f"created key {info.key_id} ({info.role}) for clinic {info.clinic!r}; "
        "store it now, it is not shown again",
        markup=False,
    )
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list(
    clinic: Annotated[str | None, typer.Option("--clinic", help="Only this clinic.")] = None,
) -> None:
    """List keys (id, clinic, role, created, revoked) — never their secrets."""
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import list_keys

    with database_session(_service_settings()) as session:
        keys = list_keys(session, clinic)
    table = Table(title="API keys")
    for column in ("key id", "clinic", "role", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        revoked = "" if key.revoked_at is None else key.revoked_at.isoformat(timespec="seconds")
        table.add_row(
            key.key_id, key.clinic, key.role, key.created_at.isoformat(timespec="seconds"), revoked
        )
    Console(width=200).print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (from `keys list`).")],
) -> None:
    """Revoke a key: it answers 401 from now on."""
    from skinscan.serve.admin import database_session
    from skinscan.serve.keys import revoke_key

    with database_session(_service_settings()) as session:
        info = revoke_key(session, key_id)
    if info is None:
        _fail(f"no key with id {key_id!r}")
    Console().print(f"revoked key {info.key_id} of clinic {info.clinic!r}", markup=False)


def _mount_model_commands() -> None:
    """``skinscan models|datasets …`` and ``skinscan train|evaluate|bench-train``."""
    from skinscan.datasets.cli import app as datasets_app
    from skinscan.models.cli import app as models_app
    from skinscan.training import cli as training_cli

    app.add_typer(models_app, name="models")
    app.add_typer(datasets_app, name="datasets")
    app.command("train")(training_cli.train)
    app.command("evaluate")(training_cli.evaluate)
    app.command("bench-train")(training_cli.bench_train)


_mount_model_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
