"""Repeatability: SEM, ICC(2,1), CV and MDC95 from repeat captures, the table file, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from skinscan.cli import app
from skinscan.longitudinal.repeat_studies import read_manifest, study_from_photos, synthetic_study
from skinscan.longitudinal.repeatability import (
    CONCERNS,
    SCHEMA,
    RepeatabilityTable,
    RepeatStat,
    default_table,
    mean_squares,
    sem_icc,
    study,
)
from skinscan.scoring import CALIBRATION_VERSION

MDC95_PER_SEM = 1.96 * math.sqrt(2.0)

#: Shrout & Fleiss (1979), Psychol Bull 86:420, Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS_TABLE_2 = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


# --- sem_icc ---------------------------------------------------------------------------------


def test_mean_squares_reproduce_shrout_fleiss_table_2() -> None:
    ms = mean_squares(SHROUT_FLEISS_TABLE_2)
    # Published: BMS 11.24, JMS 32.49, EMS 1.02, WMS 6.26.
    assert ms.msr == pytest.approx(11.24, abs=0.005)
    assert ms.msc == pytest.approx(32.49, abs=0.005)
    assert ms.mse == pytest.approx(1.02, abs=0.005)
    assert ms.msw == pytest.approx(6.26, abs=0.005)
    assert (ms.n_subjects, ms.k_captures) == (6, 4)


def test_icc_reproduces_shrout_fleiss_icc_2_1() -> None:
    found = sem_icc(SHROUT_FLEISS_TABLE_2)
    assert found.icc is not None
    assert round(found.icc, 2) == 0.29  # published ICC(2,1)
    assert found.sem == pytest.approx(math.sqrt(mean_squares(SHROUT_FLEISS_TABLE_2).msw))
    assert found.mean == pytest.approx(np.mean(SHROUT_FLEISS_TABLE_2))


def test_perfect_agreement_gives_zero_sem_and_icc_one() -> None:
    levels = np.array([3.0, 17.5, 42.0, 80.0])
    found = sem_icc(np.repeat(levels[:, None], 5, axis=1))
    assert found.sem == 0.0
    assert found.mdc95 == 0.0
    assert found.icc == pytest.approx(1.0)
    assert found.cv_pct == 0.0


def test_an_offset_of_one_capture_counts_as_error() -> None:
    # Same subjects, but the third capture reads 2 points high on everyone: the agreement SEM
    # and ICC(2,1) see it (a second visit's photo can be off in the same way).
    levels = np.array([10.0, 30.0, 50.0, 70.0])
    values = np.repeat(levels[:, None], 3, axis=1)
    values[:, 2] += 2.0
    found = sem_icc(values)
    # each row deviates by (−2/3, −2/3, +4/3): within variance 8/3 over 2 df
    assert found.sem == pytest.approx(math.sqrt(4 / 3))
    # MSR = 2000, MSC = 16/3, MSE = 0: ICC = 2000 / (2000 + 3 · (16/3) / 4)
    assert found.icc == pytest.approx(2000 / 2004)


@pytest.mark.parametrize("k", [2, 5])
def test_noise_of_known_sd_is_recovered(k: int) -> None:
    rng = np.random.default_rng(7)
    sigma, between = 2.5, 10.0
    truth = rng.normal(50.0, between, size=(4000, 1))
    found = sem_icc(truth + rng.normal(0.0, sigma, size=(4000, k)))
    assert found.sem == pytest.approx(sigma, rel=0.03)
    assert found.mdc95 == MDC95_PER_SEM * found.sem
    assert found.icc == pytest.approx(between**2 / (between**2 + sigma**2), abs=0.01)
    assert found.cv_pct == pytest.approx(100.0 * found.sem / abs(found.mean))


def test_unbalanced_sem_pools_within_subject_variance() -> None:
    nan = math.nan
    values = np.array(
        [
            [10.0, 12.0, 11.0, 13.0],
            [20.0, 19.0, nan, nan],
            [30.0, 33.0, 31.0, nan],
            [40.0, nan, nan, nan],  # one capture: left out
        ]
    )
    rows = [np.array([10.0, 12.0, 11.0, 13.0]), np.array([20.0, 19.0]), np.array([30, 33, 31.0])]
    pooled = sum(((r - r.mean()) ** 2).sum() for r in rows) / sum(r.size - 1 for r in rows)
    found = sem_icc(values)
    assert found.sem == pytest.approx(math.sqrt(pooled))
    # ICC(2,1) on the balanced subset: every kept subject's first two captures.
    balanced = sem_icc([[10.0, 12.0], [20.0, 19.0], [30.0, 33.0]])
    assert found.icc == pytest.approx(balanced.icc)
    assert found.mean == pytest.approx(np.mean(np.concatenate(rows)))


def test_icc_and_cv_are_none_where_undefined() -> None:
    one_subject = sem_icc([[5.0, 6.0, 7.0]])
    assert one_subject.icc is None
    assert one_subject.sem == pytest.approx(1.0)
    nothing = sem_icc(np.zeros((4, 3)))
    assert nothing.icc is None
    assert nothing.cv_pct is None
    assert nothing.sem == 0.0


@pytest.mark.parametrize(
    "values",
    [[1.0, 2.0, 3.0], [[1.0], [2.0]], [[1.0, math.nan], [2.0, math.nan]], np.zeros((2, 2, 2))],
)
def test_sem_icc_refuses_what_has_no_repeat(values: Any) -> None:
    with pytest.raises(ValueError, match=r"captures|matrix"):
        sem_icc(values)


def test_mean_squares_needs_a_complete_matrix() -> None:
    with pytest.raises(ValueError, match="missing"):
        mean_squares([[1.0, 2.0], [3.0, math.nan]])
    with pytest.raises(ValueError, match="at least 2"):
        mean_squares([[1.0, 2.0]])


# --- study ---------------------------------------------------------------------------------

NOISE = {"redness": 1.0, "pigment": 2.0, "texture": 0.5, "wrinkles": 3.0}


def _record(concerns: dict[str, float] | None, *, version: str = CALIBRATION_VERSION) -> dict:
    """A ``skinscan.assessment/1`` record of the real shape, with these severities."""

    def concern(severity: float) -> dict[str, Any]:
        return {
            "severity": severity,
            "grade": min(4, int(severity // 20)),
            "measures": {"level": severity / 10.0, "flat": 1.0},
            "regions": {
                "cheek_left": {"severity": severity + 5.0, "measures": {"level": severity / 5}},
                "chin": {"severity": severity - 5.0, "measures": {"level": None}},
            },
        }

    return {
        "schema": "skinscan.assessment/1",
        "photo": {"sha256": "0" * 64, "width": 100, "height": 100, "format": "JPEG"},
        "quality": {"ok": concerns is not None, "issues": []},
        "calibration": {"method": "chart", "delta_e00": 1.0},
        "face": {"found": False, "pose_deg": None, "mm_per_px": None},
        "concerns": None
        if concerns is None
        else {name: concern(value) for name, value in concerns.items()},
        "models": [{"name": "skinscan-classical", "version": version}],
        "timings_ms": {"load": 1.0, "standardise": 1.0, "measure": 1.0, "total": 3.0},
    }


def _noisy_records(subjects: int, captures: int, seed: int = 0) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    records = {}
    for i in range(subjects):
        truth = {name: rng.uniform(20.0, 80.0) for name in CONCERNS}
        records[f"s{i}"] = [
            _record({n: truth[n] + rng.normal(0.0, NOISE[n]) for n in CONCERNS})
            for _ in range(captures)
        ]
    return records


def test_study_recovers_the_within_subject_spread() -> None:
    records = _noisy_records(60, 4)
    table = study(records, source="test")
    for name, sigma in NOISE.items():
        severity = table.concerns[name].severity
        assert severity.sem == pytest.approx(sigma, rel=0.15), name
        assert severity.mdc95 == pytest.approx(MDC95_PER_SEM * severity.sem, rel=1e-5)
        assert (severity.n_subjects, severity.n_captures) == (60, 240)
        direct = sem_icc(
            [[r["concerns"][name]["severity"] for r in got] for got in records.values()]
        )
        assert severity.sem == pytest.approx(direct.sem, rel=1e-5)
        assert severity.icc == pytest.approx(direct.icc, rel=1e-5)
        # a measure scaled by 1/10 has a tenth of the SEM; a constant one has none
        assert table.concerns[name].measures["level"].sem == pytest.approx(severity.sem / 10)
        assert table.concerns[name].measures["flat"].sem == 0.0
        assert table.concerns[name].regions["cheek_left"].severity.sem == pytest.approx(
            severity.sem, rel=1e-5
        )
    assert table.calibration_version == CALIBRATION_VERSION
    assert table.skipped == {"unreadable_photos": 0, "rejected_captures": 0, "dropped_subjects": 0}


def test_study_skips_rejections_single_captures_and_missing_values() -> None:
    severities = {name: 40.0 for name in CONCERNS}
    records = {
        "a": [_record(severities), _record({n: 42.0 for n in CONCERNS}), _record(None)],
        "b": [_record({n: 60.0 for n in CONCERNS}), _record({n: 61.0 for n in CONCERNS})],
        "c": [_record(severities), _record(None)],  # one usable capture: dropped
    }
    table = study(records, source="test")
    assert table.skipped == {"unreadable_photos": 0, "rejected_captures": 2, "dropped_subjects": 1}
    redness = table.concerns["redness"]
    assert (redness.severity.n_subjects, redness.severity.n_captures) == (2, 4)
    assert redness.severity.sem == pytest.approx(math.sqrt((2.0 + 0.5) / 2), rel=1e-5)
    # a region measure that is never finite has no figure; its region severity still has one
    assert redness.regions["chin"].measures == {}
    assert redness.regions["chin"].severity is not None


def test_study_refuses_unusable_records() -> None:
    with pytest.raises(ValueError, match="two or more usable captures"):
        study({"a": [_record({n: 1.0 for n in CONCERNS}), _record(None)]}, source="test")
    with pytest.raises(ValueError, match="assessment/1"):
        study({"a": [{"schema": "something/1"}]}, source="test")
    mixed = {
        "a": [_record({n: 1.0 for n in CONCERNS}), _record({n: 2.0 for n in CONCERNS})],
        "b": [_record({n: 3.0 for n in CONCERNS}, version="0.0.1")] * 2,
    }
    with pytest.raises(ValueError, match="different calibrations"):
        study(mixed, source="test")


# --- the table -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table() -> RepeatabilityTable:
    return study(_noisy_records(5, 3, seed=2), source="test: 5 × 3", created="2024-01-02")


def test_table_round_trips_through_a_file(table: RepeatabilityTable, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    table.save(path)
    assert RepeatabilityTable.load(path) == table
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == SCHEMA
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]  # no temporary file left
    assert path.stat().st_mode & 0o644 == 0o644
    table.save(path)  # replacing an existing table
    assert RepeatabilityTable.load(path) == table


def _broken(d: dict, change: str) -> dict:
    d = json.loads(json.dumps(d))
    if change == "schema":
        d["schema"] = "skinscan.repeatability/0"
    elif change == "concern":
        del d["concerns"]["wrinkles"]
    elif change == "sem":
        del d["concerns"]["redness"]["severity"]["sem"]
    elif change == "negative":
        d["concerns"]["pigment"]["measures"]["level"]["mdc95"] = -1.0
    elif change == "text":
        d["concerns"]["texture"]["regions"]["chin"]["severity"]["mean"] = "12"
    elif change == "count":
        d["concerns"]["texture"]["severity"]["n_subjects"] = 1.5
    return d


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("schema", "schema"),
        ("concern", "wrinkles"),
        ("sem", "concerns.redness.severity: missing field 'sem'"),
        ("negative", "concerns.pigment.measures.level.mdc95"),
        ("text", "concerns.texture.regions.chin.severity.mean"),
        ("count", "n_subjects"),
    ],
)
def test_from_dict_says_what_is_wrong(table: RepeatabilityTable, change: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        RepeatabilityTable.from_dict(_broken(table.to_dict(), change))


def test_load_refuses_a_file_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json"):
        RepeatabilityTable.load(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="expected an object"):
        RepeatabilityTable.load(path)


def test_mdc95_lookups(table: RepeatabilityTable) -> None:
    redness = table.concerns["redness"]
    assert table.mdc95("redness") == redness.severity.mdc95
    assert table.mdc95("redness", measure="level") == redness.measures["level"].mdc95
    assert table.mdc95("redness", region="cheek_left") == (
        redness.regions["cheek_left"].severity.mdc95
    )
    assert table.mdc95("redness", region="cheek_left", measure="level") == (
        redness.regions["cheek_left"].measures["level"].mdc95
    )
    assert table.mdc95("acne") is None
    assert table.mdc95("redness", measure="no_such") is None
    assert table.mdc95("redness", region="forehead") is None
    assert table.mdc95("redness", region="chin", measure="level") is None  # never finite


def test_default_table_has_a_figure_for_every_severity() -> None:
    shipped = default_table()
    assert set(shipped.concerns) == set(CONCERNS)
    assert shipped.calibration_version == CALIBRATION_VERSION, (
        "the scoring calibration changed: regenerate skinscan/data/repeatability/default.json "
        "(docs/longitudinal/repeatability.md)"
    )
    assert "skinscan repeatability --synthetic" in shipped.source
    for name in CONCERNS:
        mdc = shipped.mdc95(name)
        assert mdc is not None
        assert math.isfinite(mdc)
        assert mdc > 0
        severity = shipped.concerns[name].severity
        assert mdc == pytest.approx(MDC95_PER_SEM * severity.sem, rel=1e-5)
        assert severity.n_subjects >= 6
        assert severity.n_captures >= 30
        assert severity.icc is not None
        assert len(shipped.concerns[name].regions) == 13
    assert default_table() is shipped  # read once


# --- real captures: the sample face re-photographed -----------------------------------------


def _scene(face: NDArray[np.uint8], **levels: int) -> NDArray[np.float32]:
    from skinscan.datasets.phantom import render_face
    from skinscan.standardise.face import analyse_face, facial_skin
    from skinscan.validation import repeatability_scene

    geometry = analyse_face(face)
    assert geometry is not None
    landmarks = geometry.detection.landmarks
    skin = facial_skin(face, landmarks)
    painted = render_face(
        face,
        to_canonical=geometry.to_canonical,
        skin=skin,
        mm_per_px=geometry.mm_per_px,
        seed=3,
        **levels,
    )
    return repeatability_scene(painted.srgb_u8())


@pytest.fixture(scope="module")
def repeats_folder(tmp_path_factory: pytest.TempPathFactory, astronaut: NDArray[np.uint8]) -> Path:
    """``repeats/<subject>/<n>.jpg``: 2 subjects × 3 simulated re-captures, 768 × 512 px."""
    from skinscan.datasets.recapture import apply_recapture, sample_recapture

    root = tmp_path_factory.mktemp("repeats")
    rng = np.random.default_rng(11)
    subjects = {"p01": _scene(astronaut), "p02": _scene(astronaut, redness=3, texture=2)}
    for subject, scene in subjects.items():
        (root / subject).mkdir()
        for n in range(1, 4):
            jpeg = apply_recapture(scene, sample_recapture(rng))
            (root / subject / f"{n}.jpg").write_bytes(jpeg)
    return root


@pytest.fixture(scope="module")
def photo_table(repeats_folder: Path) -> RepeatabilityTable:
    return study_from_photos([repeats_folder])


def test_real_recaptures_make_a_complete_table(photo_table: RepeatabilityTable) -> None:
    assert photo_table.calibration_version == CALIBRATION_VERSION
    assert photo_table.skipped["rejected_captures"] == 0
    for name in CONCERNS:
        concern = photo_table.concerns[name]
        assert (concern.severity.n_subjects, concern.severity.n_captures) == (2, 6)
        # texture reads 0 at this small size on every capture: SEM 0 is right for it
        assert 0.0 <= concern.severity.sem < 5.0, (name, concern.severity)
        assert concern.measures
        assert len(concern.regions) >= 10
    # the painted subject is redder: subjects differ more than captures do
    redness = photo_table.concerns["redness"].severity
    assert redness.sem > 0.0
    assert redness.icc is not None
    assert redness.icc > 0.8


def test_unreadable_photos_are_counted_not_fatal(repeats_folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "p01" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    photos = sorted(repeats_folder.glob("p01/*.jpg"))[:2]
    table = study_from_photos([*photos, broken], subject_of=lambda path: "p01")
    assert table.skipped == {"unreadable_photos": 1, "rejected_captures": 0, "dropped_subjects": 0}
    assert table.concerns["redness"].severity.n_captures == 2
    assert table.concerns["redness"].severity.icc is None  # one subject


def test_synthetic_study_on_a_small_face(astronaut: NDArray[np.uint8]) -> None:
    table = synthetic_study(subjects=2, repeats=2, seed=1, face=astronaut, command="test-cmd")
    assert "2 subjects × 2 re-captures" in table.source
    assert table.source.endswith("test-cmd")
    for name in CONCERNS:
        assert table.concerns[name].severity.n_captures == 4
        assert math.isfinite(table.concerns[name].severity.mdc95)


# --- the command ---------------------------------------------------------------------------

runner = CliRunner()


def test_cli_writes_a_loadable_table(repeats_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "tables" / "clinic.json"
    result = runner.invoke(
        app,
        [
            "repeatability",
            str(repeats_folder / "p01"),
            str(repeats_folder / "p02"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "MDC95" in result.stdout
    written = RepeatabilityTable.load(out)
    assert written.concerns["wrinkles"].severity.n_captures == 6
    assert "2 subjects" in written.source


def test_cli_json_with_a_manifest(repeats_folder: Path, tmp_path: Path) -> None:
    manifest = repeats_folder / "manifest.csv"
    rows = [
        f"{p.relative_to(repeats_folder)},{p.parent.name}"
        for p in sorted(repeats_folder.glob("*/*.jpg"))
    ]
    manifest.write_text("photo,subject\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert set(read_manifest(manifest).values()) == {"p01", "p02"}
    out = tmp_path / "t.json"
    result = runner.invoke(
        app, ["repeatability", "--manifest", str(manifest), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = RepeatabilityTable.from_dict(json.loads(result.stdout))
    assert printed == RepeatabilityTable.load(out)
    assert printed.concerns["pigment"].severity.n_subjects == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no photos"),
        (["--manifest", "{missing}"], "cannot read the manifest"),
        (["--manifest", "{bad_manifest}"], "columns"),
        (["{single}"], "two or more usable captures"),
        (["{junk}"], "two or more usable captures"),
        (["--synthetic", "{single}"], "--synthetic"),
        (["{single}", "--manifest", "{bad_manifest}"], "not both"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    args: list[str], message: str, repeats_folder: Path, tmp_path: Path
) -> None:
    bad_manifest = tmp_path / "bad.csv"
    bad_manifest.write_text("file,patient\na.jpg,p1\n", encoding="utf-8")
    single = tmp_path / "single"
    for subject in ("p01", "p02"):  # one capture each
        (single / subject).mkdir(parents=True)
        (single / subject / "1.jpg").write_bytes((repeats_folder / subject / "1.jpg").read_bytes())
    junk = tmp_path / "junk" / "p01"
    junk.mkdir(parents=True)
    for n in range(3):
        (junk / f"{n}.jpg").write_bytes(b"not a photo at all")
    paths = {
        "missing": tmp_path / "nope.csv",
        "bad_manifest": bad_manifest,
        "single": single,
        "junk": junk.parent,
    }
    filled = [arg.format(**paths) for arg in args]
    result = runner.invoke(app, ["repeatability", *filled, "--out", str(tmp_path / "t.json")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert not (tmp_path / "t.json").exists()


def _stat_with_levels(levels: list[tuple[float, float, int]]) -> RepeatStat:
    variances = [sd**2 * (n - 1) for _, sd, n in levels]
    pooled = math.sqrt(sum(variances) / sum(n - 1 for _, _, n in levels))
    return RepeatStat(
        mean=50.0,
        sem=pooled,
        icc=None,
        cv_pct=None,
        mdc95=MDC95_PER_SEM * pooled,
        n_subjects=len(levels),
        n_captures=sum(n for _, _, n in levels),
        levels=tuple(levels),
    )


def test_noise_that_varies_along_the_scale_widens_the_mdc_where_it_is_larger() -> None:
    # Quiet subjects at 70-80, one noisy at 20: the pooled SEM understates the noise near 20.
    stat = _stat_with_levels([(20.0, 3.0, 6), (70.0, 0.5, 6), (75.0, 0.5, 6), (80.0, 0.5, 6)])
    assert stat.sem_at(20.0) == pytest.approx(3.0, rel=0.02)
    assert stat.sem_at(75.0) == pytest.approx(stat.sem)  # never below the pooled SEM
    assert stat.mdc95_between(20.0, 20.0) == pytest.approx(1.96 * math.sqrt(2.0) * 3.0, rel=0.02)
    assert stat.mdc95_between(75.0, 75.0) == pytest.approx(stat.mdc95, rel=1e-9)
    assert stat.mdc95_between(20.0, 75.0) == pytest.approx(
        1.96 * math.hypot(stat.sem_at(20.0), stat.sem), rel=1e-9
    )
    # Without per-subject figures (regions, measures) the pooled figure is used.
    plain = RepeatStat(50.0, 1.0, None, None, MDC95_PER_SEM, 4, 24)
    assert plain.sem_at(20.0) == 1.0


def test_levels_round_trip_and_drive_the_severity_lookup(tmp_path: Path) -> None:
    table = default_table()
    severity = table.concerns["redness"].severity
    assert severity.levels is not None
    assert len(severity.levels) == severity.n_subjects
    path = tmp_path / "table.json"
    table.save(path)
    again = RepeatabilityTable.load(path)
    assert again.concerns["redness"].severity.levels == severity.levels
    low = min(level[0] for level in severity.levels)
    assert table.mdc95("redness", between=(low, low)) == pytest.approx(
        severity.mdc95_between(low, low)
    )
    assert table.mdc95("redness", between=(low, low)) >= table.mdc95("redness") - 1e-9  # type: ignore[operator]
    bad = table.to_dict()
    bad["concerns"]["redness"]["severity"]["levels"] = [[1.0, -2.0, 5]]
    with pytest.raises(ValueError, match="levels"):
        RepeatabilityTable.from_dict(bad)
