"""What the training loop reports to: progress on the console and TensorBoard scalars.

Only rank 0 builds these (:func:`make_reporter`); the other processes get a :class:`Reporter`
that does nothing. On a terminal the progress is a Rich bar; otherwise (a log file, a batch
job) one plain line per logging interval.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from skinscan.training._table import MetricTable

__all__ = ["ConsoleReporter", "Reporter", "make_reporter"]


class Reporter:
    """Receives the loop's events; this base class ignores them (non-zero ranks)."""

    def __enter__(self) -> Reporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def started(self, *, step: int, total: int) -> None:
        """The loop starts at ``step`` (non-zero when resumed) of ``total``."""

    def logged(self, *, step: int, loss: float, lr: float, images_per_s: float) -> None:
        """Means over the last logging interval."""

    def advanced(self, step: int) -> None:
        """A step ended (cheap: no device synchronisation)."""

    def evaluated(self, *, step: int, table: MetricTable, best: bool) -> None:
        """An evaluation on the validation set ended."""

    def message(self, text: str) -> None:
        """A line for the user (checkpoint written, resumed from, ...)."""

    def close(self) -> None:
        """Flush and release files."""


class ConsoleReporter(Reporter):
    """Rich progress (or plain lines) and TensorBoard scalars under ``log_dir``.

    Parameters
    ----------
    console : rich.console.Console
        Where progress and messages go.
    log_dir : Path or None
        TensorBoard event folder; None (or tensorboard not installed) writes no events.
    """

    def __init__(self, console: Console, log_dir: Path | None) -> None:
        self.console = console
        self.writer: Any = None
        if log_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is in the optional "train" extra
                console.print("tensorboard is not installed: no event files", highlight=False)
            else:
                self.writer = SummaryWriter(log_dir=str(log_dir))
        self.progress: Progress | None = None
        self.task: Any = None

    def started(self, *, step: int, total: int) -> None:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=total, completed=step, status="")
        else:
            self.console.print(f"training: step {step} of {total}", highlight=False)

    def logged(self, *, step: int, loss: float, lr: float, images_per_s: float) -> None:
        status = f"loss {loss:.4f}  lr {lr:.2e}  {images_per_s:.1f} img/s"
        if self.progress is not None:
            self.progress.update(self.task, status=status)
        else:
            self.console.print(f"step {step}: {status}", highlight=False)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, step)
            self.writer.add_scalar("train/lr", lr, step)
            self.writer.add_scalar("train/images_per_s", images_per_s, step)

    def advanced(self, step: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step)

    def evaluated(self, *, step: int, table: MetricTable, best: bool) -> None:
        value = table.overall.get(table.primary, math.nan)
        mark = " (best)" if best else ""
        self.message(f"step {step}: validation {table.primary} {value:.4f}{mark}")
        if self.writer is not None:
            for group, metrics in table.metrics.items():
                prefix = "val" if group == "all" else f"val_{group}"
                for name, number in metrics.items():
                    if math.isfinite(number):
                        self.writer.add_scalar(f"{prefix}/{name}", number, step)

    def message(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, highlight=False, markup=False)
        else:
            self.console.print(text, highlight=False, markup=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


def make_reporter(*, main: bool, console: Console | None, log_dir: Path | None) -> Reporter:
    """A :class:`ConsoleReporter` on rank 0 (stderr unless ``console``), a silent one elsewhere."""
    if not main:
        return Reporter()
    return ConsoleReporter(console or Console(stderr=True), log_dir)
