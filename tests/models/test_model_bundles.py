"""Bundles: what is written, round trip, integrity checks, metadata updates and the card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_support import SEG_SIZE, TINY_DECODER

from skinscan.models import (
    BundleError,
    build_model,
    load_bundle,
    save_bundle,
    update_bundle_metadata,
)
from skinscan.models._bundle_io import sha256_file
from skinscan.models.contract import CONCERNS, MASK_NAMES


def test_bundle_files_and_metadata(seg_bundle: Path) -> None:
    assert sorted(p.name for p in seg_bundle.iterdir()) == [
        "MODEL_CARD.md",
        "config.json",
        "metadata.json",
        "model.onnx",
        "weights.safetensors",
    ]
    meta = json.loads((seg_bundle / "metadata.json").read_text())
    assert meta["name"] == "tiny-seg"
    assert meta["task"] == "segmentation"
    assert meta["preprocessing"]["function"] == "skinscan.models.preprocess.to_input"
    assert meta["preprocessing"]["texture"] is True
    assert meta["preprocessing"]["input_size"] == list(SEG_SIZE)
    assert meta["input"] == {**meta["input"], "channels": 4, "dtype": "float32", "layout": "NCHW"}
    assert meta["output"]["names"] == list(MASK_NAMES)
    assert (meta["output"]["kind"], meta["output"]["activation"]) == ("logits", "sigmoid")
    assert meta["onnx"]["opset"] == 17
    assert meta["onnx"]["max_abs_diff"] < 1e-4
    assert meta["onnx"]["checked_with"].startswith("onnxruntime ")
    for name in ("weights.safetensors", "model.onnx"):
        assert meta["sha256"][name] == sha256_file(seg_bundle / name)
    config = json.loads((seg_bundle / "config.json").read_text())
    assert config == {
        "arch": "unet",
        "kwargs": {
            "backbone": "mobilenet_v3_small",
            "in_channels": 4,
            "num_classes": 2,
            "decoder_channels": list(TINY_DECODER),
        },
    }


def test_severity_bundle_contract(sev_bundle: Path) -> None:
    bundle = load_bundle(sev_bundle)
    out = bundle.metadata["output"]
    assert out["names"] == list(CONCERNS)
    assert (out["kind"], out["activation"], out["range"]) == ("severity", "none", [0.0, 100.0])
    assert bundle.in_channels == 3


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = build_model("unet", in_channels=3, decoder_channels=TINY_DECODER)
    # move BatchNorm statistics away from their defaults, so that buffers are checked too
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    model.eval()
    folder = save_bundle(
        model,
        tmp_path / "b",
        name="rt",
        version="1",
        task="segmentation",
        input_size=(64, 64),
        texture=False,
        onnx=False,
    )
    loaded = load_bundle(folder).torch_model()
    assert not loaded.training
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))
    assert not (folder / "model.onnx").exists()
    assert load_bundle(folder).metadata["onnx"] is None


def test_changed_weight_byte_is_refused(seg_copy: Path) -> None:
    weights = seg_copy / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    bundle = load_bundle(seg_copy)  # metadata is still readable
    with pytest.raises(BundleError, match=r"weights\.safetensors: sha256 .* does not match"):
        bundle.torch_model()


def test_changed_onnx_byte_is_refused(seg_copy: Path) -> None:
    onnx_file = seg_copy / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.onnx: sha256"):
        load_bundle(seg_copy).onnx_path()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "weights.safetensors").unlink(), r"weights\.safetensors is missing"),
        (lambda f: (f / "config.json").unlink(), r"config\.json is missing"),
        (
            lambda f: (f / "metadata.json").write_text("{not json"),
            r"metadata\.json: not valid JSON",
        ),
        (
            lambda f: (f / "metadata.json").write_text("[1, 2]"),
            r"metadata\.json: expected a JSON object",
        ),
        (lambda f: (f / "config.json").write_text('{"kwargs": {}}'), r"config\.json: expected"),
    ],
)
def test_broken_bundle_files(seg_copy: Path, damage, message: str) -> None:
    damage(seg_copy)
    with pytest.raises(BundleError, match=message):
        load_bundle(seg_copy)


def test_bundle_error_is_a_value_error() -> None:
    assert issubclass(BundleError, ValueError)
    with pytest.raises(ValueError, match="no model bundle named or at 'no-such-model'"):
        load_bundle("no-such-model")


def test_weights_of_another_architecture_do_not_load(seg_copy: Path) -> None:
    config = json.loads((seg_copy / "config.json").read_text())
    config["kwargs"]["decoder_channels"] = [16, 8, 8, 8, 4]
    (seg_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match="does not load into unet"):
        load_bundle(seg_copy).torch_model()


def test_update_merges_metadata_and_rerenders_card(seg_copy: Path) -> None:
    card_before = (seg_copy / "MODEL_CARD.md").read_text()
    assert "| light | 0.6 | 3 |" in card_before
    meta = update_bundle_metadata(
        seg_copy,
        metrics={"by_skin_tone": {"dark": {"dice": np.float32(0.25), "n": 2}}},
        evaluation={"better_than_classical": {"wrinkles": True}, "dice": float("nan")},
    )
    assert meta["metrics"]["overall"] == {"dice": 0.5}  # kept
    assert meta["metrics"]["by_skin_tone"]["dark"] == {"dice": 0.25, "n": 2}
    assert meta["evaluation"]["dice"] is None  # NaN is not JSON
    assert json.loads((seg_copy / "metadata.json").read_text()) == meta
    card = (seg_copy / "MODEL_CARD.md").read_text()
    assert "| dark | 0.25 | 2 |" in card
    assert "| light | 0.6 | 3 |" in card
    update_bundle_metadata(seg_copy, evaluation=None)
    assert "evaluation" not in load_bundle(seg_copy).metadata
    load_bundle(seg_copy).torch_model()  # the weights' record is untouched


def test_update_refuses_file_records(seg_copy: Path) -> None:
    with pytest.raises(ValueError, match="sha256 describe the bundle's files"):
        update_bundle_metadata(seg_copy, sha256={})


def test_given_card_is_kept(tmp_path: Path) -> None:
    model = build_model("severity", heads=["redness"])
    folder = save_bundle(
        model,
        tmp_path / "s",
        name="sev",
        version="2",
        task="severity",
        input_size=(64, 64),
        texture=False,
        card="# Hand-written\n",
        onnx=False,
    )
    update_bundle_metadata(folder, metrics={"overall": {"mae": 3.0}})
    assert (folder / "MODEL_CARD.md").read_text() == "# Hand-written\n"


def test_generated_card_sections(seg_bundle: Path) -> None:
    card = (seg_bundle / "MODEL_CARD.md").read_text()
    for heading in ("## Intended use", "## Training data", "## Metrics", "## Limits", "## Licence"):
        assert heading in card
    assert "random weights, for tests" in card
    assert "Apache-2.0" in card


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "severity"}, "does not fit architecture"),
        ({"texture": False}, "texture=False gives 3 channels"),
        ({"input_size": (64, 70)}, "multiples of 32"),
        ({"name": "Bad Name"}, "lowercase"),
        ({"metrics": {"x": object()}}, "plain JSON"),
    ],
)
def test_save_refuses_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    model = build_model("unet", in_channels=4, decoder_channels=TINY_DECODER)
    args = {
        "name": "ok",
        "version": "1",
        "task": "segmentation",
        "input_size": (64, 64),
        "texture": True,
        "onnx": False,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        save_bundle(model, tmp_path / "b", **args)
    assert not (tmp_path / "b" / "metadata.json").exists()


def test_save_refuses_foreign_modules(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="build_model"):
        save_bundle(
            torch.nn.Linear(2, 2),
            tmp_path,
            name="x",
            version="1",
            task="severity",
            input_size=(64, 64),
            texture=False,
        )
