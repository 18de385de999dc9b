"""``skinscan bench-train``: does the data pipeline keep the GPU busy, and how fast is inference?

Three timed phases on one device, each after a few untimed warm-up steps:

1. **pipeline**: training steps on batches from the recipe's own DataLoader (decoding,
   augmentation, ``to_input``, collation, host-to-device copy) — what a training run gets;
2. **synthetic**: the same steps on one batch of the same shape already on the device — what
   the GPU could do if data were free;
3. **inference**: the recipe's network in eval mode, bf16 autocast and channels_last, on
   batches of 512² images (throughput of batch inference).

The ratio pipeline / synthetic images/s says how much the data pipeline costs (1.0: nothing).
GPU utilisation is sampled in a background thread during each phase (NVML through
``torch.cuda.utilization`` when ``pynvml`` is installed, else ``nvidia-smi``), as the share of
time a kernel was running. A benchmark, never a test: figures vary with the machine and load.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from skinscan.training.recipe import Recipe

__all__ = ["BenchPhase", "BenchResult", "bench_training"]


@dataclass(frozen=True)
class BenchPhase:
    """Throughput of one phase.

    Attributes
    ----------
    images_per_s : float
    steps : int
        Timed steps (batches).
    seconds : float
        Timed wall time.
    gpu_utilisation_pct : float or None
        Mean sampled GPU utilisation (None on the CPU or without a sampler).
    """

    images_per_s: float
    steps: int
    seconds: float
    gpu_utilisation_pct: float | None


@dataclass(frozen=True)
class BenchResult:
    """Training and inference throughput of a recipe's network on one device."""

    device: str
    batch_size: int
    image_size: int
    precision: str
    pipeline: BenchPhase
    synthetic: BenchPhase
    inference: BenchPhase
    inference_batch: int
    inference_size: int

    @property
    def pipeline_ratio(self) -> float:
        """Pipeline images/s over synthetic images/s (1.0: the data cost nothing)."""
        return self.pipeline.images_per_s / max(self.synthetic.images_per_s, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, with ``pipeline_ratio``."""
        return {**asdict(self), "pipeline_ratio": round(self.pipeline_ratio, 4)}


class _Utilisation:
    """Samples GPU utilisation (%) every ``period_s`` in a daemon thread."""

    def __init__(self, device: torch.device, period_s: float = 0.2) -> None:
        self.device = device
        self.period_s = period_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader()

    def _reader(self) -> Callable[[], float | None] | None:
        if self.device.type != "cuda":
            return None
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        try:
            torch.cuda.utilization(index)  # needs pynvml

            return lambda: float(torch.cuda.utilization(index))
        except Exception:  # pynvml missing or NVML unavailable: fall back to nvidia-smi
            pass
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return None
        command = [
            smi,
            "--query-gpu=utilization.gpu",
            "--format=csv,noheader,nounits",
            f"--id={index}",
        ]

        def read() -> float | None:
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=5, check=True)
                return float(out.stdout.strip().splitlines()[0])
            except (subprocess.SubprocessError, ValueError, IndexError, OSError):
                return None

        return read

    def _run(self) -> None:
        assert self._read is not None
        while not self._stop.wait(self.period_s):
            value = self._read()
            if value is not None:
                self.samples.append(value)

    def __enter__(self) -> _Utilisation:
        if self._read is not None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(
    step: Callable[[], Any], *, seconds: float, warmup: int, images: int, device: torch.device
) -> BenchPhase:
    """Run ``step`` ``warmup`` times, then as often as fits in ``seconds``."""
    for _ in range(warmup):
        step()
    _sync(device)
    steps = 0
    with _Utilisation(device) as utilisation:
        start = time.perf_counter()
        while True:
            step()
            steps += 1
            if steps % 5 == 0 or device.type != "cuda":
                _sync(device)
                if time.perf_counter() - start >= seconds:
                    break
        _sync(device)
        elapsed = time.perf_counter() - start
    return BenchPhase(
        images_per_s=round(steps * images / elapsed, 2),
        steps=steps,
        seconds=round(elapsed, 3),
        gpu_utilisation_pct=None if utilisation.mean is None else round(utilisation.mean, 1),
    )


def bench_training(
    recipe: Recipe,
    *,
    seconds: float = 30.0,
    device: str = "cuda",
    warmup_steps: int = 5,
    inference_batch: int = 64,
    inference_size: int = 512,
) -> BenchResult:
    """Training images/s with the data pipeline and with synthetic tensors; inference images/s.

    Parameters
    ----------
    recipe : Recipe
        Network, data, batch size and numerics (``precision``, ``channels_last``, ``compile``)
        as a training run would use them; nothing is written to its output folder.
    seconds : float
        Timed duration of each phase.
    device : str
        ``cuda`` / ``cuda:N``; ``cpu`` only to check that the benchmark runs.
    warmup_steps : int
        Untimed steps before each phase (``torch.compile`` compiles during them).
    inference_batch, inference_size : int
        Batch and square side of the inference phase (always bf16 autocast).

    Returns
    -------
    BenchResult

    Raises
    ------
    RuntimeError
        ``device`` is CUDA but PyTorch sees no CUDA device.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            "bench-train measures GPU throughput and PyTorch sees no CUDA device; "
            "pass --device cpu to check that it runs"
        )
    from skinscan.training._distributed import Distributed, resolve_device
    from skinscan.training.trainer import _Run

    torch_device = resolve_device(device)
    run = _Run(
        recipe.model_copy(update={"device": str(torch_device)}),
        Distributed(0, 0, 1, torch_device),
        None,
    )
    if recipe.compile:
        run.network = torch.compile(run.model)  # type: ignore[assignment]
    batch_size = recipe.optim.batch_size

    batches: Iterator[dict[str, Any]] = iter(())

    def pipeline_step() -> None:
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            run.batches.set_epoch(run.batches.epoch + 1)
            batches = iter(run.loader)
            batch = next(batches)
        run._train_step(batch)

    pipeline = _timed(
        pipeline_step, seconds=seconds, warmup=warmup_steps, images=batch_size, device=torch_device
    )

    fixed = next(iter(run.loader))
    on_device = {
        k: v.to(torch_device) if isinstance(v, torch.Tensor) else v for k, v in fixed.items()
    }
    synthetic = _timed(
        lambda: run._train_step(on_device),
        seconds=seconds,
        warmup=warmup_steps,
        images=batch_size,
        device=torch_device,
    )

    network = run.model.eval()
    x = torch.randn(
        inference_batch,
        on_device["image"].shape[1],
        inference_size,
        inference_size,
        device=torch_device,
    )
    if recipe.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def infer() -> None:
        with torch.autocast(torch_device.type, dtype=torch.bfloat16):
            network(x)

    inference = _timed(
        infer, seconds=seconds, warmup=warmup_steps, images=inference_batch, device=torch_device
    )
    return BenchResult(
        device=_describe(torch_device),
        batch_size=batch_size,
        image_size=recipe.data.size,
        precision="bf16" if run.bf16 else "fp32",
        pipeline=pipeline,
        synthetic=synthetic,
        inference=inference,
        inference_batch=inference_batch,
        inference_size=inference_size,
    )


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
