"""The HTTP service: FastAPI app, database, photo store and assessment workers.

Start it with ``skinscan serve``; build it in code with :func:`create_app`::

    from skinscan.serve import Settings, create_app
    app = create_app(Settings(data_dir="/srv/skinscan"))

Submodules are imported on first use, so ``import skinscan.serve.fhir`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Settings", "create_app"]

if TYPE_CHECKING:
    from skinscan.serve.app import create_app
    from skinscan.serve.settings import Settings


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from skinscan.serve.app import create_app

        return create_app
    if name == "Settings":
        from skinscan.serve.settings import Settings

        return Settings
    raise AttributeError(f"module 'skinscan.serve' has no attribute {name!r}")
