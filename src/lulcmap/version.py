"""The package version, in one place (hatch reads it from here; outputs record it)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
