"""Metrics against hand-computed values: overlap, errors, kappa, per-group splits, reductions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from skinscan.scoring import grade_of
from skinscan.training.metrics import (
    MetricTable,
    SegmentationAccumulator,
    SeverityAccumulator,
    confusion_matrix,
    dice_score,
    f1_score,
    grades_of,
    jaccard_score,
    quadratic_weighted_kappa,
    severity_mae,
)


def _masks(*planes: np.ndarray) -> np.ndarray:
    """One image, one plane per argument: (1, K, H, W)."""
    return np.stack(planes)[None]


def _half(shape: tuple[int, int] = (8, 8), columns: slice = slice(0, 4)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[:, columns] = True
    return mask


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
def test_perfect_prediction_scores_one(dtype: type) -> None:
    truth = _masks(_half()).astype(dtype)
    for score in (dice_score, jaccard_score, f1_score):
        np.testing.assert_allclose(score(truth, truth), [1.0])
        np.testing.assert_allclose(score(truth, truth, average="image"), [1.0])


def test_disjoint_prediction_scores_zero() -> None:
    truth = _masks(_half(columns=slice(0, 4)))
    pred = _masks(_half(columns=slice(4, 8)))
    for score in (dice_score, jaccard_score, f1_score):
        np.testing.assert_allclose(score(pred, truth), [0.0])


def test_known_overlap() -> None:
    # Truth: columns 0-3 (32 px); prediction: columns 2-5 (32 px); overlap: columns 2-3 (16 px).
    truth = _masks(_half(columns=slice(0, 4)))
    pred = _masks(_half(columns=slice(2, 6)))
    np.testing.assert_allclose(dice_score(pred, truth), [2 * 16 / (32 + 32)])
    np.testing.assert_allclose(jaccard_score(pred, truth), [16 / 48])
    np.testing.assert_allclose(f1_score(pred, truth), dice_score(pred, truth))


def test_micro_and_per_image_averages_differ_as_computed_by_hand() -> None:
    # Image 0: a 2-px truth found exactly. Image 1: a 32-px truth, prediction its 16-px half.
    small = np.zeros((8, 8), bool)
    small[0, :2] = True
    pred = np.stack([small[None], _half(columns=slice(0, 2))[None]])
    truth = np.stack([small[None], _half(columns=slice(0, 4))[None]])
    # Micro: tp = 2 + 16, fp = 0, fn = 16 → 36 / 52.
    np.testing.assert_allclose(dice_score(pred, truth), [36 / 52])
    # Per image: (1 + 32/48) / 2.
    np.testing.assert_allclose(dice_score(pred, truth, average="image"), [(1 + 32 / 48) / 2])
    np.testing.assert_allclose(jaccard_score(pred, truth, average="image"), [(1 + 0.5) / 2])


def test_unlabelled_planes_count_nowhere() -> None:
    truth = np.stack([_masks(_half())[0], _masks(_half())[0]])  # (2, 1, 8, 8)
    pred = truth.copy()
    pred[1] = ~pred[1]  # image 1 predicted completely wrong ...
    valid = np.array([[True], [False]])  # ... but its plane is unlabelled
    np.testing.assert_allclose(dice_score(pred, truth, valid), [1.0])
    np.testing.assert_allclose(dice_score(pred, truth, valid, average="image"), [1.0])
    assert np.isnan(dice_score(pred, truth, np.zeros((2, 1), bool))[0])


def test_empty_truth_and_prediction() -> None:
    empty = np.zeros((1, 1, 4, 4), bool)
    assert np.isnan(dice_score(empty, empty)[0])  # micro: no pixel anywhere
    np.testing.assert_allclose(dice_score(empty, empty, average="image"), [1.0])
    full = np.ones_like(empty)
    np.testing.assert_allclose(dice_score(full, empty, average="image"), [0.0])


def test_overlap_refuses_bad_shapes_and_averages() -> None:
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        dice_score(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="mask_valid"):
        dice_score(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 4)), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="micro"):
        jaccard_score(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), average="macro")


def test_severity_mae_on_valid_heads() -> None:
    pred = np.array([[10.0, 50.0], [30.0, 0.0], [0.0, 20.0]])
    truth = np.array([[20.0, 50.0], [30.0, 90.0], [10.0, 0.0]])
    valid = np.array([[True, True], [True, False], [False, True]])
    np.testing.assert_allclose(severity_mae(pred, truth, valid), [5.0, 10.0])
    assert np.isnan(severity_mae(pred, truth, np.zeros_like(valid))).all()


def test_grades_of_matches_scoring() -> None:
    values = np.linspace(0.0, 100.0, 1001)
    assert grades_of(values).tolist() == [grade_of(float(v)) for v in values]


def test_kappa_of_a_hand_computed_matrix() -> None:
    # O = [[1,1,0],[0,1,1],[0,0,2]]; w = (i-j)²/4; Σ w·O = 0.5. Marginals rows (2,2,2), columns
    # (1,2,3), N = 6, so E = r cᵀ / 6 and Σ w·E = 0.25·(4+2+6+4)/6 + (6+2)/6 = 2. κ = 1 − 0.5/2.
    a = [0, 0, 1, 1, 2, 2]
    b = [0, 1, 1, 2, 2, 2]
    assert confusion_matrix(a, b, n_grades=3).tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert quadratic_weighted_kappa(a, b, n_grades=3) == pytest.approx(0.75)


def _textbook_kappa(a: np.ndarray, b: np.ndarray, n: int) -> float:
    """Cohen's weighted kappa as (p_o − p_e) / (1 − p_e) with agreement weights, by loops."""
    total = len(a)
    agree = [[1.0 - (i - j) ** 2 / (n - 1) ** 2 for j in range(n)] for i in range(n)]
    p_o = sum(agree[x][y] for x, y in zip(a, b, strict=True)) / total
    row = [sum(1 for x in a if x == i) / total for i in range(n)]
    col = [sum(1 for y in b if y == j) / total for j in range(n)]
    p_e = sum(agree[i][j] * row[i] * col[j] for i in range(n) for j in range(n))
    return (p_o - p_e) / (1.0 - p_e)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kappa_equals_the_textbook_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, 200)
    b = np.clip(a + rng.integers(-1, 2, 200), 0, 4)
    assert quadratic_weighted_kappa(a, b) == pytest.approx(_textbook_kappa(a, b, 5), abs=1e-12)


