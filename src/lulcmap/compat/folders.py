"""The original LifeWatch workflow's chip folders and CSVs: reading them with the original's
checks, and writing CSVs as it does.

The original reads ``RGB satellite images folder/`` (224 x 224 RGB chips) and ``Environmental
ancillary data CSV file.csv`` (``filename`` and seven ancillary columns). Its users keep their
files:

read    = :func:`read_chip_folder`  the layout, with the original's checks as clear errors
images  = :func:`read_chip`         one chip (JPG, PNG, TIFF) as uint8 ``(3, S, S)``
write   = :func:`write_csv`         a CSV byte-compatible with the original's
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import rasterio.io
from PIL import Image, UnidentifiedImageError
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from lulcmap.ancillary import DEM_VARIABLES
from lulcmap.compat.layout import ANCILLARY_CSV, IMAGES_FOLDER
from lulcmap.errors import ConfigError, InputDataError, InputNotFoundError
from lulcmap.io.climate import CLIMATE_VARIABLES, canonical_name
from lulcmap.io.env import gdal_env
from lulcmap.io.writers import atomic_outputs

ANCILLARY_COLUMNS = (*CLIMATE_VARIABLES, *DEM_VARIABLES)
"""The original CSV's ancillary columns, in its order (after ``filename``)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
PathLike = str | os.PathLike[str]


def few(names: Sequence[str], n: int = 3) -> str:
    """Up to ``n`` names, and how many there are in all."""
    shown = ", ".join(names[:n])
    return shown + (f", … ({len(names)} in all)" if len(names) > n else "")


# -- reading the layout -------------------------------------------------------------------------
@dataclass(frozen=True)
class ChipFolder:
    """A checked chip folder: one image per CSV row, in the CSV's order.

    Attributes:
        images_dir: the folder of chips.
        csv: the ancillary CSV.
        files: the image of each row.
        table: ``filename`` then the numeric columns asked for (float64), one row per chip.
    """

    images_dir: Path
    csv: Path
    files: tuple[Path, ...]
    table: pd.DataFrame

    @property
    def filenames(self) -> list[str]:
        return self.table["filename"].tolist()

    def __len__(self) -> int:
        return len(self.files)


def layout_paths(
    input_dir: PathLike | None, *, images: PathLike | None = None, ancillary: PathLike | None = None
) -> tuple[Path, Path]:
    """The images folder and the CSV: from the original layout under ``input_dir``, each
    replaced by ``images`` / ``ancillary`` when given."""
    if input_dir is None and (images is None or ancillary is None):
        raise ConfigError(
            "give INPUT_DIR (holding the original layout) or both --images DIR and --ancillary CSV"
        )
    base = Path(input_dir) if input_dir is not None else Path()
    if input_dir is not None and not base.is_dir():
        raise InputNotFoundError(f"input folder {base} does not exist; check the path")
    img = Path(images) if images is not None else base / IMAGES_FOLDER
    csv = Path(ancillary) if ancillary is not None else base / ANCILLARY_CSV
    if not img.is_dir():
        raise InputNotFoundError(
            f"images folder {img} does not exist; INPUT_DIR must hold '{IMAGES_FOLDER}/' "
            "and the ancillary CSV, or pass --images DIR"
        )
    if not csv.is_file():
        raise InputNotFoundError(
            f"ancillary CSV {csv} does not exist; INPUT_DIR must hold '{ANCILLARY_CSV}', "
            "or pass --ancillary CSV"
        )
    return img, csv


def list_images(folder: PathLike) -> list[Path]:
    """The chips in a folder (JPG, PNG, TIFF; hidden files skipped), sorted by name."""
    folder = Path(folder)
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise InputDataError(
            f"images folder {folder} holds no chips; put the 224x224 RGB chips there as "
            ".jpg, .png or .tif files"
        )
    return files


