"""Shared fixtures: a small synthetic world written to disk once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lulcmap.testing import synthetic_world, write_world

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """``$LULCMAP_DATA`` or ``../shared/data`` beside the repository, if present."""
    env = os.environ.get("LULCMAP_DATA")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data()
    if path is None:
        pytest.skip("real data not found: set LULCMAP_DATA or put shared/data beside the repo")
    return path


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 448 x 672 px synthetic world (2 x 3 cells) with DEM and climate grids on disk."""
    world = synthetic_world((448, 672), seed=7)
    return write_world(world, tmp_path_factory.mktemp("world"))
