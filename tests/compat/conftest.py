"""A synthetic chip folder in the original layout, and the world it was cut from."""

from __future__ import annotations

from pathlib import Path

import pytest

from lulcmap.testing import World, synthetic_world
from lulcmap.testing.chipfolders import write_chip_folder


@pytest.fixture(scope="module")
def world() -> World:
    return synthetic_world((448, 672), seed=11)


@pytest.fixture
def folder(world: World, tmp_path: Path) -> Path:
    """Lossless chips (PNG, TIFF) of ``world`` and their CSV under ``tmp_path / "in"``."""
    write_chip_folder(world, tmp_path / "in", [".png", ".tif", ".png", ".tiff", ".png", ".png"])
    return tmp_path / "in"