def read_csv(path: PathLike, *, what: str = "ancillary CSV") -> pd.DataFrame:
    """A CSV with every value as text (so checks can say where a bad value is)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(
            f"{what} {path} cannot be read as CSV ({reason}); save it as comma-separated UTF-8 "
            "with a header line"
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    if len(table.columns) == 1 and ";" in table.columns[0]:
        raise InputDataError(
            f"{what} {path} uses ';' between columns; save it with ',' between columns and '.' "
            "as the decimal mark"
        )
    return table


def numeric_columns(
    table: pd.DataFrame, columns: Sequence[str], path: Path, key: str
) -> pd.DataFrame:
    """``columns`` as float64; the first non-numeric value is an error that says where."""
    out = pd.DataFrame({key: table[key]})
    for col in columns:
        values = pd.to_numeric(table[col].str.strip(), errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=np.float64)))
        if bad.size:
            i = int(bad[0])
            raise InputDataError(
                f"{path.name}: column {col} of row {i + 1} ({key} {table[key].iloc[i]}) is "
                f"{table[col].iloc[i]!r}, not a number ({bad.size} such value(s) in {col}); "
                "write plain numbers with '.' as the decimal mark"
            )
        out[col] = values.astype(np.float64)
    return out


def _match(rows: list[str], files: list[Path], img: Path, csv: Path) -> tuple[Path, ...]:
    """The image of each CSV row; images without a row and rows without an image are errors."""
    by_name = {p.name: p for p in files}
    no_image = [r for r in rows if r not in by_name]
    if no_image:
        raise InputDataError(
            f"{len(no_image)} row(s) of {csv.name} name images that are not in {img}: "
            f"{few(no_image)}; add those images or remove their rows"
        )
    listed = set(rows)
    no_row = [p.name for p in files if p.name not in listed]
    if no_row:
        raise InputDataError(
            f"{len(no_row)} image(s) in {img} have no row in {csv.name}: {few(no_row)}; "
            "add their rows (filename and ancillary values) or move the images out"
        )
    return tuple(by_name[r] for r in rows)


def read_chip_folder(
    input_dir: PathLike | None = None,
    *,
    images: PathLike | None = None,
    ancillary: PathLike | None = None,
    columns: Sequence[str] = ANCILLARY_COLUMNS,
    chip_size: int = 224,
) -> ChipFolder:
    """Read and check the original layout (or an explicit images folder and CSV).

    Checks, as the original does, each raising a one-line :class:`InputDataError`: chips are
    ``chip_size`` x ``chip_size`` x 3 (8-bit RGB); every image has a CSV row and every row an
    image; ``filename`` and ``columns`` are present; their values are numbers.
    """
    img, csv = layout_paths(input_dir, images=images, ancillary=ancillary)
    files = list_images(img)
    raw = read_csv(csv)
    found = {canonical_name(c): c for c in raw.columns}
    columns = sorted(
        columns, key=lambda c: ANCILLARY_COLUMNS.index(c) if c in ANCILLARY_COLUMNS else 99
    )
    wanted = ["filename", *columns]
    missing = [c for c in wanted if canonical_name(c) not in found]
    if missing:
        raise InputDataError(
            f"{csv.name} lacks column(s) {', '.join(missing)}; it has {', '.join(raw.columns)}; "
            f"the header must name filename and {', '.join(columns)}"
        )
    raw = raw.rename(columns={found[canonical_name(c)]: c for c in wanted})[wanted]
    if raw.empty:
        raise InputDataError(f"{csv.name} has a header but no rows; add one row per image")
    dupes = sorted(set(raw["filename"][raw["filename"].duplicated()]))
    if dupes:
        raise InputDataError(
            f"{csv.name} lists {few(dupes)} more than once; keep one row per image"
        )
    paths = _match(raw["filename"].tolist(), files, img, csv)
    table = numeric_columns(raw, list(columns), csv, "filename")
    for path in paths:
        check_chip(path, chip_size)
    return ChipFolder(img, csv, paths, table)


# -- images -------------------------------------------------------------------------------------
def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in (".tif", ".tiff")


def _open_tiff(path: Path) -> rasterio.io.DatasetReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        return rasterio.open(path)


def _unreadable(path: Path, exc: Exception) -> InputDataError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputDataError(
        f"image {path.name} cannot be read ({reason}); chips must be JPG, PNG or TIFF files; "
        "replace or remove the damaged file"
    )


def _image_info(path: Path) -> tuple[int, int, int, str]:
    """``(height, width, bands, dtype)`` from the file's header (nothing decoded)."""
    try:
        if _is_tiff(path):
            with gdal_env(), _open_tiff(path) as ds:
                return ds.height, ds.width, ds.count, str(ds.dtypes[0])
        with Image.open(path) as im:
            dtype = "uint8" if im.mode in ("RGB", "RGBA", "L", "LA", "P", "CMYK") else im.mode
            return im.height, im.width, len(im.getbands()), dtype
    except (OSError, UnidentifiedImageError, RasterioIOError) as exc:
        raise _unreadable(path, exc) from None


def _check_size(path: Path, h: int, w: int, bands: int, dtype: str, chip_size: int) -> None:
    if (h, w, bands, dtype) != (chip_size, chip_size, 3, "uint8"):
        raise InputDataError(
            f"image {path.name} is {w}x{h} px with {bands} band(s) of {dtype}; chips must be "
            f"{chip_size}x{chip_size}x3, i.e. {chip_size}x{chip_size} px 8-bit RGB (the model's "
            "chip size); crop or resample it to that size and save it as 8-bit RGB"
        )


def check_chip(path: PathLike, chip_size: int = 224) -> None:
    """An image must be ``chip_size`` x ``chip_size`` x 3, 8-bit (the original's check)."""
    path = Path(path)
    _check_size(path, *_image_info(path), chip_size)


def read_chip(path: PathLike, chip_size: int = 224) -> np.ndarray:
    """A chip as uint8 ``(3, chip_size, chip_size)``, taken as already in the model's radiometry."""
    path = Path(path)
    try:
        if _is_tiff(path):
            with gdal_env(), _open_tiff(path) as ds:
                chip = ds.read()
        else:
            with Image.open(path) as im:
                pixels = np.asarray(im)
            chip = pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels[None]
    except (OSError, UnidentifiedImageError, RasterioIOError) as exc:
        raise _unreadable(path, exc) from None
    _check_size(path, chip.shape[1], chip.shape[2], chip.shape[0], str(chip.dtype), chip_size)
    return np.ascontiguousarray(chip)


# -- writing ------------------------------------------------------------------------------------
def write_csv(table: pd.DataFrame, path: PathLike) -> Path:
    """A CSV as the original writes it: comma-separated, ``\\n`` line ends, quotes only where a
    field holds a comma or a quote, floats at full precision, no index."""
    table.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return Path(path)


def write_table_csv(table: pd.DataFrame, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write one CSV atomically (temporary name, then rename)."""
    path = Path(path)
    with atomic_outputs(path.parent, [path.name], overwrite=overwrite) as staging:
        write_csv(table, staging / path.name)
    return path


__all__ = [
    "ANCILLARY_COLUMNS",
    "ANCILLARY_CSV",
    "IMAGES_FOLDER",
    "IMAGE_SUFFIXES",
    "ChipFolder",
    "PathLike",
    "check_chip",
    "few",
    "layout_paths",
    "list_images",
    "numeric_columns",
    "read_chip",
    "read_chip_folder",
    "read_csv",
    "write_csv",
    "write_table_csv",
]
