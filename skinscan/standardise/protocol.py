"""Capture protocols: the named sets of quality thresholds a photo is judged against.

A protocol says what kind of photo is expected (a frontal face, or a body site without a face) and,
for each quality check, the limit past which the check warns and the limit past which it rejects.
Two protocols ship with the package (``face-frontal`` and ``body-site``); a clinic can write its
own as a JSON file with the same fields and pass its path wherever a protocol name is accepted.

Example
-------
>>> from skinscan.standardise.protocol import load_protocol
>>> p = load_protocol("face-frontal")
>>> p.limits["blur"].reject
12.0
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skinscan.errors import ProtocolError

__all__ = [
    "BUILTIN_PROTOCOLS",
    "CaptureProtocol",
    "Limit",
    "builtin_protocol_names",
    "load_protocol",
]

BUILTIN_PROTOCOLS = ("face-frontal", "body-site")

#: Every check the quality gate knows, and whether its value is bad when it is *below* the limit
#: ("min") or *above* it ("max").
CHECK_DIRECTIONS: dict[str, Literal["min", "max"]] = {
    "blur": "min",  # variance of the Laplacian inside skin, at a normalised scale
    "underexposed": "min",  # median L* of skin
    "overexposed": "max",  # median L* of skin
    "clipping": "max",  # % of skin pixels with a channel at 0 or 255
    "glare": "max",  # % of face-area pixels that are specular highlights
    "face_too_small": "min",  # inter-pupil distance in pixels of the original photo
    "pose_yaw": "max",  # |degrees|
    "pose_pitch": "max",
    "pose_roll": "max",
    "skin_area": "min",  # % of the frame (body-site) or face hull (face) that is skin
}


class Limit(BaseModel):
    """A warn limit and a reject limit for one check (either may be absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: float | None = None
    reject: float | None = None


class CaptureProtocol(BaseModel):
    """A named capture protocol.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``face-frontal``.
    subject : {"face", "body-site"}
        ``face``: a face must be found (else the photo is rejected with ``no_face``); regions are
        the 13 facial regions. ``body-site``: no face expected; one region, ``site``.
    analysis_max_side : int
        Long side, in pixels, of the analysis copy the standardisation works on.
    limits : dict of str to Limit
        Per check (see ``CHECK_DIRECTIONS``), the warn and reject limits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    version: str = "1"
    subject: Literal["face", "body-site"]
    analysis_max_side: int = Field(default=1600, ge=256, le=8192)
    limits: dict[str, Limit]

    @model_validator(mode="after")
    def _known_checks(self) -> CaptureProtocol:
        unknown = sorted(set(self.limits) - set(CHECK_DIRECTIONS))
        if unknown:
            raise ValueError(f"unknown checks {unknown}; known: {sorted(CHECK_DIRECTIONS)}")
        for check, limit in self.limits.items():
            if limit.warn is None or limit.reject is None:
                continue
            loose_first = (
                limit.warn >= limit.reject
                if CHECK_DIRECTIONS[check] == "min"
                else limit.warn <= limit.reject
            )
            if not loose_first:
                raise ValueError(f"{check}: the warn limit must be crossed before the reject limit")
        return self


def builtin_protocol_names() -> tuple[str, ...]:
    return BUILTIN_PROTOCOLS


def load_protocol(name_or_path: str | Path) -> CaptureProtocol:
    """Load a built-in protocol by name, or a protocol JSON file by path.

    Raises
    ------
    ProtocolError
        The name is unknown, the file is missing, or its contents do not validate.
    """
    text: str
    if str(name_or_path) in BUILTIN_PROTOCOLS:
        ref = resources.files("skinscan.standardise") / "protocols" / f"{name_or_path}.json"
        text = ref.read_text(encoding="utf-8")
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ProtocolError(
                f"unknown protocol {str(name_or_path)!r}: not one of {', '.join(BUILTIN_PROTOCOLS)}"
                " and not a file"
            )
        text = path.read_text(encoding="utf-8")
    try:
        return CaptureProtocol.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0:3]
        raise ProtocolError(
            f"protocol {str(name_or_path)!r} is malformed: {' '.join(first)}"
        ) from exc
