"""Private alignment machinery of :mod:`skinscan.longitudinal.registration`.

:func:`~skinscan.longitudinal.registration.register` documents the method and its sources; this
module holds the arithmetic: the least-squares similarity between landmark sets, the work frame
(the before photo's skin area resampled small, with its band-passed texture and the masks where
it is compared), the coarse-to-fine ECC refinement and its projection onto a similarity, phase
correlation for body sites, and the residual error measured by Lucas-Kanade tracking.

A ``matrix`` here is a (2, 3) similarity from after pixel indices to before pixel indices, as
:attr:`~skinscan.longitudinal.registration.Registration.matrix`; the work frame's own mappings say
where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from skinscan.standardise._warp import apply_transform, invert_transform, warp_similarity
from skinscan.standardise.standard import StandardPhoto

__all__ = [
    "WorkFrame",
    "compose",
    "fit_similarity",
    "landmark_rms",
    "landmark_similarity",
    "refine_landmark_fit",
    "same_view_start",
]

# Landmarks that move least with expression: brows, nose, eyes (iBUG 17-47).
_RIGID = np.arange(17, 48)
# Work frame: the skin area's bounding box, resampled so its long side is at most this many
# pixels; ECC runs coarse to fine over a pyramid of it.
_WORK_SIDE = 512
_HIGHPASS_SIGMA = 8.0  # work px: removes shading, keeps pores, lines, spots and feature edges
_ECC_GAUSS = 5
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
_ECC_COARSEST = 64  # px, shortest side of the pyramid's coarsest level
# Residual error: Shi-Tomasi corners tracked by pyramidal Lucas-Kanade.
_MAX_TRACKS = 300
_MIN_TRACKS = 12
_LK_WINDOW = 21
_LK_LEVELS = 2
_MISTRACK_PX = 1.0  # work px, plus _MISTRACK_FACTOR × the median displacement
_MISTRACK_FACTOR = 5.0


def compose(outer: NDArray[np.floating], inner: NDArray[np.floating]) -> NDArray[np.float64]:
    """The (2, 3) affine ``outer ∘ inner`` (``inner`` applied first)."""
    a, b = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.hstack([a[:, :2] @ b[:, :2], (a[:, :2] @ b[:, 2] + a[:, 2])[:, None]])


def fit_similarity(
    source: NDArray[np.floating], target: NDArray[np.floating], *, trim: float | None = None
) -> NDArray[np.float64]:
    """Least-squares similarity ``target ≈ s R source + t`` (Umeyama 1991), as (2, 3).

    In complex numbers, ``z_t ≈ a z_s + t`` with ``a = s e^{iθ}``; the centred least-squares
    solution is ``a = Σ conj(z_s) z_t / Σ |z_s|²``. With ``trim``, points whose residual exceeds
    ``trim`` × the median residual are dropped and the fit repeated once.
    """
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    keep = np.ones(len(src), bool)
    for _ in range(1 if trim is None else 2):
        zs = src[keep, 0] + 1j * src[keep, 1]
        zt = dst[keep, 0] + 1j * dst[keep, 1]
        cs, ct = zs.mean(), zt.mean()
        a = np.sum(np.conj(zs - cs) * (zt - ct)) / max(float(np.sum(np.abs(zs - cs) ** 2)), 1e-12)
        shift = ct - a * cs
        matrix = np.array([[a.real, -a.imag, shift.real], [a.imag, a.real, shift.imag]])
        if trim is not None:
            residual = np.linalg.norm(apply_transform(matrix, src) - dst, axis=1)
            keep = residual <= trim * max(float(np.median(residual)), 1e-9)
    return matrix


def landmark_similarity(
    after_landmarks: NDArray[np.floating], before_landmarks: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Similarity after → before fitted to landmarks 17-47, trimmed at 2.5 × the median residual."""
    return fit_similarity(after_landmarks[_RIGID], before_landmarks[_RIGID], trim=2.5)


def landmark_rms(
    matrix: NDArray[np.float64],
    after_landmarks: NDArray[np.floating],
    before_landmarks: NDArray[np.floating],
) -> float:
    """RMS residual, in before px, of the after photo's landmarks 17-47 mapped by ``matrix``."""
    residual = apply_transform(matrix, after_landmarks[_RIGID]) - np.asarray(
        before_landmarks[_RIGID], np.float64
    )
    return float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))


