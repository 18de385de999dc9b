"""One process of a (possibly) distributed run: rank, device, process group, reductions.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (and the rendezvous address); a
plain ``python`` run has none of them and is a world of one. The process group uses NCCL
between GPUs and Gloo between CPU processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import NDArray

__all__ = ["Distributed", "resolve_device", "start_distributed"]


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` → ``cuda:LOCAL_RANK``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("the recipe asks for device 'cuda' but PyTorch sees no CUDA device")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


@dataclass
class Distributed:
    """This process's place in the run.

    Attributes
    ----------
    rank, local_rank, world_size : int
    device : torch.device
    owns_group : bool
        Whether :func:`start_distributed` created the process group (and so ends it).
    """

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files, logs and progress."""
        return self.rank == 0

    def sum(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Element-wise sum of ``values`` over all processes (float64)."""
        if not self.enabled:
            return values
        tensor = torch.from_numpy(np.ascontiguousarray(values, np.float64)).to(self._comm_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().numpy()

    def mean(self, value: float) -> float:
        """Mean of a scalar over all processes."""
        return float(self.sum(np.array([value]))[0]) / self.world_size

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Replace floating-point buffers (batch-norm running statistics) by their mean over ranks.

        DDP keeps parameters identical but each process's batch norm updates its running mean
        and variance from its own batch; averaging them makes every process hold the same
        network, estimated from all processes' batches.
        """
        if not self.enabled:
            return
        with torch.no_grad():
            for buffer in module.buffers():
                if buffer.is_floating_point():
                    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
                    buffer.div_(self.world_size)

    def gather(self, obj: Any) -> list[Any]:
        """One picklable object from every process, in rank order (``[obj]`` when alone)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every process."""
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """End the process group if this run started it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False

    @property
    def _comm_device(self) -> torch.device:
        # NCCL reduces tensors on the GPU; Gloo on the CPU.
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def start_distributed(device: str, env: Mapping[str, str] | None = None) -> Distributed:
    """Read the ``torchrun`` environment and join (or start) the process group.

    Parameters
    ----------
    device : str
        The recipe's device (``auto``, ``cpu``, ``cuda``).
    env : mapping, optional
        Environment to read (default ``os.environ``).

    Returns
    -------
    Distributed
        World of one without ``WORLD_SIZE`` (or with 1).
    """
    env = os.environ if env is None else env
    world_size = int(env.get("WORLD_SIZE", "1"))
    rank = int(env.get("RANK", "0"))
    local_rank = int(env.get("LOCAL_RANK", str(rank)))
    torch_device = resolve_device(device, local_rank=local_rank)
    if world_size <= 1:
        return Distributed(0, 0, 1, torch_device)
    owns = False
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        owns = True
    return Distributed(rank, local_rank, world_size, torch_device, owns_group=owns)
