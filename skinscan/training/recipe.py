"""Training recipes: one YAML file says everything a training run does.

A recipe names the model, the data, the optimiser and schedule, the loss, the numerics (bf16
autocast, channels_last, torch.compile), the seed, where the run writes, how often it logs,
evaluates and checkpoints, and how the result is exported as a bundle. Every key is checked:
a misspelt or unknown key is an error that names its path (``optim.lrr``), so a recipe never
silently trains something other than what it says. Relative paths (manifests, ``output``) are
relative to the working directory the command runs in.

Examples
--------
>>> recipe = Recipe.from_dict({
...     "name": "tiny", "task": "severity",
...     "model": {"arch": "severity", "kwargs": {"backbone": "mobilenet_v3_small"}},
...     "data": {"train": {"phantom": {"n": 8}}, "size": 64},
...     "optim": {"steps": 10},
... }, overrides=["optim.lr=0.01"])
>>> recipe.optim.lr, recipe.total_steps(batches_per_epoch=4)
(0.01, 10)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skinscan.models.contract import CONCERNS, MASK_NAMES

__all__ = [
    "DataSource",
    "DataSpec",
    "ExportSpec",
    "LossSpec",
    "ModelSpec",
    "OptimSpec",
    "PhantomSpec",
    "Recipe",
    "RecipeError",
]


class RecipeError(ValueError):
    """A recipe that cannot be used: unreadable, unknown key, bad value, bad override."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """Which network: :func:`skinscan.models.build_model` ``(arch, **kwargs)``.

    ``init``: start from trained weights instead of random ones — a bundle folder, a
    ``.safetensors`` file or a training checkpoint (``checkpoints/last.pt`` / ``best.pt``) of
    the same architecture (e.g. fine-tuning on hand-drawn masks after pretraining on weak ones).
    """

    arch: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    init: Path | None = None


class PhantomSpec(_Strict):
    """Phantom samples rendered on the fly (:class:`skinscan.datasets.torch_data.PhantomDataset`).

    ``size``, when given, must equal ``data.size`` (the samples are the model's input).
    """

    n: int = Field(gt=0)
    size: int | None = Field(default=None, gt=0)
    seed: int = 0
    tones: list[str] | None = None


class DataSource(_Strict):
    """Where samples come from: ``manifest`` (CSV/JSONL paths) or ``phantom`` (rendered).

    In YAML, a plain path stands for ``{manifest: [path]}`` and a list of paths for
    ``{manifest: [paths]}``: the samples of all the manifests, in order (e.g. a phantom set and
    a weak-label set).
    """

    manifest: list[Path] | None = None
    phantom: PhantomSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _paths_alone(cls, value: Any) -> Any:
        if isinstance(value, str | Path | list | tuple):
            value = {"manifest": value}
        if isinstance(value, dict) and isinstance(value.get("manifest"), str | Path):
            value = {**value, "manifest": [value["manifest"]]}
        return value

    def read_samples(self) -> list[Any]:
        """The :class:`~skinscan.datasets.manifest.ManifestSample` list of all the manifests.

        Raises
        ------
        RecipeError
            A manifest is missing or malformed, or two manifests share a sample id.
        """
        from skinscan.datasets.manifest import ManifestError, read_manifest

        samples: list[Any] = []
        seen: dict[str, Path] = {}
        for path in self.manifest or []:
            if not path.exists():
                raise RecipeError(f"manifest {path} does not exist")
            try:
                loaded = read_manifest(path)
            except ManifestError as exc:
                raise RecipeError(f"manifest {path}: {exc}") from None
            for sample in loaded:
                if sample.id in seen:
                    raise RecipeError(
                        f"sample id {sample.id!r} is in both {seen[sample.id]} and {path}"
                    )
                seen[sample.id] = path
            samples += loaded
        return samples

    def describe(self) -> str:
        """The source in words (manifest paths, or the phantom's parameters)."""
        if self.phantom is not None:
            spec = self.phantom
            return f"phantom n={spec.n} size={spec.size} seed={spec.seed}"
        return " + ".join(str(path) for path in self.manifest or [])

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.manifest is None) == (self.phantom is None):
            raise ValueError("give exactly one of manifest and phantom")
        if self.manifest is not None and not self.manifest:
            raise ValueError("give at least one manifest")
        return self


class DataSpec(_Strict):
    """Training and validation data.

    ``train`` / ``val``: a :class:`DataSource`, a manifest path (CSV or JSONL,
    :mod:`skinscan.datasets.manifest`; the samples of split ``train_split`` / ``val_split`` are
    used) or ``{phantom: {n, size, seed}}``. Without
    ``val`` a manifest's ``val_split`` samples are the validation set when it has any.
    ``size``: the square input side in pixels; ``texture``: add the texture channel;
    ``heads``: outputs of a severity model (the four concerns, or a dataset's own score such
    as ``acne``); ``grade_scales``: number of grades of a head whose scale is not skinscan's
    0-4 (``{acne: 4}``: a grade-only sample trains towards its grade's bin centre, and the
    predicted grade is one of 4 equal bins); ``mask_names``: planes of a segmenter;
    ``workers``: DataLoader worker processes per training process; ``augment``: random
    augmentation of the training samples.
    """

    train: DataSource
    val: DataSource | None = None
    train_split: str = "train"
    val_split: str = "val"
    size: int = Field(default=256, gt=0)
    texture: bool = False
    heads: list[str] = Field(default_factory=lambda: list(CONCERNS))
    grade_scales: dict[str, int] = Field(default_factory=dict)
    mask_names: list[str] = Field(default_factory=lambda: list(MASK_NAMES))
    workers: int = Field(default=2, ge=0)
    augment: bool = True


class OptimSpec(_Strict):
    """AdamW with linear warm-up then a cosine (or constant) schedule.

    ``batch_size`` is per process (a ``torchrun`` run of N processes takes N × batch_size images
    per step). Exactly one of ``epochs`` and ``steps`` sets the run's length.
    """

    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    batch_size: int = Field(default=8, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    steps: int | None = Field(default=None, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)
    grad_clip: float | None = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _one_length(self) -> OptimSpec:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("give exactly one of optim.epochs and optim.steps")
        return self


class LossSpec(_Strict):
    """Loss weights.

    Segmentation: ``bce_weight`` · BCE + ``dice_weight`` · soft Dice, over labelled planes only;
    ``pos_weight`` (per mask name) multiplies the positive term of the BCE, for classes far
    rarer than background (a wrinkle covers ~1 % of a face). Severity: smooth L1 on labelled
    heads, ``smooth_l1_beta`` in severity points.
    """

    bce_weight: float = Field(default=1.0, ge=0)
    dice_weight: float = Field(default=1.0, ge=0)
    pos_weight: dict[str, float] = Field(default_factory=dict)
    smooth_l1_beta: float = Field(default=5.0, gt=0)


class ExportSpec(_Strict):
    """The bundle written at the end (:func:`skinscan.models.save_bundle`).

    ``select``: the weights of the ``best`` evaluation (by the primary metric) or the ``last``
    step. ``name`` defaults to the recipe's name. ``card``: a Markdown file to ship as the model
    card (default: generated from the metadata). ``compare_classical``: also score the classical
    measures on the validation data and record, per concern, whether the bundle beats them
    (``evaluation`` in the metadata, which the assessment's fusion reads).
    """

    bundle: bool = True
    name: str | None = None
    licence: str = "Apache-2.0"
    onnx: bool = True
    select: Literal["best", "last"] = "best"
    card: Path | None = None
    compare_classical: bool = False


class Recipe(_Strict):
    """A training recipe (see the module docstring; YAML keys are the attribute names).

    ``precision``: ``auto`` is bf16 autocast on CUDA and fp32 on CPU; ``bf16`` asks for bf16
    autocast on any device; ``fp32`` turns autocast off. ``device``: ``auto`` (CUDA when there
    is one), ``cpu``, ``cuda``; under ``torchrun`` each process takes ``cuda:LOCAL_RANK``.
    ``checkpoint_every``, ``log_every``, ``eval_every`` are in optimiser steps (0: only at the
    end).
    """

    name: str
    version: str = "0.1.0"
    task: Literal["segmentation", "severity"]
    model: ModelSpec
    data: DataSpec
    optim: OptimSpec
    loss: LossSpec = Field(default_factory=LossSpec)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = "auto"
    channels_last: bool = True
    compile: bool = False
    seed: int = 0
    output: Path | None = None
    checkpoint_every: int = Field(default=500, ge=0)
    log_every: int = Field(default=10, gt=0)
    eval_every: int = Field(default=0, ge=0)
    export: ExportSpec = Field(default_factory=ExportSpec)

    @model_validator(mode="after")
    def _known_names(self) -> Recipe:
        for which, source in (("train", self.data.train), ("val", self.data.val)):
            phantom = None if source is None else source.phantom
            if phantom is not None and phantom.size not in (None, self.data.size):
                raise ValueError(
                    f"data.{which}.phantom.size {phantom.size} differs from data.size "
                    f"{self.data.size}"
                )
        unknown = set(self.loss.pos_weight) - set(self.data.mask_names)
        if unknown:
            raise ValueError(f"loss.pos_weight names unknown masks {sorted(unknown)}")
        bad = [h for h in self.data.heads if not h.isidentifier()]
        if bad or len(set(self.data.heads)) != len(self.data.heads) or not self.data.heads:
            raise ValueError(f"data.heads must be distinct identifiers, not {self.data.heads}")
        unknown = set(self.data.grade_scales) - set(self.data.heads)
        if unknown:
            raise ValueError(f"data.grade_scales names unknown heads {sorted(unknown)}")
        if any(n < 2 for n in self.data.grade_scales.values()):
            raise ValueError("data.grade_scales: a scale has at least 2 grades")
        unknown = set(self.data.mask_names) - set(MASK_NAMES)
        if unknown:
            raise ValueError(f"data.mask_names names unknown masks {sorted(unknown)}")
        return self

    @property
    def output_dir(self) -> Path:
        """Where the run writes: ``output``, or ``runs/<name>``."""
        return self.output if self.output is not None else Path("runs") / self.name

    @property
    def bundle_name(self) -> str:
        """Name of the exported bundle."""
        return self.export.name or self.name

    def total_steps(self, *, batches_per_epoch: int) -> int:
        """Optimiser steps of the whole run."""
        if self.optim.steps is not None:
            return self.optim.steps
        assert self.optim.epochs is not None  # the validator asks for one of them
        return self.optim.epochs * batches_per_epoch

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-ready data (paths as strings); ``from_dict`` reads it back."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, overrides: Sequence[str] = (), source: str = "recipe"
    ) -> Recipe:
        """Validate a recipe given as a mapping, after applying ``overrides`` (``a.b=value``).

        Raises
        ------
        RecipeError
            Unknown key (named by its dotted path), missing key, bad value or bad override.
        """
        merged = _with_overrides(dict(data), overrides)
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            raise RecipeError(f"{source}: " + _describe(exc)) from None

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
        """Read a recipe YAML file; ``overrides`` (``["optim.lr=0.01", ...]``) win over it.

        Values of overrides are read as YAML (``8`` is an int, ``true`` a bool, ``[a, b]`` a
        list, ``null`` None).
        """
        source = Path(path)
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise RecipeError(f"{source}: cannot read the recipe ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise RecipeError(f"{source}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise RecipeError(f"{source}: a recipe is a mapping of keys, not {type(data).__name__}")
        return cls.from_dict(data, overrides=overrides, source=str(source))


def _with_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"override {override!r} is not of the form key.path=value")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise RecipeError(f"override {override!r}: {where} is a value, not a section")
            else:
                child = node[part] = dict(child)
            node = child
        node[parts[-1]] = value
    return data


def _describe(exc: ValidationError) -> str:
    messages = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            messages.append(f"unknown key {where}")
        elif error["type"] == "missing":
            messages.append(f"missing key {where}")
        elif error["type"] == "value_error":
            # A validator's own message already names its keys.
            text = str(error.get("ctx", {}).get("error", error["msg"]))
            messages.append(text if not error["loc"] else f"{where}: {text}")
        else:
            messages.append(f"{where}: {error['msg']}")
    return "; ".join(dict.fromkeys(messages))
