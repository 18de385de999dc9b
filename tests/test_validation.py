"""The issue's acceptance figures for severity: ladders, cross-talk, fairness, repeatability.

Each test runs the study that ``skinscan validate`` publishes in docs/validation.md.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from skinscan.measures import CONCERNS
from skinscan.validation import (
    CAPTURE_TONES,
    MAX_PLAIN_SEVERITY,
    TONE_GROUPS,
    RepeatabilityResult,
    face_ladder,
    ladder,
    plain_skin,
    repeatability,
    repeatability_scene,
    sample_faces,
)

MIN_SPEARMAN = 0.95
MIN_RISE = 10.0
MAX_CROSS_TALK = 0.3


def _short(reason: str) -> pytest.MarkDecorator:
    # A known shortfall against the figure, documented in docs/validation.md: the test
    # runs, and fails loudly (strict) the day it starts passing so the mark can go.
    return pytest.mark.xfail(strict=True, reason=reason)


@pytest.mark.parametrize("group", list(TONE_GROUPS))
@pytest.mark.parametrize("concern", CONCERNS)
def test_phantom_ladder(concern: str, group: str) -> None:
    result = ladder(concern, TONE_GROUPS[group], seed=3)
    assert result.spearman >= MIN_SPEARMAN, result.severity[concern]
    assert result.rise >= MIN_RISE, result.severity[concern]
    assert result.cross_talk <= MAX_CROSS_TALK, result.severity


#: Known shortfalls of the ladders as a camera writes them (docs/validation.md): on very dark
#: skin the JPEG's chroma errors and the sensor noise read as blood, so plain skin reads as red
#: and redness moves with every other concern; on dark skin, spots raise redness and texture.
CAPTURE_SHORTFALLS = {
    ("redness", "very dark"): "plain skin reads redness 37, rise 24, rho 0.90",
    ("pigment", "dark"): "spots move redness +19 and texture +11 (cross-talk 0.35)",
    ("pigment", "very dark"): "plain skin reads redness 37; spots move it +39 (cross-talk 0.59)",
    ("texture", "very dark"): "plain skin reads redness 37; relief moves it +23 (cross-talk 0.41)",
    ("wrinkles", "very dark"): "plain skin reads redness 37",
}


@pytest.mark.parametrize(
    ("concern", "group"),
    [
        pytest.param(c, g, marks=_short(CAPTURE_SHORTFALLS[c, g]))
        if (c, g) in CAPTURE_SHORTFALLS
        else (c, g)
        for c in CONCERNS
        for g in CAPTURE_TONES
    ],
)
def test_captured_phantom_ladder(concern: str, group: str) -> None:
    """The ladder criteria hold for the phantom as a camera writes it (8-bit, noise, JPEG), and
    plain skin, which reads 0 rendered, reads at most MAX_PLAIN_SEVERITY as captured."""
    result = ladder(concern, CAPTURE_TONES[group], seed=3, captured=True)
    assert result.spearman >= MIN_SPEARMAN, result.severity[concern]
    assert result.rise >= MIN_RISE, result.severity[concern]
    assert result.cross_talk <= MAX_CROSS_TALK, result.severity
    assert plain_skin(result)[1] <= MAX_PLAIN_SEVERITY, result.severity


def test_the_capture_study_reads_what_a_camera_wrote() -> None:
    """The captured ladder differs from the rendered one by the encoding alone: same levels,
    same truth, and a JPEG's errors (not another phantom)."""
    rendered = ladder("redness", "light", seed=3)
    captured = ladder("redness", "light", seed=3, captured=True)
    before = np.asarray(rendered.severity["redness"])
    after = np.asarray(captured.severity["redness"])
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, before, atol=10.0)


@pytest.mark.parametrize("concern", CONCERNS)
def test_same_change_moves_severity_alike_on_every_tone(concern: str) -> None:
    rises = [ladder(concern, tone, seed=4).rise for tone in TONE_GROUPS.values()]
    assert max(rises) - min(rises) <= 0.35 * max(rises), rises


@pytest.fixture(scope="module")
def face() -> NDArray[np.uint8]:
    return sample_faces()["astronaut"]


FACE_LADDER_SHORTFALLS = {
    "pigment": "painted spots break wrinkle ridges and their mottling reads as texture: "
    "wrinkles -5.0, texture +6.8 for a pigment rise of 13.3 (cross-talk 0.51); levels 1-2 "
    "read no higher than level 0 (45.6, 45.5, 45.0, 50.6, 58.9)",
}


@pytest.mark.parametrize(
    "concern",
    [
        pytest.param(c, marks=_short(FACE_LADDER_SHORTFALLS[c]))
        if c in FACE_LADDER_SHORTFALLS
        else c
        for c in CONCERNS
    ],
)
def test_real_face_ladder(concern: str, face: NDArray[np.uint8]) -> None:
    result = face_ladder(concern, face, seed=5)
    assert result.spearman >= MIN_SPEARMAN, result.severity[concern]
    assert result.rise >= MIN_RISE, result.severity[concern]
    assert result.cross_talk <= MAX_CROSS_TALK, result.severity


@pytest.fixture(scope="module")
def recaptures(face: NDArray[np.uint8]) -> RepeatabilityResult:
    return repeatability(repeatability_scene(face), n=8, seed=1)


def test_every_recapture_of_a_good_photo_passes_the_quality_gate(
    recaptures: RepeatabilityResult,
) -> None:
    assert recaptures.rejected == 0
    assert recaptures.n == 8


@pytest.mark.parametrize("concern", CONCERNS)
def test_repeat_captures_with_a_chart_agree_within_two_points(
    concern: str, recaptures: RepeatabilityResult
) -> None:
    assert recaptures.severity_sd[concern] <= 2.0, recaptures.severity_sd
