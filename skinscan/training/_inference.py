"""Running a torch network over a dataset and scoring it (the trainer's validation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from skinscan.models.contract import CONCERNS
from skinscan.training._accumulators import SegmentationAccumulator, SeverityAccumulator
from skinscan.training._counts import N_GRADES
from skinscan.training._distributed import Distributed
from skinscan.training._table import MetricTable

__all__ = ["head_columns", "score_network", "severity_targets", "to_model_input"]


def to_model_input(
    image: torch.Tensor, device: torch.device, *, channels_last: bool
) -> torch.Tensor:
    """A batch of images ``(N, C, H, W)`` on ``device`` in the memory format the network uses."""
    x = image.to(device, non_blocking=True).float()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def head_columns(values: torch.Tensor, heads: Sequence[str]) -> torch.Tensor:
    """The columns of ``heads`` from per-concern values ``(N, 4)``; ``(N, len(heads))`` passes."""
    if values.shape[-1] == len(heads):
        return values
    if values.shape[-1] == len(CONCERNS):
        return values[..., [CONCERNS.index(h) for h in heads]]
    raise ValueError(f"expected {len(heads)} or {len(CONCERNS)} columns, not {values.shape[-1]}")


def severity_targets(
    batch: Mapping[str, Any], heads: Sequence[str], grade_scales: Mapping[str, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Severity targets ``(N, H)`` and their validity, grade-only labels filled in.

    A head with a severity label keeps it; one with only a grade (ACNE04) gets the centre of
    the grade's bin on its scale (:func:`~skinscan.training._counts.grade_centre`).
    """
    severity = head_columns(batch["severity"], heads).float()
    valid = head_columns(batch["severity_valid"], heads).bool()
    grade = head_columns(batch["grade"], heads)
    n = torch.tensor([float(grade_scales.get(h, N_GRADES)) for h in heads])
    graded = ~valid & (grade >= 0)
    centre = 100.0 * (grade.float() + 0.5) / n
    return torch.where(graded, centre, severity), valid | graded


@torch.no_grad()
def score_network(
    network: nn.Module,
    dataset: Dataset[Any],
    *,
    task: str,
    names: Sequence[str],
    device: torch.device,
    dist: Distributed,
    batch_size: int,
    bf16: bool,
    channels_last: bool,
    workers: int = 0,
    grade_scales: Mapping[str, int] | None = None,
) -> MetricTable:
    """Metrics of ``network`` on ``dataset``, each process scoring every ``world_size``-th sample.

    Parameters
    ----------
    network : torch.nn.Module
        Segmenter (logits ``(N, K, H, W)``) or severity regressor (``(N, H)`` in 0-100).
    dataset : Dataset
        Samples of :mod:`skinscan.models.contract`.
    task : {"segmentation", "severity"}
    names : sequence of str
        Mask names or severity heads, in output order.
    device : torch.device
    dist : Distributed
        The statistics of all processes are summed before the ratios are taken.
    batch_size, workers : int
    bf16, channels_last : bool
        Numerics as in training.
    grade_scales : mapping of str to int, optional
        Grades of heads not on the 0-4 scale (severity).

    Returns
    -------
    MetricTable
        Identical on every process.
    """
    # The loader has a generator of its own: scoring must not advance the global generator
    # that the training continues with.
    shard = Subset(dataset, range(dist.rank, len(dataset), dist.world_size))  # type: ignore[arg-type]
    from skinscan.datasets.torch_data import collate

    loader = DataLoader(
        shard,
        batch_size=batch_size,
        collate_fn=collate,
        shuffle=False,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )
    accumulator: SegmentationAccumulator | SeverityAccumulator
    if task == "segmentation":
        accumulator = SegmentationAccumulator(names)
    else:
        accumulator = SeverityAccumulator(names, grade_scales=grade_scales)
    was_training = network.training
    network.eval()
    try:
        for batch in loader:
            x = to_model_input(batch["image"], device, channels_last=channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = network(x)
            tones = list(batch["skin_tone"])
            if isinstance(accumulator, SegmentationAccumulator):
                probabilities = torch.sigmoid(out.float()).cpu().numpy()
                accumulator.update(
                    probabilities, batch["masks"].numpy(), batch["mask_valid"].numpy(), tones
                )
            else:
                accumulator.update(
                    out.float().cpu().numpy(),
                    head_columns(batch["severity"], names).numpy(),
                    head_columns(batch["severity_valid"], names).numpy(),
                    tones,
                    grades=head_columns(batch["grade"], names).numpy(),
                )
    finally:
        network.train(was_training)
    accumulator.load_vector(dist.sum(accumulator.to_vector()))
    return accumulator.table()
