"""Input paths: local paths must exist, GDAL dataset names need not."""

from __future__ import annotations

from pathlib import Path

import pytest

from lulcmap.errors import InputNotFoundError
from lulcmap.io.paths import is_gdal_name, require_local


@pytest.mark.parametrize(
    "name",
    [
        "/vsizip/tiles.zip/scene.tif",
        "/vsis3/bucket/scene.tif",
        "s3://bucket/scene.tif",
        "https://example.org/dem.tif",
        "SENTINEL2_L2A:/data/S2A.SAFE/MTD_MSIL2A.xml:10m:EPSG_32630",
        "NETCDF:climate.nc:tmean",
    ],
)
def test_gdal_names_need_not_exist(name: str) -> None:
    assert is_gdal_name(name)
    require_local(name, "scene")  # no error: GDAL resolves it


@pytest.mark.parametrize("name", ["scene.tif", "tiles/scene.tif", "/data/scene.tif", "C:/x.tif"])
def test_local_paths_are_not_gdal_names(name: str) -> None:
    assert not is_gdal_name(name)


def test_a_local_file_named_like_a_gdal_name_is_a_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("NETCDF:x").write_text("")
    assert not is_gdal_name("NETCDF:x")


def test_missing_local_path_names_what_and_where_relative_paths_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputNotFoundError) as relative:
        require_local("dem.tif", "DEM")
    assert str(relative.value) == (
        f"DEM dem.tif does not exist; check the path (relative paths start at {tmp_path})"
    )
    with pytest.raises(
        InputNotFoundError, match=r"^mask /nowhere/m\.tif does not exist; check the path$"
    ):
        require_local("/nowhere/m.tif", "mask")
    (tmp_path / "here.tif").write_text("")
    require_local("here.tif", "scene")
    require_local(tmp_path / "here.tif", "scene")