def test_kappa_limits_and_unlabelled_grades() -> None:
    a = np.array([0, 1, 2, 3, 4])
    assert quadratic_weighted_kappa(a, a) == pytest.approx(1.0)
    assert quadratic_weighted_kappa(a, 4 - a) == pytest.approx(-1.0)
    # A constant grader agrees exactly as well as chance.
    assert quadratic_weighted_kappa(a, np.zeros(5, int)) == pytest.approx(0.0)
    # −1 (unlabelled) pairs are left out.
    assert quadratic_weighted_kappa([0, 1, -1], [0, 1, 4]) == pytest.approx(1.0)
    assert math.isnan(quadratic_weighted_kappa([2, 2], [2, 2]))


def _segmentation_batch() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(7)
    truth = rng.random((6, 2, 16, 16)) < 0.3
    prob = np.clip(truth + rng.normal(0, 0.45, truth.shape), 0, 1)
    valid = np.ones((6, 2), bool)
    valid[5, 1] = False
    tones = ["light", "light", "dark", "dark", "dark", "unknown"]
    return prob, truth, valid, tones


def test_per_group_metrics_equal_the_metrics_of_the_group_alone() -> None:
    prob, truth, valid, tones = _segmentation_batch()
    accumulator = SegmentationAccumulator(["wrinkles", "spots"])
    accumulator.update(prob, truth, valid, tones)
    table = accumulator.table()
    assert table.counts == {"all": 6, "light": 2, "dark": 3, "unknown": 1}
    pred = prob >= 0.5
    for group, rows in (("light", [0, 1]), ("dark", [2, 3, 4]), ("all", list(range(6)))):
        expected = dice_score(pred[rows], truth[rows], valid[rows])
        got = [table.metrics[group]["wrinkles/dice"], table.metrics[group]["spots/dice"]]
        np.testing.assert_allclose(got, expected)
        per_image = jaccard_score(pred[rows], truth[rows], valid[rows], average="image")
        np.testing.assert_allclose(table.metrics[group]["spots/iou_image"], per_image[1])
        np.testing.assert_allclose(table.metrics[group]["mean/dice"], expected.mean())
    # The unknown-tone sample's spots plane is unlabelled: that group has no spots metric.
    assert math.isnan(table.metrics["unknown"]["spots/dice"])


