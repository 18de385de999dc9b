from __future__ import annotations

import json
from pathlib import Path

import pytest

from skinscan.errors import ProtocolError
from skinscan.standardise.protocol import (
    BUILTIN_PROTOCOLS,
    CHECK_DIRECTIONS,
    CaptureProtocol,
    load_protocol,
)


@pytest.mark.parametrize("name", BUILTIN_PROTOCOLS)
def test_builtin_protocols_load_and_only_name_known_checks(name: str) -> None:
    protocol = load_protocol(name)
    assert protocol.name == name
    assert set(protocol.limits) <= set(CHECK_DIRECTIONS)
    for limit in protocol.limits.values():
        assert limit.warn is not None or limit.reject is not None


def test_face_protocol_checks_pose_and_body_site_does_not() -> None:
    assert {"pose_yaw", "pose_pitch", "pose_roll", "face_too_small"} <= set(
        load_protocol("face-frontal").limits
    )
    assert not {"pose_yaw", "face_too_small"} & set(load_protocol("body-site").limits)


def test_user_protocol_file_round_trips(tmp_path: Path) -> None:
    data = json.loads(load_protocol("face-frontal").model_dump_json())
    data["name"] = "clinic-strict"
    data["limits"]["blur"] = {"warn": 500.0, "reject": 100.0}
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(data))
    protocol = load_protocol(path)
    assert protocol.name == "clinic-strict"
    assert protocol.limits["blur"].warn == 500.0


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        ({"sharpness": {"warn": 1.0}}, "unknown checks"),
        ({"blur": {"warn": 10.0, "reject": 20.0}}, "warn limit"),  # min-check: warn must be higher
        ({"glare": {"warn": 10.0, "reject": 5.0}}, "warn limit"),  # max-check: warn must be lower
    ],
)
def test_malformed_limits_are_refused(limits: dict, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "subject": "face", "limits": limits}))
    with pytest.raises(ProtocolError, match=fragment):
        load_protocol(path)


def test_unknown_name_and_broken_json_are_protocol_errors(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="unknown protocol"):
        load_protocol("no-such-protocol")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ProtocolError, match="malformed"):
        load_protocol(broken)


def test_protocol_is_immutable() -> None:
    protocol = load_protocol("body-site")
    with pytest.raises(Exception):  # noqa: B017, PT011 - pydantic's frozen error type is internal
        protocol.name = "other"  # type: ignore[misc]
    assert isinstance(protocol, CaptureProtocol)
