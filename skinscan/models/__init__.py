"""Trained models: architectures, bundles, ONNX export, registry and runtime.

>>> from skinscan.models import build_model, save_bundle, load_runtime
>>> net = build_model("unet", in_channels=4)                      # doctest: +SKIP
>>> save_bundle(net, "my-bundle", name="my-segmenter", version="0.1", task="segmentation",
...             input_size=(512, 512), texture=True)              # doctest: +SKIP
>>> load_runtime("my-bundle").predict(rgb_u8).shape               # doctest: +SKIP
(2, H, W)

Names are loaded on first use: the CPU inference path (:func:`load_runtime`,
:func:`list_models`, :func:`default_bundle_path`) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ARCHS",
    "BACKBONES",
    "Bundle",
    "BundleError",
    "ModelEntry",
    "ModelRuntime",
    "bench_cpu_inference",
    "bench_gpu_inference",
    "build_model",
    "default_bundle_path",
    "export_onnx",
    "get_entry",
    "get_model",
    "list_models",
    "load_bundle",
    "load_runtime",
    "save_bundle",
    "update_bundle_metadata",
    "verify_bundle",
]

_WHERE = {
    "ARCHS": "architectures",
    "build_model": "architectures",
    "BACKBONES": "_backbones",
    "Bundle": "bundle",
    "BundleError": "_bundle_io",
    "load_bundle": "bundle",
    "save_bundle": "bundle",
    "update_bundle_metadata": "bundle",
    "ModelEntry": "registry",
    "default_bundle_path": "registry",
    "get_entry": "registry",
    "get_model": "registry",
    "list_models": "registry",
    "ModelRuntime": "runtime",
    "load_runtime": "runtime",
    "export_onnx": "export",
    "verify_bundle": "verify",
    "bench_cpu_inference": "bench",
    "bench_gpu_inference": "bench",
}

if TYPE_CHECKING:
    from skinscan.models._backbones import BACKBONES
    from skinscan.models._bundle_io import BundleError
    from skinscan.models.architectures import ARCHS, build_model
    from skinscan.models.bench import bench_cpu_inference, bench_gpu_inference
    from skinscan.models.bundle import Bundle, load_bundle, save_bundle, update_bundle_metadata
    from skinscan.models.export import export_onnx
    from skinscan.models.registry import (
        ModelEntry,
        default_bundle_path,
        get_entry,
        get_model,
        list_models,
    )
    from skinscan.models.runtime import ModelRuntime, load_runtime
    from skinscan.models.verify import verify_bundle


def __getattr__(name: str) -> Any:
    # torch and torchvision take seconds to import; only the modules that build or export a
    # network import them.
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'skinscan.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"skinscan.models.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
