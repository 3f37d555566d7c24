"""Where the project keeps its data: the demo bundle, caches and training runs."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = Path(__file__).resolve().parent / "demo" / "bundle"


def cache_dir() -> Path:
    """The on-disk cache folder (`SAE_EXPLORER_CACHE`, default `cache/` in the project)."""
    return Path(os.environ.get("SAE_EXPLORER_CACHE", PROJECT_ROOT / "cache")).expanduser()


def runs_dir() -> Path:
    """The folder holding training runs (`SAE_EXPLORER_RUNS`, default `cache/runs`)."""
    return Path(os.environ.get("SAE_EXPLORER_RUNS", cache_dir() / "runs")).expanduser()