def test_batches_and_processes_add_up_to_the_whole() -> None:
    prob, truth, valid, tones = _segmentation_batch()
    whole = SegmentationAccumulator(["wrinkles", "spots"])
    whole.update(prob, truth, valid, tones)
    first, second = (SegmentationAccumulator(["wrinkles", "spots"]) for _ in range(2))
    first.update(prob[:4], truth[:4], valid[:4], tones[:4])
    second.update(prob[4:], truth[4:], valid[4:], tones[4:])
    # What an all-reduce (sum) of the two processes' vectors gives.
    first.load_vector(first.to_vector() + second.to_vector())
    summed, expected = first.table(), whole.table()
    assert summed.counts == expected.counts
    for group, metrics in expected.metrics.items():
        np.testing.assert_allclose(list(summed.metrics[group].values()), list(metrics.values()))
    with pytest.raises(ValueError, match="vector of"):
        first.load_vector(np.zeros(3))


def test_severity_accumulator_per_group() -> None:
    pred = np.array([[10.0, 90.0], [50.0, 50.0], [30.0, 0.0]])
    truth = np.array([[20.0, 85.0], [50.0, 10.0], [30.0, 70.0]])
    valid = np.array([[True, True], [True, True], [True, False]])
    accumulator = SeverityAccumulator(["redness", "wrinkles"])
    accumulator.update(pred, truth, valid, ["tan", "tan", "brown"])
    table = accumulator.table()
    assert table.overall["redness/mae"] == pytest.approx(10 / 3)
    assert table.overall["wrinkles/mae"] == pytest.approx((5 + 40) / 2)
    assert table.metrics["tan"]["redness/mae"] == pytest.approx(5.0)
    assert table.metrics["brown"]["redness/mae"] == pytest.approx(0.0)
    assert math.isnan(table.metrics["brown"]["wrinkles/mae"])
    assert table.primary == "mean/mae"
    assert table.score == pytest.approx(-table.overall["mean/mae"])
    # Explicit grades win over those of the severities.
    graded = SeverityAccumulator(["redness", "wrinkles"])
    graded.update(pred, truth, valid, ["tan", "tan", "brown"], grades=grades_of(pred))
    assert graded.table().overall["redness/qwk"] == pytest.approx(1.0)


def test_accumulators_refuse_bad_input() -> None:
    accumulator = SegmentationAccumulator(["wrinkles"])
    with pytest.raises(ValueError, match="unknown skin-tone group 'olive'"):
        accumulator.update(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), None, ["olive"])
    with pytest.raises(ValueError, match="expected 1 mask planes"):
        accumulator.update(np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 4, 4)), None, ["light"])
    with pytest.raises(ValueError, match="2 skin tones for 1 samples"):
        accumulator.update(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), None, ["a", "b"])
    with pytest.raises(ValueError, match="expected 2 heads"):
        SeverityAccumulator(["redness", "pigment"]).update(
            np.zeros((1, 3)), np.zeros((1, 3)), None, ["light"]
        )


def test_metric_table_round_trip_json_and_rich() -> None:
    prob, truth, valid, tones = _segmentation_batch()
    accumulator = SegmentationAccumulator(["wrinkles", "spots"])
    accumulator.update(prob, truth, valid, tones)
    table = accumulator.table()
    record = table.to_dict()
    text = json.dumps(record, allow_nan=False)  # NaN became None
    assert record["by_skin_tone"]["unknown"]["spots/dice"] is None
    assert record["overall"]["n"] == 6
    assert record["by_skin_tone"]["dark"]["n"] == 3
    again = MetricTable.from_dict(json.loads(text))
    assert again.counts == table.counts
    for group, metrics in table.metrics.items():
        np.testing.assert_allclose(list(again.metrics[group].values()), list(metrics.values()))
    rendered = table.to_rich()
    headers = [column.header for column in rendered.columns]
    assert headers == ["metric", "all", "light", "dark", "unknown"]
    assert rendered.row_count == 1 + len(table.overall)
