"""What runs inside the assessment worker processes.

Every function here is a top-level, picklable function of plain arguments that returns plain
data, so that the service can run it in a :class:`concurrent.futures.ProcessPoolExecutor`: a
decoder or model that crashes takes down one worker process, never the service.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

__all__ = [
    "DISPLAY_MAX_SIDE",
    "FAULT_EXIT_STATUS",
    "FAULT_HANG_S",
    "START_NOTICE",
    "assess_photo",
    "init_worker",
    "prepare_photo",
    "run_job",
]

#: Longest side of the display copy, in pixels.
DISPLAY_MAX_SIDE = 2048
#: Exit status of a worker stopped by the test-only fault injection.
FAULT_EXIT_STATUS = 70
#: How long a worker sleeps under the test-only hang injection: far beyond any time limit.
FAULT_HANG_S = 24 * 3600.0
#: A job's start notice: its number and the worker's process id. Twelve bytes (sixteen framed)
#: are written with one ``write`` to the pipe, which POSIX makes atomic (under ``PIPE_BUF``),
#: so the worker processes of a pool share the pipe without a lock that a killed one could hold.
START_NOTICE = struct.Struct("!qi")

_start_notices: Connection | None = None


def init_worker(warm_up: bool, start_notices: Connection | None = None) -> None:
    """Prepare a new worker process: ignore Ctrl-C (the service shuts workers down) and warm up.

    Parameters
    ----------
    warm_up : bool
        Assess the bundled sample face once, so that imports, the landmarker and the measure
        tables are loaded before the first real photo arrives.
    start_notices : Connection, optional
        Write end of the pipe on which :func:`run_job` tells the service that a job starts
        (its time limit counts from then, not from when it was queued).
    """
    global _start_notices
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_notices = start_notices
    if warm_up:
        from skinscan.pipeline import assess
        from skinscan.validation import sample_faces

        assess(sample_faces()["astronaut"])


def warm() -> int:
    """A no-op job: submitting one per worker makes the pool start its processes now."""
    return os.getpid()


def run_job(job: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Tell the service that job number ``job`` starts in this process, then run it.

    The notice carries this process's id, so that the service can stop this very process if
    the job passes its time limit.
    """
    if _start_notices is not None:
        _start_notices.send_bytes(START_NOTICE.pack(job, os.getpid()))
    return fn(*args, **kwargs)


def _limits(max_bytes: int, max_pixels: int) -> Any:
    from skinscan.io import LoadLimits

    return LoadLimits(max_pixels=max_pixels, max_bytes=max_bytes)


def _input_error(exc: Any) -> dict[str, Any]:
    return {"ok": False, "code": exc.code, "message": exc.message}


def prepare_photo(original: str, display: str, max_bytes: int, max_pixels: int) -> dict[str, Any]:
    """Read a stored upload and write its display copy (upright pixels, no metadata).

    Parameters
    ----------
    original : str
        Path of the stored upload.
    display : str
        Where the display copy (JPEG) goes; left alone if it exists.
    max_bytes, max_pixels : int
        Load limits (:class:`skinscan.io.LoadLimits`).

    Returns
    -------
    dict
        ``{"ok": True, "format", "width", "height", "size_bytes"}``, or
        ``{"ok": False, "code", "message"}`` with the :class:`PhotoInputError` code.
    """
    from skinscan.errors import PhotoInputError
    from skinscan.io import load_photo, write_atomic

    try:
        photo = load_photo(original, limits=_limits(max_bytes, max_pixels))
    except PhotoInputError as exc:
        return _input_error(exc)
    target = Path(display)
    if not target.exists():
        write_atomic(target, _display_jpeg(photo))
    meta = photo.meta
    return {
        "ok": True,
        "format": meta.format,
        "width": meta.width,
        "height": meta.height,
        "size_bytes": meta.file_size,
    }


def _display_jpeg(photo: Any) -> bytes:
    import cv2
    import numpy as np

    from skinscan.colour_space import linear_to_srgb
    from skinscan.io import encode_clean, photo_from_array

    pixels = photo.pixels
    if photo.transfer == "linear":
        pixels = np.round(linear_to_srgb(photo.to_float()) * 255).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    height, width = pixels.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return encode_clean(photo_from_array(np.ascontiguousarray(pixels)), format="JPEG", quality=90)


def assess_photo(
    original: str,
    maps_dir: str,
    max_bytes: int,
    max_pixels: int,
    *,
    fault_crash: bool = False,
    fault_hang: bool = False,
) -> dict[str, Any]:
    """Assess a stored upload and write its overlays.

    Parameters
    ----------
    original : str
        Path of the stored upload.
    maps_dir : str
        The visit's overlay folder; replaced as a whole once every overlay is written.
    max_bytes, max_pixels : int
        Load limits.
    fault_crash : bool
        Test-only fault injection: exit the process abruptly half-way (after the overlays are
        drawn, before they are published), the way a crashing native library would.
    fault_hang : bool
        Test-only fault injection: stop making progress at the same point, for
        :data:`FAULT_HANG_S` seconds, the way a native library stuck in a loop would.

    Returns
    -------
    dict
        ``{"ok": True, "record": skinscan.assessment/1, "maps": [names]}`` or
        ``{"ok": False, "code", "message"}`` for an unusable photo.
    """
    from skinscan.errors import PhotoInputError
    from skinscan.io import load_photo
    from skinscan.maps import write_maps
    from skinscan.pipeline import assess

    try:
        photo = load_photo(original, limits=_limits(max_bytes, max_pixels))
    except PhotoInputError as exc:
        return _input_error(exc)
    assessment = assess(photo)
    record = assessment.to_dict()
    target = Path(maps_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        names = sorted(path.stem for path in write_maps(assessment, partial))
        if fault_crash:
            os._exit(FAULT_EXIT_STATUS)
        if fault_hang:
            time.sleep(FAULT_HANG_S)
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return {"ok": True, "record": record, "maps": names}
