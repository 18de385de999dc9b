"""``skinscan bench``: time load + standardise, full assess and compare of large photos.

The photo is made on the spot: a real face (scikit-image's ``astronaut``) enlarged into a frame of
the requested size beside a rendered ColorChecker, with sensor-like noise so that the JPEG has the
size and decoding cost of a real camera file. Every figure is also given as a ratio to a reference
measured in the same run, a plain ``cv2.imdecode`` of the same bytes, so results from machines of
different speed can be compared.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

__all__ = ["BenchResult", "make_bench_photo", "peak_rss_mb", "run_bench"]


def make_bench_photo(
    megapixels: float = 12.0,
    *,
    seed: int = 0,
    quality: int = 92,
    rotation_deg: float = 0.0,
    shift_frac: tuple[float, float] = (0.0, 0.0),
) -> bytes:
    """A JPEG of about ``megapixels`` (4:3): a face filling the frame's height beside a chart.

    The face is cropped from scikit-image's ``astronaut`` so that, enlarged, it has a clinical
    photo's scale (inter-pupil distance ≈ 560 px at 12 MP, ≈ 0.11 mm/px); sensor-like noise keeps
    the enlargement from reading as blur. ``rotation_deg`` and ``shift_frac`` (of the frame's
    size) move the scene, as a second visit's framing would.
    """
    from skimage import data

    from skinscan.datasets.charts import render_colorchecker

    width = round(np.sqrt(megapixels * 1e6 * 4 / 3))
    height = round(width * 3 / 4)
    face = data.astronaut()[50:280, 140:350]
    rng = np.random.default_rng(seed)
    canvas = render_colorchecker(size=(width, height), chart_fraction=0.22, face=face, seed=0)
    if rotation_deg or any(shift_frac):
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), rotation_deg, 1.0)
        matrix[:, 2] += (shift_frac[0] * width, shift_frac[1] * height)
        canvas = np.asarray(
            cv2.warpAffine(canvas, matrix, (width, height), borderMode=cv2.BORDER_REFLECT),
            np.uint8,
        )
    noisy = canvas.astype(np.float32) + rng.normal(0.0, 4.0, canvas.shape).astype(np.float32)
    frame = np.clip(noisy, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(encoded)


@dataclass(frozen=True)
class BenchResult:
    megapixels: float
    file_bytes: int
    repeats: int
    median_ms: dict[str, float]
    ratio_to_decode: dict[str, float]
    peak_rss_mb: float
    quality_ok: bool
    calibration: str
    registration_ok: bool
    kernels: dict[str, dict[str, float]]
    models: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "megapixels": round(self.megapixels, 2),
            "file_bytes": self.file_bytes,
            "repeats": self.repeats,
            "median_ms": {k: round(v, 1) for k, v in self.median_ms.items()},
            "ratio_to_decode": {k: round(v, 2) for k, v in self.ratio_to_decode.items()},
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "quality_ok": self.quality_ok,
            "calibration": self.calibration,
            "registration_ok": self.registration_ok,
            "kernels": {
                name: {k: round(v, 4) for k, v in figures.items()}
                for name, figures in self.kernels.items()
            },
            "models": self.models,
        }


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def _time_in_this_process(path: str, repeats: int, second_path: str) -> None:
    """Child side: time each step, print one JSON line per repetition, then the peak RSS."""
    from skinscan.io import load_photo
    from skinscan.longitudinal.compare import compare
    from skinscan.pipeline import assess
    from skinscan.standardise.face import default_landmarker
    from skinscan.standardise.standard import standardise

    landmarker = default_landmarker()
    # Warm-up: model loads, lookup tables, the repeatability table.
    compare(path, second_path, landmarker=landmarker)
    for _ in range(repeats):
        t0 = time.perf_counter()
        with open(path, "rb") as handle:
            cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
        t1 = time.perf_counter()
        photo = load_photo(path)
        t2 = time.perf_counter()
        standard = standardise(photo, landmarker=landmarker)
        t3 = time.perf_counter()
        row = {
            "decode_reference": t1 - t0,
            "load": t2 - t1,
            "standardise": t3 - t2,
            "load_standardise": t3 - t1,
            "quality_ok": standard.quality.ok,
            "calibration": standard.calibration.method,
            "megapixels": photo.pixels.shape[0] * photo.pixels.shape[1] / 1e6,
        }
        del photo, standard
        t4 = time.perf_counter()
        result = assess(path, landmarker=landmarker)
        row["assess"] = time.perf_counter() - t4
        del result
        t4 = time.perf_counter()
        result = assess(path, landmarker=landmarker, learned=False)
        row["assess_classical"] = time.perf_counter() - t4
        del result
        t5 = time.perf_counter()
        comparison = compare(path, second_path, landmarker=landmarker)
        row["compare_photos"] = time.perf_counter() - t5
        row["registration_ok"] = comparison.registration.ok
        assert comparison.before_assessment is not None
        assert comparison.after_assessment is not None
        saved = (comparison.before_assessment.to_dict(), comparison.after_assessment.to_dict())
        del comparison
        t6 = time.perf_counter()
        compare(*saved)
        row["compare_saved"] = time.perf_counter() - t6
        print(json.dumps(row), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB."""
    # Linux keeps ru_maxrss across exec, so a child would report its parent's peak: read this
    # process image's own high-water mark instead where the kernel offers it.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_bench(*, megapixels: float = 12.0, repeats: int = 7, progress: Any = None) -> BenchResult:
    """Time decode (reference), load, standardise and assess ``repeats`` times; report medians.

    The timing runs in a fresh Python process that reads the photo from a file, so its peak RSS
    is that of a real ``skinscan assess`` (imports, models and the pipeline), not of the code
    that generated the photo.

    Parameters
    ----------
    megapixels : float
        Size of the generated photo.
    repeats : int
        Timed repetitions (one untimed warm-up run comes first: it loads the models).
    progress : callable, optional
        Called with no arguments after each repetition (e.g. a Rich progress ``advance``).
    """
    payload = make_bench_photo(megapixels)
    rows: list[dict[str, Any]] = []
    peak_rss_mb = float("nan")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.jpg"
        path.write_bytes(payload)
        second = Path(folder) / "second_visit.jpg"
        second.write_bytes(
            make_bench_photo(megapixels, seed=1, rotation_deg=1.5, shift_frac=(0.01, -0.01))
        )
        command = [sys.executable, "-m", "skinscan.bench", str(path), str(repeats), str(second)]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                record = json.loads(line)
                if "peak_rss_mb" in record:
                    peak_rss_mb = float(record["peak_rss_mb"])
                    continue
                rows.append(record)
                if progress is not None:
                    progress()
        if child.returncode != 0 or len(rows) != repeats:
            raise RuntimeError(f"the benchmark process failed (exit {child.returncode})")
    steps = (
        "decode_reference",
        "load",
        "standardise",
        "load_standardise",
        "assess",
        "assess_classical",
        "compare_photos",
        "compare_saved",
    )
    medians = {step: _median_ms([row[step] for row in rows]) for step in steps}
    reference = medians["decode_reference"]
    ratios = {step: medians[step] / reference for step in steps[1:]}
    return BenchResult(
        megapixels=float(rows[0]["megapixels"]),
        file_bytes=len(payload),
        repeats=repeats,
        median_ms=medians,
        ratio_to_decode=ratios,
        peak_rss_mb=peak_rss_mb,
        quality_ok=bool(rows[-1]["quality_ok"]),
        calibration=str(rows[-1]["calibration"]),
        registration_ok=bool(rows[-1]["registration_ok"]),
        kernels=kernel_ratios(),
        models=model_latencies(),
    )


