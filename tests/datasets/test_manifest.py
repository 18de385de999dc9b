"""The training manifest: CSV/JSONL round trips, relative paths, and every error with its line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from skinscan.datasets.manifest import (
    ManifestError,
    ManifestSample,
    read_manifest,
    write_manifest,
)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Three tiny images and two masks under ``tmp_path/data``."""
    folder = tmp_path / "data"
    (folder / "img").mkdir(parents=True)
    (folder / "masks").mkdir()
    out = {}
    for name in ("a", "b", "c"):
        out[name] = folder / "img" / f"{name}.png"
        cv2.imwrite(str(out[name]), np.full((16, 16, 3), 100, np.uint8))
    for name in ("a_wrinkles", "a_spots"):
        out[name] = folder / "masks" / f"{name}.png"
        cv2.imwrite(str(out[name]), np.zeros((16, 16), np.uint8))
    return out


def _samples(files: dict[str, Path]) -> list[ManifestSample]:
    return [
        ManifestSample(
            id="a",
            image=files["a"],
            split="train",
            skin_tone="tan",
            masks={"wrinkles": files["a_wrinkles"], "spots": files["a_spots"]},
            severity={"redness": 37.5, "wrinkles": 0.0},
            grade={"redness": 2, "wrinkles": 0},
            labels={"ita_deg": 21.5, "boxes": [[1.0, 2.0, 3.0, 4.0]]},
        ),
        ManifestSample(id="b", image=files["b"], split="val", grade={"acne": 3}),
        ManifestSample(id="c", image=files["c"], split="test", skin_tone="dark"),
    ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_round_trip_keeps_every_field(files: dict[str, Path], suffix: str) -> None:
    samples = _samples(files)
    path = write_manifest(samples, files["a"].parents[1] / f"manifest{suffix}")
    assert read_manifest(path) == samples
    # Paths under the manifest's folder are written relative to it.
    text = path.read_text()
    assert "img/a.png" in text
    assert str(files["a"].parent) not in text


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_paths_outside_the_folder_stay_absolute(
    files: dict[str, Path], tmp_path: Path, suffix: str
) -> None:
    elsewhere = tmp_path / "manifests" / f"m{suffix}"
    write_manifest(_samples(files), elsewhere)
    assert str(files["a"]) in elsewhere.read_text()
    assert read_manifest(elsewhere)[0].image == files["a"]


def test_csv_empty_cell_is_unlabelled_and_extra_columns_are_labels(files: dict[str, Path]) -> None:
    folder = files["a"].parents[1]
    path = folder / "m.csv"
    path.write_text(
        "image,split,mask_wrinkles,severity_redness,grade_redness,age\n"
        "img/a.png,train,masks/a_wrinkles.png,12.5,1,40\n"
        "img/b.png,val,,,,\n"
    )
    a, b = read_manifest(path)
    assert a.id == "img/a.png"
    assert a.skin_tone == "unknown"
    assert a.masks == {"wrinkles": files["a_wrinkles"]}
    assert a.severity == {"redness": 12.5}
    assert a.grade == {"redness": 1}
    assert a.labels == {"age": "40"}
    assert (b.masks, b.severity, b.grade, b.labels) == ({}, {}, {}, {})


def test_jsonl_null_is_unlabelled(files: dict[str, Path]) -> None:
    path = files["a"].parents[1] / "m.jsonl"
    path.write_text(
        json.dumps(
            {"image": "img/a.png", "split": "train", "severity_pigment": None, "grade_pigment": 2}
        )
        + "\n\n"
    )
    (sample,) = read_manifest(path)
    assert sample.severity == {}
    assert sample.grade == {"pigment": 2}


CSV_ERRORS = [
    ("image,skin_tone\nimg/a.png,tan\n", "line 1", "missing required column 'split'"),
    ("image,split\nimg/missing.png,train\n", "line 2", "image file not found"),
    ("image,split,mask_spots\nimg/a.png,train,masks/none.png\n", "line 2", "mask file not found"),
    ("image,split\nimg/a.png,train\nimg/b.png,holdout\n", "line 3", "unknown split 'holdout'"),
    ("image,split,mask_pores\nimg/a.png,train,\n", "line 1", "unknown mask name 'pores'"),
    ("image,split,skin_tone\nimg/a.png,train,olive\n", "line 2", "unknown skin tone 'olive'"),
    ("image,split,severity_redness\nimg/a.png,train,high\n", "line 2", "bad number"),
    ("image,split,severity_redness\nimg/a.png,train,140\n", "line 2", "not in 0-100"),
    ("image,split,grade_redness\nimg/a.png,train,1.5\n", "line 2", "not an integer"),
    ("image,split,grade_redness\nimg/a.png,train,-1\n", "line 2", "bad number"),
    ("id,image,split\nx,img/a.png,train\nx,img/b.png,val\n", "line 3", "duplicate id 'x'"),
]


@pytest.mark.parametrize(("text", "where", "what"), CSV_ERRORS)
def test_csv_errors_name_the_line(files: dict[str, Path], text: str, where: str, what: str) -> None:
    path = files["a"].parents[1] / "bad.csv"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(where)
    assert what in str(caught.value)


JSONL_ERRORS = [
    ({"image": "img/a.png"}, "missing required field 'split'"),
    ({"image": "img/nothing.png", "split": "train"}, "image file not found"),
    ({"image": "img/a.png", "split": "train", "mask_wrinkles": "masks/x.png"}, "mask file"),
    ({"image": "img/a.png", "split": "dev"}, "unknown split 'dev'"),
    ({"image": "img/a.png", "split": "train", "mask_hair": "masks/a_spots.png"}, "unknown mask"),
    ({"image": "img/a.png", "split": "train", "skin_tone": "fair"}, "unknown skin tone"),
    ({"image": "img/a.png", "split": "train", "severity_texture": "NaN"}, "bad number"),
    ({"image": "img/a.png", "split": "train", "grade_texture": True}, "bad number"),
    ({"image": "img/a.png", "split": "train", "labels": [1, 2]}, "labels must be a JSON object"),
]


@pytest.mark.parametrize(("record", "what"), JSONL_ERRORS)
def test_jsonl_errors_name_the_line(files: dict[str, Path], record: dict, what: str) -> None:
    path = files["a"].parents[1] / "bad.jsonl"
    first = {"id": "ok", "image": "img/b.png", "split": "train"}
    path.write_text(json.dumps(first) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith("line 2:")
    assert what in str(caught.value)


def test_jsonl_duplicate_id_and_bad_json(files: dict[str, Path]) -> None:
    path = files["a"].parents[1] / "bad.jsonl"
    line = json.dumps({"id": "same", "image": "img/a.png", "split": "train"})
    path.write_text(f"{line}\n{line}\n")
    with pytest.raises(ManifestError, match=r"line 2: duplicate id 'same' \(first on line 1\)"):
        read_manifest(path)
    path.write_text(line + "\n{not json\n")
    with pytest.raises(ManifestError, match="line 2: not valid JSON"):
        read_manifest(path)


def test_unknown_format_and_bad_samples_are_refused(files: dict[str, Path]) -> None:
    with pytest.raises(ManifestError, match=r"\.csv or \.jsonl"):
        read_manifest(files["a"])
    with pytest.raises(ManifestError, match=r"\.csv or \.jsonl"):
        write_manifest([], files["a"].parent / "m.txt")
    with pytest.raises(ManifestError, match="unknown split"):
        ManifestSample(id="x", image=files["a"], split="training")
    with pytest.raises(ManifestError, match="duplicate id"):
        write_manifest(_samples(files) * 2, files["a"].parent / "m.csv")


def test_check_files_false_reads_without_the_images(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("image,split\nnowhere.png,train\n")
    (sample,) = read_manifest(path, check_files=False)
    assert sample.image == tmp_path / "nowhere.png"
