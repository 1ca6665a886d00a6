"""Where shipped models and pipeline configs live.

In a wheel they are copied into ``lulcmap/_shipped/``; in an editable install or a source checkout
they are the repository's top-level ``models/`` and ``pipelines/`` folders.
"""

from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """``models`` or ``pipelines``: the installed copy if any, else the source checkout's."""
    installed = _PKG / "_shipped" / name
    if installed.is_dir():
        return installed
    return _PKG.parents[1] / name


def short_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the current folder when it lies within one level above it (as a
    user would type it: ``../shared/data/x.tif``), else absolute: what reports and records
    show, so they do not depend on where a checkout sits."""
    full = os.path.abspath(path)
    relative = os.path.relpath(full)
    return relative if Path(relative).parts[:2].count("..") < 2 else full


__all__ = ["shipped_dir", "short_path"]
