"""Where the project keeps its data: the demo bundle, caches and training runs."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = Path(__file__).resolve().parent / "demo" / "bundle"


def cache_dir() -> Path:
    """The on-disk cache folder (`SAE_EXPLORER_CACHE`, default `cache/` in the project)."""
    return Path(os.environ.get("SAE_EXPLORER_CACHE", PROJECT_ROOT / "cache")).expanduser()


def runs_dir() -> Path:
    """The folder holding training runs (`SAE_EXPLORER_RUNS`, default `cache/runs`)."""
    return Path(os.environ.get("SAE_EXPLORER_RUNS", cache_dir() / "runs")).expanduser()


# ----------------------------------------------------------------------------- paths typed in the UI

ROOTS_ENV = "SAE_EXPLORER_ROOTS"
_confined: ContextVar[bool] = ContextVar("confined_paths", default=False)


def allowed_roots() -> list[Path]:
    """Folders that paths typed in the app may name: `SAE_EXPLORER_ROOTS` (separated by os.pathsep), else
    the project's data folders (demo bundle, cache, runs) and the user's home folder."""
    configured = [p for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    roots = [Path(p) for p in configured] or [BUNDLE_DIR, cache_dir(), runs_dir(), Path.home()]
    return [root.expanduser().resolve() for root in roots]


def confine_paths() -> None:
    """From now on in this context (one app script run), `check_path_allowed` enforces `allowed_roots`.

    The app calls this at the start of every script run; the CLI does not (its user owns the shell).
    A context variable, so it never leaks to other threads, tests or the command line.
    """
    _confined.set(True)


def check_path_allowed(path: str | Path) -> Path:
    """`path`, expanded; in the app, an `ExplorerError` when it resolves (symlinks too) outside the allowed roots."""
    from explorer.errors import ExplorerError

    expanded = Path(path).expanduser()
    if not _confined.get():
        return expanded
    real = expanded.resolve()
    roots = allowed_roots()
    if not any(real.is_relative_to(root) for root in roots):
        raise ExplorerError(
            f"'{path}' is outside the folders this app may open.",
            hint=f"Allowed: {', '.join(str(r) for r in roots)}. Whoever starts the app can change this with "
            f"{ROOTS_ENV} (folders separated by '{os.pathsep}').",
        )
    return expanded
