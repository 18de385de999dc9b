"""Pigment vectors of one photo by independent component analysis (Tsumura et al. 1999).

The skin pixels' optical density, projected on the chromatic plane (shading removed), is unmixed
by a two-component FastICA; the two directions are accepted as the melanin and hemoglobin
vectors only when they are well determined and near the fixed vectors.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from skinscan.measures._optical_density import CHROMATIC_PLANE, GREY, REFLECTANCE_FLOOR

__all__ = [
    "ICA_MAX_PIXELS",
    "ICA_MIN_PIXELS",
    "MAX_ANGLE_TO_FIXED_DEG",
    "MIN_ANGLE_BETWEEN_DEG",
    "MIN_NONGAUSSIANITY",
    "MIN_SPREAD_OD",
    "fastica_2d",
    "ica_vectors",
    "sample_skin",
]

FloatArray = NDArray[np.float32]

#: Most skin pixels fed to the ICA (a seeded random subsample): enough for the 2 × 2 problem.
ICA_MAX_PIXELS = 20_000
#: Fewer usable skin pixels than this and the ICA is not tried.
ICA_MIN_PIXELS = 500
#: An ICA vector further than this from its fixed vector (in the chromatic plane) is rejected.
MAX_ANGLE_TO_FIXED_DEG = 30.0
#: Two ICA vectors closer than this are nearly parallel: the inversion would amplify noise.
MIN_ANGLE_BETWEEN_DEG = 20.0
#: Each independent component must differ from a Gaussian by this much, |E G(y) − E G(ν)| with
#: G = log cosh; Gaussian noise reads about 0.003 at 20 000 samples.
MIN_NONGAUSSIANITY = 0.01
#: Each component must vary by at least this SD (OD units, 0.5 % in reflectance): less is noise.
MIN_SPREAD_OD = 0.005
_CLIPPED = 0.98
_SEED = 20240917
_LOGCOSH_GAUSS = 0.374567  # E log cosh(ν), ν ~ N(0, 1)


def fastica_2d(
    samples: NDArray[np.floating], *, max_iter: int = 200, tol: float = 1e-10
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Symmetric FastICA with the log cosh contrast on 2-D samples.

    Parameters
    ----------
    samples : ndarray of shape (N, 2)
        Centred or not; the mean is removed.
    max_iter, tol : int, float
        Iteration cap and convergence tolerance on ``1 − |diag(W_new W_oldᵀ)|``.

    Returns
    -------
    mixing : ndarray of shape (2, 2), float64
        Columns are the directions of the two components in the samples' coordinates, scaled so
        that each source has unit variance.
    sources : ndarray of shape (N, 2), float64
        The unit-variance independent components.

    Raises
    ------
    ValueError
        When the samples do not span two dimensions.

    Notes
    -----
    Hyvärinen (1999), "Fast and robust fixed-point algorithms for independent component analysis",
    IEEE Trans. Neural Netw. 10:626: whitening, then ``W ← E[z g(Wz)] − E[g'(Wz)] W`` with
    ``g = tanh``, followed by symmetric decorrelation ``W ← (W Wᵀ)^−1/2 W``.
    """
    x = np.asarray(samples, dtype=np.float64)
    x = x - x.mean(axis=0)
    cov = x.T @ x / x.shape[0]
    eigval, eigvec = np.linalg.eigh(cov)
    if eigval[0] <= 1e-12 * max(eigval[1], 1e-30):
        raise ValueError("samples do not span two dimensions")
    whitening = (eigvec / np.sqrt(eigval)).T
    z = x @ whitening.T
    angle = 0.3  # a fixed, generic start: the result does not depend on it but is reproducible
    w = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    for _ in range(max_iter):
        y = z @ w.T
        g = np.tanh(y)
        new = g.T @ z / z.shape[0] - (1.0 - g * g).mean(axis=0)[:, None] * w
        s, u = np.linalg.eigh(new @ new.T)
        new = (u / np.sqrt(s)) @ u.T @ new
        converged = float(np.max(1.0 - np.abs(np.sum(new * w, axis=1)))) < tol
        w = new
        if converged:
            break
    unmixing = w @ whitening
    return np.linalg.inv(unmixing), z @ w.T


