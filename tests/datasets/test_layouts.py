"""Public dataset layouts, on tiny fixtures built in their exact folder structure."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from skinscan.datasets._files import read_mask
from skinscan.datasets.layouts import acne04, ffhq_wrinkle, from_folder
from skinscan.datasets.manifest import read_manifest, write_manifest
from skinscan.datasets.torch_data import ManifestDataset


def _image(path: Path, value: int = 120, size: tuple[int, int] = (32, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def _mask(path: Path, rows: slice, value: int = 255, size: int = 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((size, size), np.uint8)
    mask[rows] = value
    assert cv2.imwrite(str(path), mask)
    return path


# --- FFHQ-Wrinkle (github.com/labhai/ffhq-wrinkle-dataset README) -------------------------


@pytest.fixture
def ffhq(tmp_path: Path) -> Path:
    root = tmp_path / "ffhq-wrinkle"
    for ffhq_id in ("00001", "00011", "01044", "02500"):
        _image(root / "images1024x1024" / f"{int(ffhq_id) // 1000 * 1000:05d}" / f"{ffhq_id}.png")
    for ffhq_id in ("00001", "00011", "01044"):
        _image(root / "masked_face_images" / f"{ffhq_id}.png", value=10)
    # Manual masks: 0/255; 00099 has no image on disk (a partial FFHQ download).
    for ffhq_id, rows in (("00001", slice(4, 6)), ("00011", slice(10, 11)), ("01044", slice(0, 1))):
        _mask(root / "manual_wrinkle_masks" / f"{ffhq_id}.png", rows)
    _mask(root / "manual_wrinkle_masks" / "00099.png", slice(0, 2))
    # Weak masks are grayscale texture maps: 200 marks texture, 90 is below half scale.
    for ffhq_id in ("00001", "00011", "01044", "02500"):
        bucket = f"{int(ffhq_id) // 1000 * 1000:05d}"
        path = _mask(root / "weak_wrinkle_masks" / bucket / f"{ffhq_id}.png", slice(20, 22), 200)
        texture = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        texture[0:2] = 90
        cv2.imwrite(str(path), texture)
    (root / "test_file_lists.txt").write_text("01044\n09999\n")
    return root


def test_ffhq_manual_masks_splits_and_images(ffhq: Path) -> None:
    with pytest.warns(UserWarning, match="1 of 4 manual masks have no image"):
        samples = ffhq_wrinkle(ffhq, val_fraction=0.0)
    assert [s.id for s in samples] == ["ffhq-00001", "ffhq-00011", "ffhq-01044"]
    assert [s.split for s in samples] == ["train", "train", "test"]
    assert samples[2].image == ffhq / "images1024x1024" / "01000" / "01044.png"
    assert samples[0].masks == {"wrinkles": ffhq / "manual_wrinkle_masks" / "00001.png"}
    assert samples[0].skin_tone == "unknown"
    assert samples[0].labels == {
        "dataset": "ffhq-wrinkle",
        "ffhq_id": "00001",
        "mask_source": "manual",
    }
    assert read_mask(samples[0].masks["wrinkles"]).sum() == 2 * 32


def test_ffhq_weak_masks_keep_test_ids_out_of_training(ffhq: Path) -> None:
    samples = ffhq_wrinkle(ffhq, masks="weak", val_fraction=1.0)
    by_id = {s.id: s for s in samples}
    assert set(by_id) == {"ffhq-00001", "ffhq-00011", "ffhq-01044", "ffhq-02500"}
    assert by_id["ffhq-01044"].split == "test"
    assert {s.split for i, s in by_id.items() if i != "ffhq-01044"} == {"val"}
    weak = read_mask(by_id["ffhq-02500"].masks["wrinkles"])
    # Texture 200 is on, texture 90 (below half scale) is off.
    assert weak[20:22].all()
    assert not weak[0:2].any()


def test_ffhq_masked_images_and_explicit_test_ids(ffhq: Path) -> None:
    with pytest.warns(UserWarning, match="have no image"):
        samples = ffhq_wrinkle(ffhq, images="masked", test_ids=["00011"], val_fraction=0.0)
    assert [s.split for s in samples] == ["train", "test", "train"]
    assert samples[0].image == ffhq / "masked_face_images" / "00001.png"
    with pytest.raises(ValueError, match="manual masks only"):
        ffhq_wrinkle(ffhq, masks="weak", images="masked")
    with pytest.raises(FileNotFoundError, match="no masks"):
        ffhq_wrinkle(ffhq / "images1024x1024")


def test_ffhq_split_is_stable_when_ids_are_added(ffhq: Path) -> None:
    with pytest.warns(UserWarning, match="have no image"):
        before = {s.id: s.split for s in ffhq_wrinkle(ffhq, val_fraction=0.5, seed=3)}
    _image(ffhq / "images1024x1024" / "00000" / "00099.png")
    after = {s.id: s.split for s in ffhq_wrinkle(ffhq, val_fraction=0.5, seed=3)}
    assert all(after[k] == v for k, v in before.items())
    assert "ffhq-00099" in after


# --- ACNE04 (github.com/xpwu95/LDL) --------------------------------------------------------

VOC = """<annotation><folder>VOC2007</folder><filename>levle2_5.jpg</filename>
<size><width>3821</width><height>2943</height><depth>3</depth></size>
<object><name>fore</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>30</xmax><ymax>44</ymax>
</bndbox></object>
<object><name>fore</name><bndbox><xmin>100</xmin><ymin>5</ymin><xmax>120</xmax><ymax>25</ymax>
</bndbox></object></annotation>"""


@pytest.fixture
def acne(tmp_path: Path) -> Path:
    root = tmp_path / "ACNE04"
    jpeg = root / "Classification" / "JPEGImages"
    for name in ("levle0_1.jpg", "levle2_5.jpg", "levle3_9.jpg", "levle1_2.jpg"):
        _image(jpeg / name)
    (root / "Classification" / "NNEW_trainval_0.txt").write_text(
        "levle0_1.jpg 0 3\nlevle2_5.jpg  2  30\nlevle1_2.jpg 1 12\n"
    )
    (root / "Classification" / "NNEW_test_0.txt").write_text("levle3_9.jpg 3 70\n")
    annotations = root / "Detection" / "VOC2007" / "Annotations"
    annotations.mkdir(parents=True)
    (annotations / "levle2_5.xml").write_text(VOC)
    return root


def test_acne04_grades_counts_boxes_and_splits(acne: Path) -> None:
    samples = {s.id: s for s in acne04(acne, val_fraction=0.0)}
    assert set(samples) == {
        "acne04-levle0_1",
        "acne04-levle2_5",
        "acne04-levle1_2",
        "acne04-levle3_9",
    }
    assert {k: s.grade["acne"] for k, s in samples.items()} == {
        "acne04-levle0_1": 0,
        "acne04-levle2_5": 2,
        "acne04-levle1_2": 1,
        "acne04-levle3_9": 3,
    }
    assert samples["acne04-levle3_9"].split == "test"
    assert samples["acne04-levle0_1"].split == "train"
    severe = samples["acne04-levle2_5"]
    assert severe.labels["lesion_count"] == 30
    assert severe.labels["boxes"] == [[10.0, 20.0, 30.0, 44.0], [100.0, 5.0, 120.0, 25.0]]
    assert severe.labels["box_labels"] == ["fore", "fore"]
    assert severe.labels["box_image_size"] == [3821, 2943]
    assert "boxes" not in samples["acne04-levle0_1"].labels
    assert severe.masks == {}
    assert severe.image == acne / "Classification" / "JPEGImages" / "levle2_5.jpg"


def test_acne04_bad_layouts_are_refused(acne: Path) -> None:
    with pytest.raises(FileNotFoundError, match="NNEW_trainval_3"):
        acne04(acne, fold=3)
    (acne / "Classification" / "NNEW_test_0.txt").write_text("levle3_9.jpg 5 70\n")
    with pytest.raises(ValueError, match="line 1: grade 5 not in 0-3"):
        acne04(acne)
    (acne / "Classification" / "NNEW_test_0.txt").write_text("levle3_9.jpg three\n")
    with pytest.raises(ValueError, match="expected 'image grade count'"):
        acne04(acne)
    (acne / "Classification" / "NNEW_test_0.txt").write_text("levle4_1.jpg 3 70\n")
    with pytest.raises(FileNotFoundError, match=r"levle4_1\.jpg"):
        acne04(acne)


def test_acne04_grades_reach_the_torch_sample(acne: Path, tmp_path: Path) -> None:
    path = write_manifest(acne04(acne), tmp_path / "acne.jsonl")
    dataset = ManifestDataset(read_manifest(path), size=16, heads=("acne", "redness"))
    grades = {dataset[i]["id"]: dataset[i]["grade"].tolist() for i in range(len(dataset))}
    assert grades["acne04-levle2_5"] == [2, -1]
    sample = dataset[0]
    assert not sample["mask_valid"].any()
    assert torch.equal(sample["severity_valid"], torch.tensor([False, False]))


# --- plain folders -----------------------------------------------------------------------


def test_from_folder_with_mask_subfolders(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for name in ("p1.jpg", "p2.png", "p3.JPEG"):
        _image(photos / name)
    (photos / "notes.txt").write_text("not a photo")
    _mask(tmp_path / "masks" / "wrinkles" / "p1.png", slice(3, 5))
    _mask(tmp_path / "masks" / "spots" / "p2.png", slice(3, 5))
    samples = from_folder(photos, tmp_path / "masks", val_fraction=0.0)
    assert [s.id for s in samples] == ["p1.jpg", "p2.png", "p3.JPEG"]
    assert set(samples[0].masks) == {"wrinkles"}
    assert set(samples[1].masks) == {"spots"}
    assert samples[2].masks == {}
    mapped = from_folder(photos, {"spots": tmp_path / "masks" / "spots"})
    assert [set(s.masks) for s in mapped] == [set(), {"spots"}, set()]
    with pytest.raises(ValueError, match="unknown mask name"):
        from_folder(photos, {"pores": tmp_path / "masks" / "spots"})
    with pytest.raises(FileNotFoundError, match="none of the mask folders"):
        from_folder(photos, photos)
    with pytest.raises(FileNotFoundError, match="no images"):
        from_folder(tmp_path / "masks")
