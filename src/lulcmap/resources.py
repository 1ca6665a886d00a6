"""Where shipped models and pipeline configs live.

In a wheel they are copied into ``lulcmap/_shipped/``; in an editable install or a source checkout
they are the repository's top-level ``models/`` and ``pipelines/`` folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """``models`` or ``pipelines``: the installed copy if any, else the source checkout's."""
    installed = _PKG / "_shipped" / name
    if installed.is_dir():
        return installed
    return _PKG.parents[1] / name


__all__ = ["shipped_dir"]
