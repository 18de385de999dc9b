"""A phantom training set rendered to disk, so that GPU training reads files instead of rendering.

Rendering a 256² phantom patch takes ~70 ms of CPU; a GPU step on a batch takes far less. Writing
the set once (in a process pool) and training from its manifest keeps the GPU busy. The set
mixes flat phantom patches (every tone, exact masks, synthetic severity targets) with concerns
painted on the real face photos installed packages ship (real skin, exact masks of what was
painted). Card: ``datasets/phantom-training/DATASET_CARD.md``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from skinscan.datasets._files import hash_split, hash_unit, write_mask_png, write_rgb_png
from skinscan.datasets._phantom_samples import (
    MASK_BLOCK,
    FaceSource,
    RenderedSample,
    face_sample,
    patch_sample,
    shipped_faces,
)
from skinscan.datasets.manifest import ManifestSample, write_manifest
from skinscan.io import write_atomic
from skinscan.models.contract import MASK_NAMES

__all__ = ["FACE_FRACTION", "write_phantom_training_set"]

#: Share of samples painted on real faces when ``faces=True``.
FACE_FRACTION = 0.25
_CHUNK = MASK_BLOCK  # one wrinkle mask per chunk: see MASK_BLOCK
# Face photos of this worker process, set once by the pool's initializer (each worker holds its
# own copy; nothing is shared between processes).
_WORKER_FACES: list[FaceSource] = []


def _init_worker(faces: list[FaceSource]) -> None:
    import cv2

    # One thread per worker: the pool already keeps every core busy, and OpenCV's own threads
    # would only compete with the other workers.
    cv2.setNumThreads(1)
    _WORKER_FACES[:] = faces


def _is_face(index: int, seed: int, face_fraction: float, n_faces: int) -> bool:
    return n_faces > 0 and hash_unit(f"kind:{index}", seed) < face_fraction


def _render(
    index: int, *, size: int, seed: int, face_fraction: float, faces: Sequence[FaceSource]
) -> RenderedSample:
    if _is_face(index, seed, face_fraction, len(faces)):
        face = faces[int(hash_unit(f"face:{index}", seed) * len(faces))]
        return face_sample(index, face, size=size, seed=seed)
    return patch_sample(index, size=size, seed=seed)


def _write(
    out: Path, index: int, rendered: RenderedSample, *, seed: int, split: str
) -> ManifestSample:
    sample_id = f"phantom-s{seed}-{index:06d}"
    image = write_rgb_png(out / "images" / f"{sample_id}.png", rendered.rgb_u8)
    masks = {
        name: write_mask_png(out / "masks" / name / f"{sample_id}.png", rendered.masks[name])
        for name in MASK_NAMES
    }
    patch = rendered.labels.get("kind") == "phantom-patch"
    return ManifestSample(
        id=sample_id,
        image=image,
        split=split,
        skin_tone=rendered.skin_tone,
        masks=masks,
        # Synthetic targets (ladder position) on patches only: a painted face also carries the
        # person's own redness, pigment, texture and lines, which no level describes.
        severity={c: 25.0 * v for c, v in rendered.levels.items()} if patch else {},
        grade=dict(rendered.levels) if patch else {},
        labels={**rendered.labels, "index": index},
    )


def _render_chunk(
    out: Path,
    indices: Sequence[int],
    *,
    size: int,
    seed: int,
    val_fraction: float,
    face_fraction: float,
    faces: Sequence[FaceSource] | None = None,
) -> list[ManifestSample]:
    sources = _WORKER_FACES if faces is None else faces
    written = []
    for index in indices:
        rendered = _render(index, size=size, seed=seed, face_fraction=face_fraction, faces=sources)
        split = hash_split(str(index), seed=seed, val_fraction=val_fraction)
        written.append(_write(out, index, rendered, seed=seed, split=split))
    return written


def write_phantom_training_set(
    out_dir: str | os.PathLike[str],
    *,
    n: int,
    size: int = 256,
    seed: int = 0,
    val_fraction: float = 0.1,
    faces: bool = True,
    workers: int | None = None,
    face_fraction: float = FACE_FRACTION,
    progress: bool = True,
) -> Path:
    """Render ``n`` phantom samples to ``out_dir`` and return its ``manifest.jsonl``.

    Parameters
    ----------
    out_dir : path
        Receives ``images/<id>.png``, ``masks/wrinkles/<id>.png``, ``masks/spots/<id>.png``,
        ``manifest.jsonl`` and ``generator.json`` (parameters, counts, rendering speed).
    n : int
        Number of samples.
    size : int
        Side of the square images, px.
    seed : int
        Sample ``i`` is fixed by ``(seed, i)``, whatever ``workers`` is.
    val_fraction : float
        Share of samples put in ``val`` by a seeded hash of the index; the rest is ``train``.
    faces : bool
        Paint a share ``face_fraction`` of the samples on the real face photos of
        :func:`skinscan.validation.sample_faces` (cropped around the face at random) instead of
        rendering flat patches.
    workers : int, optional
        Rendering processes; default: the CPU count. 1 renders in this process.
    face_fraction : float
    progress : bool
        Show a Rich progress bar.

    Returns
    -------
    Path
        The manifest. Patches carry the synthetic targets ``severity = 25 × level`` and
        ``grade = level`` for all four concerns; face samples carry masks only (their
        ``labels.painted_levels`` say what was added). Every sample has both masks, labelled.

    Notes
    -----
    Image and mask files are written plainly (no fsync per file); the manifest, written
    atomically at the end, is what makes the set: a run that stops leaves no manifest naming
    half-written files.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    if size < 32:
        raise ValueError(f"size must be at least 32 px, not {size}")
    if not 0.0 <= face_fraction <= 1.0:
        raise ValueError(f"face_fraction must lie in [0, 1], not {face_fraction}")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sources = shipped_faces() if faces and face_fraction > 0 else []
    count = max(1, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    chunks = [list(range(i, min(i + _CHUNK, n))) for i in range(0, n, _CHUNK)]
    options: dict[str, Any] = {
        "size": size,
        "seed": seed,
        "val_fraction": val_fraction,
        "face_fraction": face_fraction,
    }
    from rich.progress import Progress

    samples: list[ManifestSample] = []
    started = time.perf_counter()
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"phantom set ({count} workers)", total=n)
        if count == 1:
            for chunk in chunks:
                samples += _render_chunk(out, chunk, faces=sources, **options)
                bar.advance(task, len(chunk))
        else:
            # Spawned workers: a fork would copy this process's threads' locks (Rich's refresh
            # thread, OpenCV's and torch's pools) in whatever state they are in.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                max_workers=count, mp_context=context, initializer=_init_worker, initargs=(sources,)
            ) as pool:
                futures = [pool.submit(_render_chunk, out, chunk, **options) for chunk in chunks]
                for future in as_completed(futures):
                    done = future.result()
                    samples += done
                    bar.advance(task, len(done))
    seconds = time.perf_counter() - started
    samples.sort(key=lambda s: int(s.labels["index"]))
    manifest = write_manifest(samples, out / "manifest.jsonl")
    kinds = [str(s.labels.get("kind")) for s in samples]
    summary = {
        "generator": "skinscan.datasets.write_phantom_training_set",
        "n": n,
        **options,
        "faces": [f.name for f in sources],
        "workers": count,
        "seconds": round(seconds, 2),
        "samples_per_s": round(n / seconds, 2),
        "counts": {k: kinds.count(k) for k in sorted(set(kinds))},
        "splits": {s: sum(x.split == s for x in samples) for s in ("train", "val")},
    }
    write_atomic(out / "generator.json", json.dumps(summary, indent=2) + "\n")
    return manifest
