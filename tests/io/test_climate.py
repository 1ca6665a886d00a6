"""Finding climate grids by name: canonical names, synonyms, overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError, MissingVariableError
from lulcmap.io.climate import (
    CLIMATE_VARIABLES,
    SYNONYMS,
    canonical_name,
    climate_rasters,
    find_climate,
    parse_climate_var,
)


def folder_with(tmp_path: Path, *names: str) -> Path:
    """A folder of empty files (finding is by name only; nothing is opened)."""
    folder = tmp_path / "clim"
    folder.mkdir()
    for name in names:
        (folder / name).touch()
    return folder


def test_every_synonym_resolves_to_its_canonical_name() -> None:
    assert set(SYNONYMS) == set(CLIMATE_VARIABLES)
    for name, aliases in SYNONYMS.items():
        for alias in (name, *aliases):
            assert canonical_name(alias) == name
            assert canonical_name(alias.upper()) == name
    assert canonical_name("Temp-Ave") == "temp_ave"
    assert canonical_name("aridity") == "aridity"  # other names pass through, normalised


def test_synonyms_and_extensions_in_a_folder(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "pet.tif", "TMAX.TIFF", "tn.vrt", "Precip.nc", "tas.img",
                         "notes.txt", "tmax.tif.aux.xml")  # fmt: skip
    found = find_climate(folder, ["temp_max", "evapotranspiration", "temp_min",
                                  "precipitation", "temp_ave"])  # fmt: skip
    assert list(found) == ["temp_max", "evapotranspiration", "temp_min", "precipitation",
                           "temp_ave"]  # fmt: skip
    assert found["evapotranspiration"] == folder / "pet.tif"
    assert found["temp_max"] == folder / "TMAX.TIFF"
    assert found["temp_min"] == folder / "tn.vrt"
    assert found["precipitation"] == folder / "Precip.nc"
    assert found["temp_ave"] == folder / "tas.img"


def test_needed_synonyms_are_canonicalised(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "temp_ave.tif")
    assert find_climate(folder, ["tavg"]) == {"temp_ave": folder / "temp_ave.tif"}


def test_worldclim_names(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "wc2.1_10m_bio_1.tif", "wc2.1_10m_prec_01.tif")
    assert find_climate(folder, ["temp_ave"]) == {"temp_ave": folder / "wc2.1_10m_bio_1.tif"}
    with pytest.raises(MissingVariableError, match="precipitation"):  # January is not annual
        find_climate(folder, ["precipitation"])


def test_missing_variable_lists_what_was_found(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "pet.tif", "rain_2020.tif", "readme.md")
    with pytest.raises(MissingVariableError) as info:
        find_climate(folder, ["evapotranspiration", "precipitation", "temp_min"])
    message = str(info.value)
    assert "lacks precipitation, temp_min" in message
    assert "found pet, rain_2020" in message and "readme" not in message
    assert "<variable>.tif" in message and "--climate-var NAME=PATH" in message
    assert "\n" not in message


def test_empty_folder_says_no_rasters(tmp_path: Path) -> None:
    with pytest.raises(MissingVariableError, match="found no rasters"):
        find_climate(folder_with(tmp_path), ["temp_ave"])


def test_overrides_win(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "tmax.tif", "tmin.tif")
    other = tmp_path / "my_tx.tif"
    other.touch()
    found = find_climate(folder, ["temp_max", "temp_min"], overrides={"tasmax": other})
    assert found == {"temp_max": other, "temp_min": folder / "tmin.tif"}


def test_overrides_alone_need_no_folder(tmp_path: Path) -> None:
    path = tmp_path / "x.tif"
    path.touch()
    assert find_climate(None, ["temp_ave"], overrides={"tmean": path}) == {"temp_ave": path}


def test_override_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="--climate-var"):
        find_climate(None, ["temp_ave"], overrides={"temp_ave": tmp_path / "nope.tif"})


def test_nothing_needed_nothing_given() -> None:
    assert find_climate(None, []) == {}


def test_needed_but_no_folder() -> None:
    with pytest.raises(MissingVariableError, match="pass --climate FOLDER"):
        find_climate(None, ["temp_ave"])


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="does not exist"):
        find_climate(tmp_path / "nope", ["temp_ave"])


def test_two_files_for_one_variable(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "tmax.tif", "temp_max.vrt")
    with pytest.raises(InputDataError, match=r"2 files for temp_max .*--climate-var temp_max="):
        find_climate(folder, ["temp_max"])
    # an override settles it
    assert find_climate(folder, ["temp_max"], overrides={"tx": folder / "tmax.tif"})


def test_climate_rasters_lists_every_variable_in_order(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "zeta.tif", "tmin.tif", "aridity.vrt", "PET.tif", "x.txt")
    extra = tmp_path / "t.tif"
    extra.touch()
    found = climate_rasters(folder, {"tas": extra, "tmin": extra})
    assert found == {
        "evapotranspiration": folder / "PET.tif",
        "temp_ave": extra,
        "temp_min": extra,  # an override wins over the folder
        "aridity": folder / "aridity.vrt",
        "zeta": folder / "zeta.tif",
    }
    assert list(found) == ["evapotranspiration", "temp_ave", "temp_min", "aridity", "zeta"]
    assert climate_rasters(None, {}) == {}


def test_climate_rasters_refuses_two_files_for_any_variable(tmp_path: Path) -> None:
    """The folder as a whole is checked (prepare records every variable), with the message
    :func:`find_climate` gives for a needed one."""
    folder = folder_with(tmp_path, "aridity.tif", "Aridity.vrt", "tmax.tif")
    with pytest.raises(InputDataError, match=r"2 files for aridity \(Aridity.vrt, aridity.tif\)"):
        climate_rasters(folder, {})
    assert find_climate(folder, ["temp_max"]) == {"temp_max": folder / "tmax.tif"}


def test_climate_rasters_checks_folder_and_overrides(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match=r"climate folder .* does not exist"):
        climate_rasters(tmp_path / "nope", {})
    with pytest.raises(InputNotFoundError, match=r"climate grid temp_ave .* does not exist"):
        climate_rasters(None, {"tmean": tmp_path / "no.tif"})


def test_parse_climate_var() -> None:
    assert parse_climate_var("tmax=/data/tx.tif") == ("temp_max", Path("/data/tx.tif"))
    assert parse_climate_var(" PET = a=b.tif ") == ("evapotranspiration", Path("a=b.tif"))
    for bad in ("tmax", "=x.tif", "tmax=", ""):
        with pytest.raises(ConfigError, match="NAME=PATH"):
            parse_climate_var(bad)


@pytest.mark.realdata
def test_worldclim_sample_folder(data_dir: Path) -> None:
    folder = data_dir / "worldclim-10m"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    assert find_climate(folder, ["bio_1"]) == {"temp_ave": folder / "wc2.1_10m_bio_1.tif"}