def sample_skin(rgb: FloatArray, pixels: NDArray[np.intp]) -> NDArray[np.intp]:
    """Up to :data:`ICA_MAX_PIXELS` of the flat ``pixels`` (seeded), clipped and black ones out."""
    if pixels.size > ICA_MAX_PIXELS:
        rng = np.random.default_rng(_SEED)
        pixels = np.sort(rng.choice(pixels, ICA_MAX_PIXELS, replace=False))
    values = rgb.reshape(-1, 3)[pixels]
    # Clipped and near-black pixels carry no colour: leave them out of the fit.
    usable = (values.min(axis=1) > 2 * REFLECTANCE_FLOOR) & (values.max(axis=1) < _CLIPPED)
    return pixels[usable]


def _in_plane(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    """2-D coordinates of a 3-vector's chromatic part, unit length."""
    v = vector @ CHROMATIC_PLANE
    return np.asarray(v / np.linalg.norm(v))


def _lift(direction: NDArray[np.float64], like: NDArray[np.float64]) -> NDArray[np.float64]:
    """A unit 3-vector with chromatic direction ``direction`` (2-D) and the grey share of ``like``.

    The grey part of a pigment's OD lies along the shading direction and so cannot be estimated
    from one photo; the ICA vectors borrow it from the fixed vectors.
    """
    grey = float(like @ GREY)
    chroma = math.sqrt(max(1.0 - grey * grey, 0.0))
    v = chroma * (CHROMATIC_PLANE @ direction) + grey * GREY
    return np.asarray(v / np.linalg.norm(v))


def _angle_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    cos = float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def ica_vectors(
    od_samples: NDArray[np.float64], mel_ref: NDArray[np.float64], hem_ref: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """ICA pigment vectors, or the references and why the ICA was rejected."""
    if od_samples.shape[0] < ICA_MIN_PIXELS:
        return mel_ref, hem_ref, f"too few skin pixels ({od_samples.shape[0]})"
    try:
        mixing, sources = fastica_2d(od_samples @ CHROMATIC_PLANE)
    except ValueError:
        return mel_ref, hem_ref, "skin colour varies along one direction only"
    spread = np.linalg.norm(mixing, axis=0)
    if spread.min() < MIN_SPREAD_OD:
        return mel_ref, hem_ref, "skin colour varies too little (noise only)"
    nongauss = np.abs(np.log(np.cosh(sources)).mean(axis=0) - _LOGCOSH_GAUSS)
    if nongauss.min() < MIN_NONGAUSSIANITY:
        return mel_ref, hem_ref, "a component is Gaussian (noise)"
    refs = [_in_plane(mel_ref), _in_plane(hem_ref)]
    cols = [mixing[:, 0] / spread[0], mixing[:, 1] / spread[1]]
    # ICA leaves order and sign free: take the pairing closer to the fixed vectors, then the sign.
    straight = abs(cols[0] @ refs[0]) + abs(cols[1] @ refs[1])
    swapped = abs(cols[1] @ refs[0]) + abs(cols[0] @ refs[1])
    if swapped > straight:
        cols = cols[::-1]
    cols = [c if c @ r >= 0 else -c for c, r in zip(cols, refs, strict=True)]
    worst = max(_angle_deg(c, r) for c, r in zip(cols, refs, strict=True))
    if worst > MAX_ANGLE_TO_FIXED_DEG:
        return mel_ref, hem_ref, f"ICA vector {worst:.0f}° from the fixed one"
    between = _angle_deg(cols[0], cols[1])
    if between < MIN_ANGLE_BETWEEN_DEG:
        return mel_ref, hem_ref, f"ICA vectors nearly parallel ({between:.0f}°)"
    return _lift(cols[0], mel_ref), _lift(cols[1], hem_ref), ""