def model_latencies(*, size: int = 512) -> dict[str, dict[str, Any]]:
    """CPU latency at ``size``² of each shipped default bundle: onnxruntime, and PyTorch (float32,
    eager, same threads) as the reference measured in the same run.
    """
    from skinscan.models import default_bundle_path
    from skinscan.models.bench import bench_cpu_inference

    figures = {}
    for task in ("segmentation", "severity"):
        path = default_bundle_path(task)
        if path is not None:
            figures[task] = bench_cpu_inference(path, size=size, repeats=10)
    return figures


def kernel_ratios() -> dict[str, dict[str, float]]:
    """Our ridge and co-occurrence kernels against scikit-image's, on the same 1024² region.

    ``ratio`` is scikit-image's median time over ours (measured in this run); ``correlation`` is
    the Pearson correlation of the two outputs.
    """
    from skinscan.measures._glcm import benchmark_glcm
    from skinscan.measures._ridge import benchmark_frangi

    frangi = benchmark_frangi()
    glcm = benchmark_glcm()
    return {
        "frangi_vs_skimage": {"ratio": frangi["ratio"], "correlation": frangi["correlation"]},
        "glcm_vs_skimage": {"ratio": glcm["ratio"], "correlation": glcm["correlation"]},
    }


if __name__ == "__main__":
    _time_in_this_process(sys.argv[1], int(sys.argv[2]), sys.argv[3])