def _area(photo: StandardPhoto) -> NDArray[np.uint8]:
    """Union of the photo's regions (the skin that is measured), as 0/1."""
    union = np.zeros(photo.rgb_u8.shape[:2], bool)
    for mask in photo.regions.values():
        union |= mask
    return union.view(np.uint8)


def _texture(gray: NDArray[np.float32]) -> NDArray[np.float32]:
    """Band-passed luminance: the image minus its Gaussian blur (σ = 8 work px)."""
    blurred = cv2.GaussianBlur(gray, (0, 0), _HIGHPASS_SIGMA)
    return np.asarray(gray - blurred, dtype=np.float32)


def _gray(rgb_u8: NDArray[np.uint8]) -> NDArray[np.float32]:
    return np.asarray(cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2GRAY), dtype=np.float32)


@dataclass(frozen=True)
class WorkFrame:
    """The before photo's skin area, resampled small, and what is needed to compare against it."""

    to_work: NDArray[np.float64]  # before analysis px → work px
    scale: float
    size: tuple[int, int]  # (width, height)
    gray_after: NDArray[np.float32]  # after analysis copy, full size
    gray_b: NDArray[np.float32]  # before luminance in the work frame
    texture_b: NDArray[np.float32]
    mask: NDArray[np.uint8]  # where texture is compared: both skin areas, inside the after frame
    skin: NDArray[np.uint8]  # the same, not yet kept clear of the after frame's edge
    inside: NDArray[np.uint8]  # where the after photo has pixels
    overlap: float
    corners: NDArray[np.float64]  # the skin area's box corners, before px
    features: NDArray[np.float32] | None  # corners of the before texture to track, work px
    contrast: float  # gain putting the before texture's spread at ~20 grey levels for tracking

    @classmethod
    def build(
        cls, before: StandardPhoto, after: StandardPhoto, init: NDArray[np.float64]
    ) -> WorkFrame:
        area_b = _area(before)
        height, width = area_b.shape
        ys, xs = np.nonzero(area_b)
        if xs.size == 0:
            x0, y0, x1, y1 = 0, 0, width, height
        else:
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        scale = min(1.0, _WORK_SIDE / max(x1 - x0, y1 - y0))
        to_work = np.array([[scale, 0.0, -scale * x0], [0.0, scale, -scale * y0]])
        size = (max(16, int(np.ceil((x1 - x0) * scale))), max(16, int(np.ceil((y1 - y0) * scale))))
        to_after_work = compose(to_work, init)
        gray_b = np.asarray(warp_similarity(_gray(before.rgb_u8), to_work, size), np.float32)
        texture_b = _texture(gray_b)
        mask_b = warp_similarity(area_b, to_work, size, nearest=True)
        mask_a = warp_similarity(_area(after), to_after_work, size, nearest=True)
        inside = warp_similarity(
            np.ones(after.rgb_u8.shape[:2], np.uint8), to_after_work, size, nearest=True
        )
        inside = np.asarray(inside, np.uint8)
        overlap = float(np.count_nonzero(mask_b & inside)) / max(int(np.count_nonzero(mask_b)), 1)
        grow = max(3, size[0] // 64) | 1
        grown = np.asarray(cv2.dilate(mask_b | mask_a, np.ones((grow, grow), np.uint8)), np.uint8)
        mask = grown & _clear_of_edge(inside)
        # ECC's coarse levels need a wider margin from the after photo's edge than this.
        skin = grown & inside
        spread = float(np.std(texture_b[mask > 0])) if mask.any() else 0.0
        contrast = 20.0 / max(spread, 1e-3)
        # Tracking windows reach _LK_WINDOW / 2 coarsest-level pixels: keep them inside the after
        # photo, away from the mirrored border.
        reach = (_LK_WINDOW // 2) * 2**_LK_LEVELS
        trackable = mask & _eroded(inside, 2 * reach + 1)
        found = cv2.goodFeaturesToTrack(
            _as_u8(texture_b, contrast),
            _MAX_TRACKS,
            0.01,
            max(4, size[0] // 48),
            mask=trackable,
            blockSize=7,
        )
        features = None if found is None else np.asarray(found, np.float32)
        corners = np.array([[x0, y0], [x1 - 1, y0], [x0, y1 - 1], [x1 - 1, y1 - 1]], np.float64)
        return cls(
            to_work,
            scale,
            size,
            _gray(after.rgb_u8),
            gray_b,
            texture_b,
            mask.astype(np.uint8),
            skin.astype(np.uint8),
            inside,
            overlap,
            corners,
            features,
            contrast,
        )

    def moved_gray(self, matrix: NDArray[np.float64]) -> NDArray[np.float32]:
        """The after luminance in the work frame, placed by ``matrix`` (after px → before px).

        Outside the after photo the image is mirrored rather than black, so that no artificial
        edge leaks through the band-pass into the compared area.
        """
        placed = warp_similarity(
            self.gray_after,
            compose(self.to_work, matrix),
            self.size,
            border=cv2.BORDER_REFLECT_101,
        )
        return np.asarray(placed, np.float32)

    def _pyramids(
        self, init: NDArray[np.float64]
    ) -> tuple[list[NDArray[np.float32]], list[NDArray[np.float32]]]:
        """Before and placed-after luminance, halved until the short side would drop below
        ``_ECC_COARSEST`` px."""
        templates, moved = [self.gray_b], [self.moved_gray(init)]
        while min(templates[-1].shape) >= 2 * _ECC_COARSEST:
            templates.append(np.asarray(cv2.pyrDown(templates[-1]), np.float32))
            moved.append(np.asarray(cv2.pyrDown(moved[-1]), np.float32))
        return templates, moved

    def coarse_shift(self, init: NDArray[np.float64]) -> NDArray[np.float64]:
        """Translation (before px) that best places the after photo on top of ``init``.

        Phase correlation of the coarsest pyramid level's textures (Hanning window): coarse
        structure still correlates under the small rotation and scale a re-framed body-site
        photo has, where fine texture no longer does.
        """
        templates, moved = self._pyramids(init)
        factor = 2 ** (len(templates) - 1) / self.scale
        fixed, placed = _texture(templates[-1]), _texture(moved[-1])
        window = cv2.createHanningWindow(fixed.shape[::-1], cv2.CV_32F)
        # Both ways round: OpenCV's sub-pixel peak is biased (by half a pixel at zero shift);
        # the bias is common to both directions and cancels in the difference.
        forward, _ = cv2.phaseCorrelate(fixed, placed, window)
        backward, _ = cv2.phaseCorrelate(placed, fixed, window)
        dx, dy = (np.asarray(forward) - np.asarray(backward)) / 2.0
        return np.array([[1.0, 0.0, -dx * factor], [0.0, 1.0, -dy * factor]])

    def ecc(self, init: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """ECC refinement of ``init`` (after px → before px); None when ECC fails.

        Coarse to fine over a pyramid whose coarsest level is at least ``_ECC_COARSEST`` px on
        its short side; each level is band-passed on its own, so the coarse levels compare
        coarser structure and widen the capture range.
        """
        templates, moved = self._pyramids(init)
        warp: NDArray[np.float32] = np.eye(2, 3, dtype=np.float32)
        for level in range(len(templates) - 1, -1, -1):
            template = templates[level]
            size = template.shape[::-1]
            if level:
                # The band-pass reaches 2σ of this level's (coarser) pixels.
                inside = cv2.resize(self.inside, size, interpolation=cv2.INTER_NEAREST)
                skin = cv2.resize(self.skin, size, interpolation=cv2.INTER_NEAREST)
                mask = np.asarray(skin, np.uint8) & _clear_of_edge(np.asarray(inside, np.uint8))
            else:
                mask = self.mask
            try:
                _, found = cv2.findTransformECC(
                    _texture(template),
                    _texture(moved[level]),
                    warp,
                    cv2.MOTION_AFFINE,
                    _ECC_CRITERIA,
                    mask,
                    _ECC_GAUSS,
                )
                warp = np.asarray(found, np.float32)
            except cv2.error:
                # A coarse level may have too little area left; only the finest must converge.
                if not level:
                    return None
            if level:
                # pyrDown puts coarse pixel i at fine pixel 2i.
                warp[:, 2] *= 2.0
        if not np.all(np.isfinite(warp)):
            return None
        # The affine maps work px of the before texture → work px of the pre-placed after texture;
        # its closest similarity over the compared pixels is kept.
        ys, xs = np.nonzero(self.mask[::4, ::4])
        points = np.stack([xs, ys], axis=1).astype(np.float64) * 4.0
        if len(points) < 3:
            return None
        similarity = fit_similarity(points, apply_transform(warp, points))
        to_before = invert_transform(self.to_work)
        return compose(
            to_before, compose(invert_transform(similarity), compose(self.to_work, init))
        )

    def max_move_px(self, matrix: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
        """Largest distance, in before px, between where two mappings put the area's corners."""
        source = apply_transform(invert_transform(reference), self.corners)
        return float(np.max(np.linalg.norm(apply_transform(matrix, source) - self.corners, axis=1)))

    def residual_px(self, matrix: NDArray[np.float64]) -> float | None:
        """RMS displacement of tracked texture features after ``matrix``, in before px."""
        if self.features is None or len(self.features) < _MIN_TRACKS:
            return None
        template = _as_u8(self.texture_b, self.contrast)
        moved = _as_u8(_texture(self.moved_gray(matrix)), self.contrast)
        window, levels = (_LK_WINDOW, _LK_WINDOW), _LK_LEVELS
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
        start = self.features
        forward, status_f, _ = cv2.calcOpticalFlowPyrLK(
            template,
            moved,
            start,
            np.empty_like(start),
            winSize=window,
            maxLevel=levels,
            criteria=criteria,
        )
        back, status_b, _ = cv2.calcOpticalFlowPyrLK(
            moved,
            template,
            forward,
            np.empty_like(start),
            winSize=window,
            maxLevel=levels,
            criteria=criteria,
        )
        round_trip = np.linalg.norm(np.reshape(back - start, (-1, 2)), axis=1)
        good = (np.ravel(status_f) == 1) & (np.ravel(status_b) == 1) & (round_trip < 0.5)
        if int(good.sum()) < _MIN_TRACKS:
            return None
        length = np.linalg.norm(np.reshape(forward - start, (-1, 2))[good], axis=1)
        # A mistrack that still returns home (a hair, an eyelash, a glint) moves far more than its
        # neighbours; a real misalignment moves most features, so the median follows it.
        length = length[length <= _MISTRACK_PX + _MISTRACK_FACTOR * float(np.median(length))]
        return float(np.sqrt(np.mean(length**2))) / self.scale


def refine_landmark_fit(
    frame: WorkFrame, landmark_fit: NDArray[np.float64], *, mm_per_px: float, max_move_mm: float
) -> tuple[NDArray[np.float64], float | None, bool]:
    """ECC refinement of the landmark similarity, kept only where it does better.

    The refinement is kept if ECC converged, moved no corner of the skin area's box by more than
    ``max_move_mm`` relative to ``landmark_fit``, and left a residual no larger than the landmark
    fit's (or the landmark fit's residual could not be measured).

    Returns
    -------
    matrix : ndarray of shape (2, 3), float64
        The refinement, or ``landmark_fit``.
    error_px : float or None
        Its :meth:`WorkFrame.residual_px` (None: too few tracks).
    refined : bool
        Whether ``matrix`` is the refinement.
    """
    error = frame.residual_px(landmark_fit)
    refined = frame.ecc(landmark_fit)
    if refined is not None and frame.max_move_px(refined, landmark_fit) * mm_per_px <= max_move_mm:
        refined_error = frame.residual_px(refined)
        if error is None or (refined_error is not None and refined_error <= error):
            return refined, refined_error, True
    return landmark_fit, error, False


def same_view_start(
    before: StandardPhoto, after: StandardPhoto
) -> tuple[WorkFrame, NDArray[np.float64]]:
    """Body sites (no landmarks): the starting matrix, and the work frame built around it.

    The same field of view is assumed (long sides matched, centres on each other), then shifted by
    :meth:`WorkFrame.coarse_shift`.
    """
    (hb, wb), (ha, wa) = before.rgb_u8.shape[:2], after.rgb_u8.shape[:2]
    zoom = max(hb, wb) / max(ha, wa)
    init = np.array(
        [
            [zoom, 0.0, (wb - 1) / 2 - zoom * (wa - 1) / 2],
            [0.0, zoom, (hb - 1) / 2 - zoom * (ha - 1) / 2],
        ]
    )
    frame = WorkFrame.build(before, after, init)
    init = compose(frame.coarse_shift(init), init)
    return WorkFrame.build(before, after, init), init


def _eroded(mask: NDArray[np.uint8], side: int) -> NDArray[np.uint8]:
    return np.asarray(cv2.erode(mask, np.ones((side, side), np.uint8)), np.uint8)


def _clear_of_edge(mask: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``mask`` eroded by 2σ of the band-pass, where its texture no longer sees the mask's edge."""
    return _eroded(mask, 2 * round(2 * _HIGHPASS_SIGMA) + 1)


def _as_u8(texture: NDArray[np.float32], contrast: float) -> NDArray[np.uint8]:
    return np.clip(texture * contrast + 128.0, 0.0, 255.0).astype(np.uint8)
