"""One display format per quantity, shared by every page and the CLI's human-readable output."""

from __future__ import annotations

DENSITY_COLUMN_FORMAT = "%.3g%%"  # for a column holding density * 100


def percent(fraction: float) -> str:
    """A fraction (density, share of tokens) as a percentage with three significant digits: 0.00902 -> '0.902%'."""
    return f"{100 * fraction:.3g}%"
