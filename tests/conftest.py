"""Shared fixtures: a small synthetic world, generated and written to disk once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lulcmap.testing import World, synthetic_world, write_world

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
def tiny_world() -> World:
    """A 300 x 340 px synthetic world of seed 7, in memory."""
    return synthetic_world((300, 340), seed=7)


@pytest.fixture(scope="session")
def small_world_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, dict[str, Path]]:
    """A 448 x 672 px synthetic world (2 x 3 cells of 224 px, seed 7) and its files on disk: scene,
    DEM, climate grids and the N2 reference map. Read-only: copy what a test changes."""
    world = synthetic_world((448, 672), seed=7)
    return world, write_world(world, tmp_path_factory.mktemp("world"), reference=True)


@pytest.fixture(scope="session")
def small_world(small_world_data: tuple[World, dict[str, Path]]) -> dict[str, Path]:
    """The paths of :func:`small_world_data`'s files."""
    return small_world_data[1]
