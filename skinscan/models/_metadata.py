"""Bundle metadata: the input/output contract of a network, and strict JSON writing/merging."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from skinscan.models.preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["describe_io", "dump_json", "merge_fields", "plain_json"]


def plain_json(value: Any) -> Any:
    """JSON-ready copy: numpy/torch values to Python ones, tuples to lists, NaN and ±inf to null
    (an empty skin-tone group's metric is undefined, and strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "shape"):
        value = value.tolist()  # numpy or torch scalar or array
        if isinstance(value, list):
            return plain_json(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dump_json(value: Mapping[str, Any]) -> str:
    try:
        return json.dumps(plain_json(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bundle metadata must be plain JSON: {exc}") from None


def describe_io(
    model: Any, task: str, input_size: tuple[int, int], texture: bool
) -> dict[str, Any]:
    """The preprocessing, input and output contract of a network."""
    channels = int(model.config["in_channels"])
    if channels != (4 if texture else 3):
        raise ValueError(
            f"texture={texture} gives {3 + texture} channels, but the model takes {channels}"
        )
    if task == "segmentation":
        from skinscan.models.contract import MASK_NAMES

        count = int(model.config["num_classes"])
        names = (
            list(MASK_NAMES) if count == len(MASK_NAMES) else [f"class_{i}" for i in range(count)]
        )
        output = {
            "name": "logits",
            "names": names,
            "kind": "logits",
            "activation": "sigmoid",
            "range": [0.0, 1.0],
            "shape": "(N, K, H, W)",
        }
    else:
        output = {
            "name": "severity",
            "names": list(model.config["heads"]),
            "kind": "severity",
            "activation": "none",
            "range": [0.0, 100.0],
            "shape": "(N, len(names))",
        }
    value = "ImageNet-normalised sRGB" + (
        ", then the texture channel in [-1, 1]" if texture else ""
    )
    return {
        "preprocessing": {
            "function": "skinscan.models.preprocess.to_input",
            "texture": bool(texture),
            "input_size": [int(input_size[0]), int(input_size[1])],
            "resize": "cv2 INTER_AREA when shrinking, INTER_LINEAR when enlarging",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
        "input": {
            "name": "input",
            "channels": channels,
            "dtype": "float32",
            "layout": "NCHW",
            "size_multiple": 32,
            "value": value,
        },
        "output": output,
    }


def merge_fields(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge_fields(merged[key], value)
        else:
            merged[key] = value
    return merged
