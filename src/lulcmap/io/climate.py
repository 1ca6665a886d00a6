"""Find the climate grids a model needs: one raster per variable in a folder, or given one by one.

The canonical names are the original workflow's CSV columns. A file matches a variable when its
stem (case-insensitive; ``-`` and spaces read as ``_``) is the canonical name or a synonym, with
any GDAL raster extension (``.tif``, ``.tiff``, ``.vrt``, ``.nc``, ``.img``, ``.asc``, ...).
WorldClim 2.1 file names (``wc2.1_30s_bio_1.tif``) are matched on the part after the
resolution, so ``bio_1`` finds ``temp_ave``.

======================  ===========================================================
canonical name          accepted synonyms
======================  ===========================================================
``evapotranspiration``  et, pet, et0, eto, evapotranspiration_mm
``precipitation``       prec, precip, pr, ppt, rain, bio12, bio_12
``temp_ave``            tavg, tmean, tas, temp, t_mean, bio1, bio_1
``temp_max``            tmax, tasmax, tx
``temp_min``            tmin, tasmin, tn
======================  ===========================================================

Other variable names (a model card may list its own) match their own stem only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError, MissingVariableError

CLIMATE_VARIABLES = ("evapotranspiration", "precipitation", "temp_ave", "temp_max", "temp_min")

SYNONYMS: dict[str, tuple[str, ...]] = {
    "evapotranspiration": ("et", "pet", "et0", "eto", "evapotranspiration_mm"),
    "precipitation": ("prec", "precip", "pr", "ppt", "rain", "bio12", "bio_12"),
    "temp_ave": ("tavg", "tmean", "tas", "temp", "t_mean", "bio1", "bio_1"),
    "temp_max": ("tmax", "tasmax", "tx"),
    "temp_min": ("tmin", "tasmin", "tn"),
}
"""Canonical climate variable -> accepted file stems / ``--climate-var`` names."""

# fmt: off
RASTER_EXTENSIONS = frozenset({
    ".tif", ".tiff", ".gtiff", ".vrt", ".nc", ".nc4", ".img", ".asc",
    ".grd", ".bil", ".jp2", ".sdat", ".rst", ".hdf", ".h5", ".kea",
})
# fmt: on
"""File extensions looked at in a climate folder (GDAL raster formats)."""

_LOOKUP = {alias: name for name, aliases in SYNONYMS.items() for alias in (name, *aliases)}
_WORLDCLIM = re.compile(r"^wc\d+(?:\.\d+)?_[^_]+_(.+)$")
_FIX = "name the files <variable>.tif (e.g. temp_ave.tif) or pass --climate-var NAME=PATH"


def canonical_name(name: str) -> str:
    """The canonical variable for a name or synonym; other names come back normalised."""
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    return _LOOKUP.get(key, key)


def variable_of(stem: str) -> str:
    """The variable a file stem stands for (WorldClim prefixes stripped)."""
    key = canonical_name(stem)
    match = _WORLDCLIM.match(key)
    return canonical_name(match.group(1)) if match else key


def parse_climate_var(text: str) -> tuple[str, Path]:
    """Parse the CLI's ``NAME=PATH`` (NAME may be a synonym) into ``(canonical name, path)``."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ConfigError(
            f"--climate-var expects NAME=PATH, e.g. temp_ave=/data/tavg.tif; got {text!r}"
        )
    return canonical_name(name), Path(path.strip()).expanduser()


def _rasters_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        reason = "is not a folder" if folder.exists() else "does not exist"
        raise InputNotFoundError(
            f"climate folder {folder} {reason}; pass the folder holding one raster per variable"
        )
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in RASTER_EXTENSIONS)


def _by_variable(files: list[Path], wanted: Sequence[str] | None) -> dict[str, Path]:
    """The file of each variable among ``files`` (of ``wanted`` only, unless None)."""
    hits: dict[str, list[Path]] = {}
    for path in files:
        name = variable_of(path.stem)
        if wanted is None or name in wanted:
            hits.setdefault(name, []).append(path)
    for name in [*(wanted or []), *hits]:
        paths = hits.get(name, [])
        if len(paths) > 1:
            raise InputDataError(
                f"climate folder {paths[0].parent} has {len(paths)} files for {name} "
                f"({', '.join(p.name for p in paths)}); keep one, or choose one with "
                f"--climate-var {name}=PATH"
            )
    return {name: paths[0] for name, paths in hits.items()}


def _given(overrides: Mapping[str, Path]) -> dict[str, Path]:
    given = {canonical_name(k): Path(v).expanduser() for k, v in overrides.items()}
    for name, path in given.items():
        if not path.exists():
            raise InputNotFoundError(
                f"climate grid {name} {path} does not exist; check the --climate-var path"
            )
    return given


def climate_rasters(folder: Path | None, overrides: Mapping[str, Path]) -> dict[str, Path]:
    """Every climate raster on offer, keyed by variable: each raster of ``folder`` that names a
    variable, then ``overrides`` (``--climate-var NAME=PATH``), which win. Canonical variables
    come first, in :data:`CLIMATE_VARIABLES` order, then the others sorted by name.

    Raises:
        InputNotFoundError: the folder or an override path does not exist.
        InputDataError: the folder holds two files for one variable.
    """
    files = _rasters_in(Path(folder)) if folder is not None else []
    found = {**_by_variable(files, None), **_given(overrides)}
    extra = sorted(set(found) - {*CLIMATE_VARIABLES})
    return {n: found[n] for n in [*(n for n in CLIMATE_VARIABLES if n in found), *extra]}


def check_climate_paths(folder: Path | None, overrides: Mapping[str, Path]) -> None:
    """The checks of :func:`find_climate` that need no model: the folder is a folder and every
    override path exists (the command line runs them before it loads the model)."""
    _given(overrides)
    if folder is not None:
        _rasters_in(Path(folder))


def find_climate(
    folder: Path | None,
    needed: Sequence[str],
    *,
    overrides: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """The raster of each needed climate variable, keyed by canonical name, in ``needed`` order.

    ``overrides`` (from ``--climate-var NAME=PATH``; NAME may be a synonym) win over the folder.

    Raises:
        InputNotFoundError: the folder or an override path does not exist.
        MissingVariableError: a needed variable is neither overridden nor in the folder.
        InputDataError: the folder holds two files for one needed variable.
    """
    wanted = [canonical_name(n) for n in needed]
    given = _given(overrides or {})
    rest = [n for n in wanted if n not in given]
    if rest and folder is None:
        raise MissingVariableError(
            f"the model needs climate variables {', '.join(rest)} but no climate grids were "
            f"given; pass --climate FOLDER (one raster per variable) or --climate-var NAME=PATH"
        )
    files = _rasters_in(Path(folder)) if rest and folder is not None else []
    found = _by_variable(files, rest)
    missing = [n for n in rest if n not in found]
    if missing:
        stems = ", ".join(p.stem for p in files) or "no rasters"
        raise MissingVariableError(
            f"climate folder {folder} lacks {', '.join(missing)}: the model needs "
            f"{', '.join(wanted)}; found {stems}; {_FIX}"
        )
    resolved = {**given, **found}
    return {n: resolved[n] for n in wanted}


__all__ = [
    "CLIMATE_VARIABLES",
    "RASTER_EXTENSIONS",
    "SYNONYMS",
    "canonical_name",
    "check_climate_paths",
    "climate_rasters",
    "find_climate",
    "parse_climate_var",
    "variable_of",
]
