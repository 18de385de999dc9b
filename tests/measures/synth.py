"""Synthetic skin scenes of known truth, drawn in millimetres: any resolution shows the same scene.

A scene is a CIELAB image of uniform skin plus mild per-pixel noise; features are painted as
CIELAB offsets with anti-aliased edges (one-pixel linear ramp), and the measures get its linear
sRGB rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.colour_space import lab_to_linear_srgb

__all__ = ["TONES", "Scene", "grid_points", "skin_scene"]

#: (L*, a*, b*) of plain skin: ITA ≈ 53° (light), 14° (tan), −45° (dark).
TONES: dict[str, tuple[float, float, float]] = {
    "light": (70.0, 10.0, 15.0),
    "medium": (55.0, 13.0, 20.0),
    "dark": (35.0, 12.0, 15.0),
}


@dataclass
class Scene:
    """A CIELAB skin scene on a pixel grid of ``mm_per_px``."""

    lab: NDArray[np.float32]
    mm_per_px: float
    rng: np.random.Generator = field(repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.lab.shape[0], self.lab.shape[1]

    def coords_mm(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        h, w = self.shape
        ys = (np.arange(h, dtype=np.float32) + 0.5) * self.mm_per_px
        xs = (np.arange(w, dtype=np.float32) + 0.5) * self.mm_per_px
        return ys[:, None], xs[None, :]

    def linear(self) -> NDArray[np.float32]:
        return np.clip(lab_to_linear_srgb(self.lab), 0.0, 1.0).astype(np.float32)

    def everywhere(self) -> dict[str, NDArray[np.bool_]]:
        return {"site": np.ones(self.shape, dtype=bool)}

    def mask(self, y0: float, x0: float, y1: float, x1: float) -> NDArray[np.bool_]:
        """Boolean mask of the pixels whose centres lie in the rectangle (mm)."""
        ys, xs = self.coords_mm()
        return np.asarray((ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1))

    def _paint(self, coverage: NDArray[np.float32], offset: tuple[float, float, float]) -> None:
        self.lab += coverage[..., None] * np.asarray(offset, dtype=np.float32)

    def disc(self, cy: float, cx: float, radius: float, offset: tuple[float, float, float]) -> None:
        """Add ``offset`` (ΔL*, Δa*, Δb*) inside a disc (mm)."""
        ys, xs = self.coords_mm()
        dist = np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2)
        self._paint(np.clip(0.5 + (radius - dist) / self.mm_per_px, 0.0, 1.0), offset)

    def rect(
        self, y0: float, x0: float, y1: float, x1: float, offset: tuple[float, float, float]
    ) -> None:
        """Add ``offset`` inside an axis-aligned rectangle (mm), anti-aliased."""
        ys, xs = self.coords_mm()
        cover_y = np.clip(0.5 + np.minimum(ys - y0, y1 - ys) / self.mm_per_px, 0.0, 1.0)
        cover_x = np.clip(0.5 + np.minimum(xs - x0, x1 - xs) / self.mm_per_px, 0.0, 1.0)
        self._paint((cover_y * cover_x).astype(np.float32), offset)

    def line(
        self,
        p0: tuple[float, float],
        p1: tuple[float, float],
        width: float,
        depth_l: float,
        blur_mm: float = 0.0,
    ) -> None:
        """Darken a band ``width`` mm wide from ``p0`` to ``p1`` ((y, x) in mm) by ``depth_l``.

        The band has flat ends (a rectangle along the segment); ``blur_mm`` softens its profile.
        """
        ys, xs = self.coords_mm()
        (y0, x0), (y1, x1) = p0, p1
        length = float(np.hypot(y1 - y0, x1 - x0))
        uy, ux = (y1 - y0) / length, (x1 - x0) / length
        along = (ys - y0) * uy + (xs - x0) * ux
        across = np.abs(-(ys - y0) * ux + (xs - x0) * uy)
        inside_across = np.clip(0.5 + (width / 2 - across) / self.mm_per_px, 0.0, 1.0)
        inside_along = np.clip(0.5 + np.minimum(along, length - along) / self.mm_per_px, 0.0, 1.0)
        coverage = (inside_across * inside_along).astype(np.float32)
        if blur_mm > 0:
            coverage = cv2.GaussianBlur(coverage, (0, 0), blur_mm / self.mm_per_px)
        self._paint(coverage, (-depth_l, 0.0, 0.0))

    def texture(self, amplitude_l: float, grain_mm: float = 0.25) -> None:
        """Add band-limited L* noise of SD ``amplitude_l`` and grain ``grain_mm`` (Gaussian σ)."""
        noise = self.rng.standard_normal(self.shape).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), grain_mm / self.mm_per_px)
        noise *= amplitude_l / max(float(noise.std()), 1e-6)
        self.lab[..., 0] += noise


def skin_scene(
    size_mm: tuple[float, float] = (40.0, 40.0),
    *,
    mm_per_px: float = 0.1,
    tone: str = "medium",
    noise: float = 0.4,
    seed: int = 0,
) -> Scene:
    """Uniform skin of ``tone`` with per-pixel noise (SD ``noise`` in L*, half that in a*, b*)."""
    h, w = round(size_mm[0] / mm_per_px), round(size_mm[1] / mm_per_px)
    rng = np.random.default_rng(seed)
    lab = np.empty((h, w, 3), dtype=np.float32)
    lab[:] = TONES[tone]
    sd = np.array([noise, noise / 2, noise / 2], dtype=np.float32)
    lab += rng.standard_normal((h, w, 3)).astype(np.float32) * sd
    return Scene(lab=lab, mm_per_px=mm_per_px, rng=rng)


def grid_points(
    n: int, size_mm: tuple[float, float], margin_mm: float
) -> list[tuple[float, float]]:
    """``n`` well-separated centres (mm) on a regular grid inside ``size_mm``."""
    if n <= 0:
        return []
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    ys = np.linspace(margin_mm, size_mm[0] - margin_mm, rows)
    xs = np.linspace(margin_mm, size_mm[1] - margin_mm, cols)
    return [(float(y), float(x)) for y in ys for x in xs][:n]


def shadowed(scene: Scene) -> NDArray[np.float32]:
    """The scene's linear RGB with its L* departures painted as shadow.

    ``Scene`` paints relief as a change of L* at constant a*, b*, which is a change of colour as
    well; a shadow scales a* and b* with L* + 16 (all of X, Y, Z by one factor). The relief
    measures read shadow only, so the scenes are rendered that way.
    """
    lab = scene.lab.copy()
    base = float(np.median(lab[..., 0]))
    lab[..., 1:] *= ((lab[..., 0] + 16.0) / (base + 16.0))[..., None]
    return np.clip(lab_to_linear_srgb(lab), 0.0, 1.0).astype(np.float32)
