"""The repeatability studies: a clinic's same-day repeat photos, and the shipped synthetic one.

Both assess every capture and hand the records, grouped by subject, to
:func:`skinscan.longitudinal.repeatability.study`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from skinscan.longitudinal import _repeat_stats as rs
from skinscan.longitudinal.repeatability import CONCERNS, RepeatabilityTable, _build, study

__all__ = ["read_manifest", "study_from_photos", "synthetic_study"]

_PathLike = str | os.PathLike[str]


def synthetic_study(
    *,
    subjects: int = 8,
    repeats: int = 6,
    seed: int = 0,
    progress: bool = False,
    face: NDArray[np.uint8] | None = None,
    command: str | None = None,
) -> RepeatabilityTable:
    """The shipped study: a real face with painted concerns, re-photographed under perturbations.

    Parameters
    ----------
    subjects : int
        Simulated subjects: the face painted (:func:`skinscan.datasets.phantom.render_face`)
        with a different combination of ladder levels 0–3 of the four concerns each, so that the
        subjects differ as patients do (ICC needs variance between subjects); the first is the
        face unpainted.
    repeats : int
        Re-captures per subject: the face beside a ColorChecker
        (:func:`skinscan.validation.repeatability_scene`) photographed again with
        :mod:`skinscan.datasets.recapture` (exposure ±8 %, white balance ±6 %, shift ≤ 2 %,
        rotation ±2°, JPEG quality 88–95, fresh sensor noise) and assessed with
        :func:`skinscan.assess`.
    seed : int
        Seeds the level design, the painting and the re-captures.
    progress : bool
        Show a progress bar on stderr.
    face : ndarray of shape (H, W, 3), uint8, optional
        The face photo to paint; default ``skinscan.validation.sample_faces()["astronaut"]``.
    command : str, optional
        The command line that ran the study, recorded in the table's ``source``.

    Returns
    -------
    RepeatabilityTable

    Notes
    -----
    Simulated re-captures leave out what a real second photo also brings: repositioning of the
    head, a changed expression, and different lighting geometry (shadows, specular highlights).
    Figures from it are a lower bound on a clinic's; see ``docs/longitudinal/repeatability.md``.
    """
    from skinscan.datasets.phantom import render_face
    from skinscan.datasets.recapture import apply_recapture, sample_recapture
    from skinscan.pipeline import assess
    from skinscan.standardise.face import analyse_face, facial_skin
    from skinscan.validation import repeatability_scene, sample_faces

    if subjects < 1 or repeats < 2:
        raise ValueError(f"need ≥ 1 subject and ≥ 2 repeats, got {subjects} and {repeats}")
    photo = sample_faces()["astronaut"] if face is None else np.asarray(face)
    geometry = analyse_face(photo)
    if geometry is None:
        raise ValueError("no face found in the photo to paint on")
    landmarks = geometry.detection.landmarks
    skin = facial_skin(photo, landmarks)
    rng = np.random.default_rng(seed)
    # The first subject is the face as photographed: untreated skin is the commonest baseline,
    # and re-capture noise is not the same at every level (a threshold near the skin's own
    # colour is most sensitive there).
    design = [dict.fromkeys(CONCERNS, 0), *rs.level_design(subjects - 1, CONCERNS, rng)]
    records: dict[str, list[dict[str, Any]]] = {}
    with rs.progress_bar(progress, subjects * repeats, "synthetic re-captures") as advance:
        for i, levels in enumerate(design):
            painted = render_face(
                photo,
                to_canonical=geometry.to_canonical,
                skin=skin,
                mm_per_px=geometry.mm_per_px,
                seed=int(rng.integers(2**31)),
                **levels,
            )
            scene = repeatability_scene(painted.srgb_u8())
            captures = records.setdefault(f"subject-{i + 1}", [])
            for _ in range(repeats):
                captures.append(assess(apply_recapture(scene, sample_recapture(rng))).to_dict())
                advance()
    what = (
        "the scikit-image astronaut face (skinscan.validation.sample_faces)"
        if face is None
        else f"a {photo.shape[1]}×{photo.shape[0]} face photo"
    )
    source = (
        f"synthetic: {subjects} subjects × {repeats} re-captures. Subjects: {what} painted with "
        "phantom concern levels 0–3 (a different combination per subject), beside a "
        "ColorChecker; re-captures: skinscan.datasets.recapture defaults (exposure ±8 %, white "
        "balance ±6 %, shift ≤ 2 %, rotation ±2°, JPEG 88–95, sensor noise σ 1–2 of 255); "
        f"seed {seed}. No repositioning, expression or lighting-geometry changes. Made with: "
        + (command or f"synthetic_study(subjects={subjects}, repeats={repeats}, seed={seed})")
    )
    return study(records, source=source)


def read_manifest(path: _PathLike) -> dict[Path, str]:
    """Photo → subject from a CSV manifest with the columns ``photo`` and ``subject``.

    Photo paths are relative to the manifest's folder (or absolute). ValueError on a missing
    column, an empty cell, or a photo listed twice.
    """
    return rs.parse_manifest(Path(path))


def study_from_photos(
    photos: Sequence[_PathLike],
    *,
    subject_of: Callable[[Path], str] | Mapping[Path, str] | Mapping[str, str] | None = None,
    progress: bool = False,
    protocol: str | None = None,
    source: str | None = None,
) -> RepeatabilityTable:
    """Repeatability from a clinic's same-day repeat photos.

    Parameters
    ----------
    photos : sequence of path
        Photo files; a folder stands for every photo under it.
    subject_of : callable or mapping, optional
        Which subject a photo shows: ``Path -> str``, or a mapping from photo path to subject
        (e.g. :func:`read_manifest`). Default: the photo's parent folder name, for the layout
        ``repeats/<patient>/<n>.jpg``.
    progress : bool
        Show a progress bar on stderr.
    protocol : str, optional
        Capture protocol for :func:`skinscan.assess`; default by whether a face is found.
    source : str, optional
        Description for the table; default the number of subjects and photos.

    Returns
    -------
    RepeatabilityTable
        ``skipped`` counts unreadable photos, captures the quality gate rejected and subjects
        left with fewer than two captures; none of these is fatal.

    Raises
    ------
    ValueError
        No photos, a photo missing from ``subject_of``, or no subject with two usable captures.
    """
    from skinscan.errors import PhotoInputError
    from skinscan.pipeline import assess

    files = rs.photo_files(photos)
    if not files:
        raise ValueError("no photos given")
    if subject_of is None:
        subjects = {path: path.resolve().parent.name for path in files}
    elif isinstance(subject_of, Mapping):
        lookup = {Path(key).resolve(): str(value) for key, value in subject_of.items()}
        missing = [path.name for path in files if path.resolve() not in lookup]
        if missing:
            raise ValueError(f"no subject given for {len(missing)} photo(s), e.g. {missing[0]}")
        subjects = {path: lookup[path.resolve()] for path in files}
    else:
        subjects = {path: str(subject_of(path)) for path in files}
    records: dict[str, list[dict[str, Any]]] = {}
    unreadable = 0
    with rs.progress_bar(progress, len(files), "assessing repeats") as advance:
        for path in files:
            subject = subjects[path]
            records.setdefault(subject, [])
            try:
                records[subject].append(assess(path, protocol=protocol).to_dict())
            except PhotoInputError:
                unreadable += 1
            advance()
    description = source or (
        f"clinic photos: {len(records)} subjects, {len(files)} same-day repeat photos"
    )
    return _build(records, source=description, created=None, unreadable=unreadable)
