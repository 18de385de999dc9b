"""skinscan: measured, repeatable severity scores for texture, pigment, redness and wrinkles.

>>> import skinscan
>>> result = skinscan.assess("visit.jpg")          # doctest: +SKIP
>>> result.to_dict()["concerns"]["redness"]["severity"]  # doctest: +SKIP
>>> skinscan.compare("visit1.json", "visit2.jpg").to_dict()["concerns"]  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Assessment", "Comparison", "PhotoInputError", "__version__", "assess", "compare"]

from skinscan.errors import PhotoInputError

if TYPE_CHECKING:
    from skinscan.longitudinal.compare import Comparison, compare
    from skinscan.pipeline import Assessment, assess


def __getattr__(name: str) -> Any:
    # The pipeline pulls in OpenCV, dlib and the measures; load them on first use only, so that
    # `import skinscan` stays cheap for tools that only need the errors or the schema.
    if name in ("assess", "Assessment"):
        from skinscan import pipeline

        return getattr(pipeline, name)
    if name in ("compare", "Comparison"):
        from skinscan.longitudinal import compare as comparison

        return getattr(comparison, name)
    raise AttributeError(f"module 'skinscan' has no attribute {name!r}")
