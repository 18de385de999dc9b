"""PNG overlays of an assessment: regions, calibration patches, and one heat map per concern."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import linear_srgb_to_lab, linear_to_srgb, to_linear_float
from skinscan.io import write_atomic
from skinscan.pipeline import Assessment
from skinscan.standardise.colour import COLORCHECKER_LINEAR_SRGB, Calibration
from skinscan.standardise.face import draw_regions

__all__ = [
    "AGREEMENT_COLOURS",
    "agreement_overlay",
    "calibration_overlay",
    "concern_overlay",
    "draw_label",
    "write_maps",
    "write_png",
]


def calibration_overlay(rgb_u8: NDArray[np.uint8], calibration: Calibration) -> NDArray[np.uint8]:
    """The photo with the chart found outlined, each patch marked with its ΔE00 after correction.

    Each patch gets a small inset square in its *reference* colour, so a reader sees at a glance
    how far the photographed patch is from what it should be.
    """
    out = rgb_u8.copy()
    chart = calibration.chart
    if chart is None:
        draw_label(out, f"no chart found: calibration method '{calibration.method}'", (10, 24))
        return out
    corrected = calibration.apply(to_linear_float(chart.patch_rgb))
    errors = _patch_errors(corrected)
    reference_u8 = np.round(linear_to_srgb(COLORCHECKER_LINEAR_SRGB) * 255).astype(np.uint8)
    side = float(np.linalg.norm(chart.patch_polygons[0][0] - chart.patch_polygons[0][2]))
    inset = max(2, int(side * 0.18))
    font = max(0.3, side / 90.0)
    for polygon, centre, ref, err in zip(
        chart.patch_polygons, chart.patch_centres, reference_u8, errors, strict=True
    ):
        poly = np.round(polygon).astype(np.int32)
        cv2.polylines(out, [poly], True, (255, 255, 255), 1, cv2.LINE_AA)
        cx, cy = (round(v) for v in centre)
        cv2.rectangle(out, (cx - inset, cy - inset), (cx + inset, cy + inset), ref.tolist(), -1)
        draw_label(out, f"{err:.1f}", (cx - inset, cy + inset + int(12 * font)), scale=font)
    cv2.polylines(out, [np.round(chart.corners).astype(np.int32)], True, (0, 255, 0), 2)
    mean_de = calibration.delta_e00 if calibration.delta_e00 is not None else float("nan")
    draw_label(out, f"chart ({chart.method}) mean dE00 {mean_de:.2f}", (10, 24))
    return out


def _patch_errors(corrected_linear: NDArray[np.float32]) -> NDArray[np.float64]:
    from skinscan.colour_space import delta_e00

    return delta_e00(
        linear_srgb_to_lab(corrected_linear), linear_srgb_to_lab(COLORCHECKER_LINEAR_SRGB)
    )


def concern_overlay(
    rgb_u8: NDArray[np.uint8], concern_map: NDArray[np.floating], mask: NDArray[np.bool_]
) -> NDArray[np.uint8]:
    """Colour a concern's map over the photo, opaque where the map is strong.

    The map is scaled between its median and 99.5th percentile inside ``mask``, so what is drawn
    is what stands out from the person's own skin; below the median the photo shows through.
    The assessed area is outlined.
    """
    out = rgb_u8.copy()
    values = concern_map[mask]
    if values.size:
        lo, hi = np.percentile(values, [50, 99.5])
        scaled = np.where(mask, np.clip((concern_map - lo) / max(hi - lo, 1e-6), 0, 1), 0)
        heat = cv2.applyColorMap(np.round(scaled * 255).astype(np.uint8), cv2.COLORMAP_TURBO)
        heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB).astype(np.float32)
        alpha = (0.85 * scaled)[..., None].astype(np.float32)
        out = np.round((1 - alpha) * out.astype(np.float32) + alpha * heat).astype(np.uint8)
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_maps(assessment: Assessment, directory: str | Path) -> list[Path]:
    """Write the overlays of ``assessment`` as PNG files into ``directory``; return their paths.

    Files: ``regions.png``, ``calibration.png``, ``calibrated.png`` (the analysis copy after colour
    correction) and, when the photo passed the quality gate, ``<concern>.png`` for each concern
    and, where a trained segmenter ran, ``agreement_<concern>.png`` (:func:`agreement_overlay`).
    """
    standard = assessment.standard
    if standard is None:
        raise ValueError("this assessment carries no image data (it was loaded from JSON)")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    landmarks = None if standard.face is None else standard.face.detection.landmarks
    images: dict[str, NDArray[np.uint8]] = {
        "regions": draw_regions(standard.rgb_u8, standard.regions, landmarks=landmarks),
        "calibration": calibration_overlay(standard.rgb_u8, standard.calibration),
        "calibrated": np.round(linear_to_srgb(standard.linear) * 255).astype(np.uint8),
    }
    if assessment.concerns is not None:
        union = np.zeros(standard.rgb_u8.shape[:2], bool)
        for mask in standard.regions.values():
            union |= mask
        for name, concern in assessment.concerns.items():
            images[name] = concern_overlay(standard.rgb_u8, concern.result.map, union)
            learned = concern.learned
            plane = _LEARNED_PLANE.get(name)
            if learned is not None and learned.probability is not None and plane:
                classical = concern.result.masks.get(plane)
                if classical is not None:
                    images[f"agreement_{name}"] = agreement_overlay(
                        standard.rgb_u8, classical & union, (learned.probability >= 0.5) & union
                    )
    return [write_png(folder / f"{name}.png", image) for name, image in images.items()]


#: The classical mask each learned plane is compared with, by concern.
_LEARNED_PLANE = {"wrinkles": "wrinkles", "pigment": "spots"}
#: Colours of :func:`agreement_overlay`: both, classical only, learned only.
AGREEMENT_COLOURS = ((40, 200, 60), (40, 120, 255), (255, 200, 0))


def agreement_overlay(
    rgb_u8: NDArray[np.uint8], classical: NDArray[np.bool_], learned: NDArray[np.bool_]
) -> NDArray[np.uint8]:
    """The photo with the classical and the learned detections painted by agreement.

    Green where both detect, blue where only the classical filters do, amber where only the
    trained model does (:data:`AGREEMENT_COLOURS`), with a legend.
    """
    out = rgb_u8.copy()
    for mask, colour in zip(
        (classical & learned, classical & ~learned, learned & ~classical),
        AGREEMENT_COLOURS,
        strict=True,
    ):
        out[mask] = (0.35 * out[mask] + 0.65 * np.asarray(colour, np.float32)).astype(np.uint8)
    for row, (label, colour) in enumerate(
        zip(("both", "classical only", "learned only"), AGREEMENT_COLOURS, strict=True)
    ):
        y = 22 + 22 * row
        cv2.rectangle(out, (8, y - 12), (22, y + 2), colour, -1)
        draw_label(out, label, (28, y), scale=0.5)
    return out


def write_png(path: Path, rgb_u8: NDArray[np.uint8]) -> Path:
    """Write an RGB image as PNG at ``path``, atomically; return the path.

    Written with :func:`skinscan.io.write_atomic`: a crash never leaves a half-written image under
    its name.
    """
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path.name}")
    return write_atomic(path, encoded.tobytes())


def draw_label(
    image: NDArray[np.uint8], text: str, org: tuple[int, int], *, scale: float = 0.6
) -> None:
    """Write ``text`` at ``org``, white on a black outline, readable on any photo."""
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(
            image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA
        )
