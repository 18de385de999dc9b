"""Registry: entries from bundle folders, names vs paths, defaults when nothing is shipped."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch

from skinscan.models import (
    BundleError,
    ModelEntry,
    default_bundle_path,
    get_entry,
    get_model,
    list_models,
)
from skinscan.models._bundle_io import package_models_root, resolve_bundle


def test_entry_of_a_bundle_given_by_path(seg_bundle: Path) -> None:
    entry = get_entry(seg_bundle)
    assert isinstance(entry, ModelEntry)
    assert (entry.name, entry.version, entry.task, entry.arch) == (
        "tiny-seg",
        "0.0.1",
        "segmentation",
        "unet",
    )
    assert entry.preprocessing["texture"] is True
    assert entry.input["channels"] == 4
    assert entry.output["names"] == ["wrinkles", "spots"]
    assert entry.metrics["overall"] == {"dice": 0.5}
    assert entry.licence == "Apache-2.0"
    assert entry.path == seg_bundle.resolve()
    assert get_entry(str(seg_bundle)) == entry


def test_list_models_of_a_folder_and_lookup_by_name(
    seg_bundle: Path, sev_bundle: Path, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(seg_bundle, root / "tiny-seg")
    shutil.copytree(sev_bundle, root / "folder-name-differs")
    (root / "not-a-bundle").mkdir()
    entries = list_models(root)
    assert [e.name for e in entries] == ["tiny-seg", "tiny-sev"]
    assert [e.task for e in entries] == ["segmentation", "severity"]
    # a name resolves by folder or by metadata name
    assert resolve_bundle("tiny-seg", root=root) == (root / "tiny-seg").resolve()
    assert resolve_bundle("tiny-sev", root=root) == (root / "folder-name-differs").resolve()
    with pytest.raises(BundleError, match=r"known models: folder-name-differs, tiny-seg"):
        resolve_bundle("tiny-other", root=root)


def test_list_models_skips_a_broken_bundle_with_a_warning(seg_bundle: Path, tmp_path: Path) -> None:
    shutil.copytree(seg_bundle, tmp_path / "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.json").write_text("{")
    with pytest.warns(RuntimeWarning, match=r"bad.*metadata\.json: not valid JSON"):
        entries = list_models(tmp_path)
    assert [e.name for e in entries] == ["tiny-seg"]


def test_list_models_of_the_package() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entries = list_models()
    root = package_models_root()
    if root is None:
        assert entries == []
    for entry in entries:
        assert entry.path.parent == root.resolve()
    assert list_models(Path("/nonexistent/models")) == []


@pytest.mark.parametrize("task", ["segmentation", "severity"])
def test_default_bundle_path_is_none_or_a_bundle(task: str) -> None:
    path = default_bundle_path(task)
    if path is not None:
        assert (path / "metadata.json").is_file()
        assert get_entry(path).task == task


def test_default_bundle_path_refuses_unknown_task() -> None:
    with pytest.raises(ValueError, match="task must be one of segmentation, severity"):
        default_bundle_path("acne")


def test_get_model_by_path(sev_bundle: Path) -> None:
    model = get_model(sev_bundle)
    assert model.arch == "severity"
    assert not model.training
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 4)


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model bundle named or at 'resnet-9000'"):
        get_entry("resnet-9000")
    with pytest.raises(BundleError, match="no model bundle named or at"):
        get_model(tmp_path / "missing")
