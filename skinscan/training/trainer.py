"""``train(recipe)``: the training loop, its checkpoints, validation and the exported bundle.

One function runs a recipe on one process or, under ``torchrun``, on each of N processes
(DistributedDataParallel; rank 0 alone writes files and reports). The loop is plain PyTorch:

- **numerics**: bf16 autocast on CUDA (``precision: auto``; bf16 has fp32's range, so no loss
  scaling), channels_last tensors, optional ``torch.compile``, gradient-norm clipping;
- **randomness**: the recipe's seed fixes the initial weights (identical on every process), the
  batches and augmentations (:mod:`skinscan.training._data`) and each process's generators;
- **checkpoints** every ``checkpoint_every`` steps and at the end (``checkpoints/last.pt``,
  atomic), holding what an exact continuation needs: ``train(recipe, resume=True)`` continues
  from it to the same weights an uninterrupted run reaches (on the CPU, bit for bit);
- **validation** every ``eval_every`` steps and at the end, metrics summed over processes, the
  best by the primary metric kept (``checkpoints/best.pt``);
- **reporting**: Rich progress or plain lines, TensorBoard scalars in ``tensorboard/``;
- **export**: the best (or last) weights as a bundle in ``bundle/`` with its metrics per
  skin-tone group and the facts of the training run.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import yaml  # type: ignore[import-untyped]
from rich.console import Console
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from skinscan.training._checkpoint import (
    BEST_NAME,
    CHECKPOINT_DIR,
    LAST_NAME,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from skinscan.training._data import (
    EpochBatches,
    KeyedDataset,
    build_dataset,
    make_loader,
    sample_seed,
    seed_everything,
)
from skinscan.training._distributed import Distributed, start_distributed
from skinscan.training._export import export_bundle, record_classical_comparison
from skinscan.training._handlers import Reporter, make_reporter
from skinscan.training._inference import score_network, severity_targets, to_model_input
from skinscan.training._losses import SegmentationLoss, SeverityLoss
from skinscan.training._result import TrainResult, device_name
from skinscan.training._setup import build_network, build_optimizer, build_scheduler
from skinscan.training._table import MetricTable
from skinscan.training.recipe import Recipe, RecipeError

__all__ = ["TrainResult", "train"]


class _Run:
    """The state of one training run on one process."""

    def __init__(self, recipe: Recipe, dist: Distributed, console: Console | None) -> None:
        self.recipe = recipe
        self.dist = dist
        self.device = dist.device
        self.bf16 = recipe.precision == "bf16" or (
            recipe.precision == "auto" and self.device.type == "cuda"
        )
        self.channels_last = recipe.channels_last
        self.out = recipe.output_dir
        self.last_path = self.out / CHECKPOINT_DIR / LAST_NAME
        self.best_path = self.out / CHECKPOINT_DIR / BEST_NAME

        seed_everything(recipe.seed)  # same initial weights on every process
        self.model = build_network(recipe).to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        seed_everything(sample_seed(recipe.seed, dist.rank, 1))  # this process's own stream

        self.train_set = build_dataset(recipe, train=True)
        assert self.train_set is not None
        self.val_set = build_dataset(recipe, train=False)
        self.batches = EpochBatches(
            len(self.train_set),  # type: ignore[arg-type]
            recipe.optim.batch_size,
            seed=recipe.seed,
            rank=dist.rank,
            world_size=dist.world_size,
        )
        self.loader = make_loader(
            KeyedDataset(self.train_set, recipe.seed),
            self.batches,
            workers=recipe.data.workers,
            seed=sample_seed(recipe.seed, dist.rank, 2),
            pin_memory=self.device.type == "cuda",
        )
        self.total = recipe.total_steps(batches_per_epoch=len(self.batches))
        self.optimizer = build_optimizer(recipe, self.model)
        self.scheduler = build_scheduler(recipe, self.optimizer, total=self.total)
        self.loss_fn: nn.Module
        if recipe.task == "segmentation":
            self.loss_fn = SegmentationLoss(
                recipe.data.mask_names,
                pos_weight=recipe.loss.pos_weight,
                bce_weight=recipe.loss.bce_weight,
                dice_weight=recipe.loss.dice_weight,
            ).to(self.device)
        else:
            self.loss_fn = SeverityLoss(beta=recipe.loss.smooth_l1_beta)

        self.step = 0
        self.lr = recipe.optim.lr
        self.losses: list[tuple[int, float]] = []
        self.best: tuple[float, int, MetricTable] | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.last_table: tuple[int, MetricTable] | None = None
        self.network: nn.Module = self.model
        self.reporter: Reporter = Reporter()

    # -- checkpoints ---------------------------------------------------------------------

    def _save(self) -> None:
        self.dist.average_buffers(self.model)
        states = self.dist.gather(rng_state())
        if self.dist.is_main:
            best = None
            if self.best is not None:
                best = {
                    "score": self.best[0],
                    "step": self.best[1],
                    "table": self.best[2].to_dict(),
                }
            save_checkpoint(
                self.last_path,
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "step": self.step,
                    "epoch": self.step // len(self.batches),
                    "rng": states,
                    "recipe": self.recipe.to_dict(),
                    "best": best,
                    "world_size": self.dist.world_size,
                },
            )
        self.dist.barrier()

    def _resume(self) -> None:
        state = load_checkpoint(self.last_path)
        if state["recipe"]["model"] != self.recipe.to_dict()["model"]:
            raise RecipeError(
                f"{self.last_path} was trained with model {state['recipe']['model']}, "
                f"not {self.recipe.to_dict()['model']}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        # The stored learning rates follow the stored run's schedule; a resumed run may be
        # longer (optim.steps raised), so they are recomputed from this recipe's schedule.
        for group, base, factor in zip(
            self.optimizer.param_groups,
            self.scheduler.base_lrs,
            self.scheduler.lr_lambdas,
            strict=True,
        ):
            group["lr"] = base * factor(self.step)
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]
        if len(state["rng"]) == self.dist.world_size:
            restore_rng_state(state["rng"][self.dist.rank])
        best = state.get("best")
        if best is not None:
            table = MetricTable.from_dict(best["table"])
            self.best = (float(best["score"]), int(best["step"]), table)
            if self.best_path.exists():
                self.best_weights = load_checkpoint(self.best_path)["model"]
        self.reporter.message(f"resumed from {self.last_path} at step {self.step}")

    # -- the loop ------------------------------------------------------------------------

    def _train_step(self, batch: dict[str, Any]) -> torch.Tensor:
        x = to_model_input(batch["image"], self.device, channels_last=self.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.network(x)
        if self.recipe.task == "segmentation":
            loss = self.loss_fn(
                out,
                batch["masks"].to(self.device, non_blocking=True),
                batch["mask_valid"].to(self.device, non_blocking=True),
            )
        else:
            data = self.recipe.data
            target, valid = severity_targets(batch, data.heads, data.grade_scales)
            loss = self.loss_fn(
                out,
                target.to(self.device, non_blocking=True),
                valid.to(self.device, non_blocking=True),
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.optim.grad_clip)
        self.optimizer.step()
        self.lr = float(self.scheduler.get_last_lr()[0])  # the rate this step used
        self.scheduler.step()
        return loss.detach()

    def _evaluate(self) -> None:
        if self.val_set is None:
            return
        self.dist.average_buffers(self.model)
        names = self.recipe.data.mask_names if self.recipe.task == "segmentation" else None
        table = score_network(
            self.model,
            self.val_set,
            task=self.recipe.task,
            names=names or self.recipe.data.heads,
            device=self.device,
            dist=self.dist,
            batch_size=self.recipe.optim.batch_size,
            bf16=self.bf16,
            channels_last=self.channels_last,
            workers=min(self.recipe.data.workers, 2),
            grade_scales=self.recipe.data.grade_scales,
        )
        self.last_table = (self.step, table)
        better = self.best is None or table.score > self.best[0]
        if better:
            self.best = (table.score, self.step, table)
            self.best_weights = {
                k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()
            }
            if self.dist.is_main:
                save_checkpoint(self.best_path, {"model": self.best_weights, "step": self.step})
        self.reporter.evaluated(step=self.step, table=table, best=better)

    def _loop(self) -> tuple[int, float]:
        """Train from ``self.step`` to the end; returns (steps taken, seconds spent)."""
        recipe = self.recipe
        per_step = recipe.optim.batch_size * self.dist.world_size
        started, first = time.perf_counter(), self.step
        mark_time, mark_step = started, self.step
        running = torch.zeros((), device=self.device)
        while self.step < self.total:
            epoch, skip = divmod(self.step, len(self.batches))
            self.batches.set_epoch(epoch, skip=skip)
            for batch in self.loader:
                running += self._train_step(batch)
                self.step += 1
                self.reporter.advanced(self.step)
                if self.step % recipe.log_every == 0 or self.step == self.total:
                    loss = self.dist.mean(float(running)) / (self.step - mark_step)
                    now = time.perf_counter()
                    rate = per_step * (self.step - mark_step) / max(now - mark_time, 1e-9)
                    self.losses.append((self.step, loss))
                    self.reporter.logged(step=self.step, loss=loss, lr=self.lr, images_per_s=rate)
                    running.zero_()
                    mark_time, mark_step = now, self.step
                if self.step >= self.total:
                    break  # the final evaluation and checkpoint follow the loop
                if recipe.eval_every and self.step % recipe.eval_every == 0:
                    self._evaluate()
                if recipe.checkpoint_every and self.step % recipe.checkpoint_every == 0:
                    self._save()
        return self.step - first, time.perf_counter() - started

    def run(self, *, resume: bool) -> TrainResult:
        began = time.perf_counter()
        if self.last_path.exists():
            if not resume:
                raise RecipeError(
                    f"{self.out} already holds a checkpoint; resume it (--resume) or choose "
                    "another output folder (--set output=...)"
                )
            self._resume()
        elif resume:
            self.reporter.message(
                f"no checkpoint in {self.out / CHECKPOINT_DIR}: starting at step 0"
            )
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=ids)
        if self.recipe.compile:
            self.network = torch.compile(self.network)  # type: ignore[assignment]
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "recipe.yaml").write_text(
                yaml.safe_dump(self.recipe.to_dict(), sort_keys=False), encoding="utf-8"
            )
        self.reporter.started(step=self.step, total=self.total)
        steps, seconds = self._loop()
        if self.last_table is None or self.last_table[0] != self.step:
            self._evaluate()
        self._save()
        images_per_s = (
            steps * self.recipe.optim.batch_size * self.dist.world_size / max(seconds, 1e-9)
        )
        chosen = self._chosen()
        bundle = None
        if self.recipe.export.bundle and self.dist.is_main:
            training = self._facts(images_per_s, time.perf_counter() - began, chosen)
            bundle = export_bundle(
                self._export_model(chosen), self.recipe, chosen[1], training=training
            )
            self.reporter.message(f"bundle written to {bundle}")
            if self.recipe.export.compare_classical:
                verdict = record_classical_comparison(bundle, self.recipe)
                self.reporter.message(f"better than the classical measures: {verdict}")
        self.dist.barrier()
        return TrainResult(
            output=self.out,
            steps=self.step,
            losses=self.losses,
            metrics=chosen[1],
            best_step=chosen[0],
            bundle=bundle,
            checkpoint=self.last_path,
            duration_s=time.perf_counter() - began,
            images_per_s=images_per_s,
            device=device_name(self.device),
            world_size=self.dist.world_size,
            model=self.model,
        )

    # -- export --------------------------------------------------------------------------

    def _chosen(self) -> tuple[int | None, MetricTable | None]:
        """Step and metrics of the weights to export (best evaluation, or the last step)."""
        if self.recipe.export.select == "best" and self.best is not None:
            return self.best[1], self.best[2]
        if self.last_table is not None:
            return self.last_table
        return None, None

    def _export_model(self, chosen: tuple[int | None, MetricTable | None]) -> nn.Module:
        model = copy.deepcopy(self.model).to("cpu").to(memory_format=torch.contiguous_format)
        use_best = self.recipe.export.select == "best" and self.best is not None
        if use_best and chosen[0] != self.step and self.best_weights is not None:
            model.load_state_dict(self.best_weights)
        return model.eval()

    def _facts(
        self, images_per_s: float, duration_s: float, chosen: tuple[int | None, MetricTable | None]
    ) -> dict[str, Any]:
        val = self.val_set
        return {
            "recipe": self.recipe.to_dict(),
            "steps": self.step,
            "epochs": round(self.step / len(self.batches), 3),
            "selected_step": chosen[0],
            "train_samples": len(self.train_set),  # type: ignore[arg-type]
            "val_samples": 0 if val is None else len(val),  # type: ignore[arg-type]
            "device": device_name(self.device),
            "world_size": self.dist.world_size,
            "precision": "bf16" if self.bf16 else "fp32",
            "duration_s": round(duration_s, 1),
            "images_per_s": round(images_per_s, 2),
            "torch": torch.__version__,
        }


def train(recipe: Recipe, *, resume: bool = False, console: Console | None = None) -> TrainResult:
    """Train the network a recipe describes; under ``torchrun``, one process of N.

    Parameters
    ----------
    recipe : Recipe
        What to train, on what, how (:mod:`skinscan.training.recipe`).
    resume : bool
        Continue from ``<output>/checkpoints/last.pt`` (start at step 0 when there is none).
        Without it, an output folder that holds a checkpoint is refused.
    console : rich.console.Console, optional
        Where rank 0 reports (default: stderr).

    Returns
    -------
    TrainResult

    Raises
    ------
    RecipeError
        Recipe inconsistent with its data or model, missing data, occupied output folder.
    """
    dist = start_distributed(recipe.device)
    try:
        run = _Run(recipe, dist, console)
        log_dir = recipe.output_dir / "tensorboard"
        with make_reporter(main=dist.is_main, console=console, log_dir=log_dir) as reporter:
            run.reporter = reporter
            return run.run(resume=resume)
    finally:
        dist.close()
