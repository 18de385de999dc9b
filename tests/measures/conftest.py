"""Make the checkout importable for the measure tests until the package is installed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("skinscan") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
