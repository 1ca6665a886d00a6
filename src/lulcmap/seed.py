"""The original LifeWatch workflow's files: chip folders in, abundance CSVs out, ancillary CSVs.

The original reads ``RGB satellite images folder/`` (224 x 224 RGB chips) and ``Environmental
ancillary data CSV file.csv`` (``filename`` and seven ancillary columns), and writes
``Abundance estimation results at level N1.csv`` / ``... N2.csv``: ``filename``, then one column
per class in legend order, in percent. Its users keep their files:

read   = :func:`read_chip_folder`  the layout, with the original's checks as clear errors
infer  = :func:`predict_chips`     batches of chips through a carded model (bounded memory)
write  = :func:`write_seed_csvs`   the CSVs, atomically, byte-compatible with the original

For chips whose centres are known (the original file names end in ``__(+lat,lon).jpg``),
:func:`chip_ancillary` computes that ancillary CSV from a DEM and climate grids, over the footprint
``predict`` would see: ``chip_size`` pixels of ``pixel_size`` m centred on the point, in the
point's UTM zone, with :func:`lulcmap.ancillary.footprint_ancillary`'s means.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import rasterio.io
import torch
from PIL import Image, UnidentifiedImageError
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import transform as transform_points

from lulcmap.ancillary import DEM_VARIABLES, footprint_ancillary
from lulcmap.errors import (
    ConfigError,
    CoverageError,
    InputDataError,
    InputNotFoundError,
    ModelCardError,
    OutputExistsError,
)
from lulcmap.io.climate import CLIMATE_VARIABLES, canonical_name
from lulcmap.io.env import gdal_env
from lulcmap.io.rasters import extent, open_raster
from lulcmap.io.writers import atomic_outputs
from lulcmap.legend import Legend
from lulcmap.model.card import ModelCard
from lulcmap.model.registry import load_model, resolve_card
from lulcmap.pipeline import CardedModel, resolve_device
from lulcmap.seed_layout import ANCILLARY_CSV, IMAGES_FOLDER

log = logging.getLogger(__name__)

SEED_COLUMNS = (*CLIMATE_VARIABLES, *DEM_VARIABLES)
"""The original CSV's ancillary columns, in its order (after ``filename``)."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
_CENTRE = re.compile(r"__\(\s*([+-]?\d+(?:\.\d*)?)\s*,\s*([+-]?\d+(?:\.\d*)?)\s*\)\.[^.]+$")
_LAT_NAMES, _LON_NAMES = ("lat", "latitude"), ("lon", "lng", "long", "longitude")
PathLike = str | os.PathLike[str]


def output_name(level: str) -> str:
    """The original's output file name for a level (``N1`` or ``N2``)."""
    return f"Abundance estimation results at level {level}.csv"


def _few(names: Sequence[str], n: int = 3) -> str:
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


def seed_paths(
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


def _numeric(table: pd.DataFrame, columns: Sequence[str], path: Path, key: str) -> pd.DataFrame:
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
            f"{_few(no_image)}; add those images or remove their rows"
        )
    listed = set(rows)
    no_row = [p.name for p in files if p.name not in listed]
    if no_row:
        raise InputDataError(
            f"{len(no_row)} image(s) in {img} have no row in {csv.name}: {_few(no_row)}; "
            "add their rows (filename and ancillary values) or move the images out"
        )
    return tuple(by_name[r] for r in rows)


def read_chip_folder(
    input_dir: PathLike | None = None,
    *,
    images: PathLike | None = None,
    ancillary: PathLike | None = None,
    columns: Sequence[str] = SEED_COLUMNS,
    chip_size: int = 224,
) -> ChipFolder:
    """Read and check the original layout (or an explicit images folder and CSV).

    Checks, as the original does, each raising a one-line :class:`InputDataError`: chips are
    ``chip_size`` x ``chip_size`` x 3 (8-bit RGB); every image has a CSV row and every row an
    image; ``filename`` and ``columns`` are present; their values are numbers.
    """
    img, csv = seed_paths(input_dir, images=images, ancillary=ancillary)
    files = list_images(img)
    raw = read_csv(csv)
    found = {canonical_name(c): c for c in raw.columns}
    columns = sorted(columns, key=lambda c: SEED_COLUMNS.index(c) if c in SEED_COLUMNS else 99)
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
            f"{csv.name} lists {_few(dupes)} more than once; keep one row per image"
        )
    paths = _match(raw["filename"].tolist(), files, img, csv)
    table = _numeric(raw, list(columns), csv, "filename")
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


# -- inference ----------------------------------------------------------------------------------
def model_levels(card: ModelCard) -> tuple[str, ...]:
    """Levels a model gives: N2 models give N1 too (the legend's sum); N1 models only N1."""
    return ("N1", "N2") if "N2" in card.levels else ("N1",)


def resolve_levels(level: str | None, card: ModelCard) -> tuple[str, ...]:
    """``N1``, ``N2``, ``both`` or ``None`` (every level the model gives) -> levels to write."""
    if level is None:
        return model_levels(card)
    wanted = {"N1": ("N1",), "N2": ("N2",), "BOTH": ("N1", "N2")}.get(level.strip().upper())
    if wanted is None:
        raise ConfigError(f"--level must be N1, N2 or both, got {level!r}")
    _check_levels(wanted, card)
    return wanted


def _check_levels(levels: Sequence[str], card: ModelCard) -> None:
    have = model_levels(card)
    lacking = [lv for lv in levels if lv not in have]
    if lacking:
        raise ConfigError(
            f"model {card.id} gives only {' and '.join(have)} abundances (its card's levels: "
            f"{', '.join(card.levels)}), not {' and '.join(lacking)}; pass --level "
            f"{have[0] if len(have) == 1 else 'both'} or a model of that level"
        )


def _load_batch(folder: ChipFolder, rows: np.ndarray, chip_size: int) -> np.ndarray:
    return np.stack([read_chip(folder.files[i], chip_size) for i in rows])


def predict_chips(
    folder: ChipFolder,
    model: CardedModel,
    *,
    levels: Sequence[str] | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Abundances of every chip, in percent, per level: ``filename`` then one column per class.

    Chips go through ``model`` in batches of ``batch_size``; the next batch is decoded in a
    background thread while the model runs, so at most two batches are in memory. Ancillary
    values are taken from ``folder.table`` by name in the order of the model's card. N1 of an
    N2 model is the legend's sum of its N2 percents.
    """
    card, legend = model.card, model.card.get_legend()
    levels = tuple(levels) if levels is not None else model_levels(card)
    _check_levels(levels, card)
    anc = folder.table[card.ancillary_names].to_numpy(np.float32) if card.ancillary_names else None
    n, size = len(folder), card.input.chip_size
    starts = range(0, n, max(1, batch_size))
    batches = [np.arange(s, min(s + batch_size, n)) for s in starts]
    level = model_levels(card)[-1]
    percent = np.empty((n, len(legend.classes(level))), np.float64)
    dev = torch.device(device)
    if n == 0:
        return _tables([], percent, level, levels, legend)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lulcmap-chips") as pool:
        pending = pool.submit(_load_batch, folder, batches[0], size)
        for b, rows in enumerate(batches):
            images = pending.result()
            if b + 1 < len(batches):
                pending = pool.submit(_load_batch, folder, batches[b + 1], size)
            values = anc[rows] if anc is not None else np.zeros((len(rows), 0), np.float32)
            percent[rows] = _run(model, images, values, dev, len(legend.classes(level))) * 100.0
            if on_progress is not None:
                on_progress(int(rows[-1]) + 1, n)
    log.info("predicted %d chips of %s with model %s", n, folder.images_dir, card.id)
    return _tables(folder.filenames, percent, level, levels, legend)


def _run(
    model: CardedModel, images: np.ndarray, anc: np.ndarray, device: torch.device, n_classes: int
) -> np.ndarray:
    with torch.inference_mode():
        out = model(torch.from_numpy(images).to(device), torch.from_numpy(anc).to(device))
    values = out.float().cpu().numpy().astype(np.float64)
    if values.shape != (len(images), n_classes):
        raise ModelCardError(
            f"model {model.card.id} returned abundances of shape {tuple(values.shape)} for "
            f"{len(images)} chips but its card's legend and levels give {n_classes} classes; "
            "check `legend` and `levels` in the card"
        )
    return values


def _tables(
    names: list[str], percent: np.ndarray, level: str, levels: Sequence[str], legend: Legend
) -> dict[str, pd.DataFrame]:
    by_level = {level: percent}
    if level == "N2":
        by_level["N1"] = legend.aggregate(percent, axis=1)
    tables = {}
    for lv in levels:
        table = pd.DataFrame(by_level[lv], columns=legend.names(lv))
        table.insert(0, "filename", names)
        tables[lv] = table
    return tables


# -- writing ------------------------------------------------------------------------------------
def write_csv(table: pd.DataFrame, path: PathLike) -> Path:
    """A CSV as the original writes it: comma-separated, ``\\n`` line ends, quotes only where a
    field holds a comma or a quote, floats at full precision, no index."""
    table.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return Path(path)


def check_outputs_free(out_dir: PathLike, names: Sequence[str], overwrite: bool) -> None:
    """Fail before any work when an output exists and ``overwrite`` is not set."""
    existing = [n for n in names if (Path(out_dir) / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out_dir} already holds {', '.join(existing)}; pass --overwrite to replace "
            "them or choose another --out"
        )


def write_seed_csvs(
    tables: Mapping[str, pd.DataFrame], out_dir: PathLike, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``Abundance estimation results at level <L>.csv`` per level, all or nothing."""
    names = {lv: output_name(lv) for lv in tables}
    with atomic_outputs(out_dir, names.values(), overwrite=overwrite) as staging:
        for lv, table in tables.items():
            write_csv(table, staging / names[lv])
    return {lv: Path(out_dir) / name for lv, name in names.items()}


def run_chips(
    input_dir: PathLike | None,
    *,
    out: PathLike,
    images: PathLike | None = None,
    ancillary: PathLike | None = None,
    level: str | None = None,
    model: str | Path | ModelCard | CardedModel | None = None,
    batch_size: int = 64,
    device: str = "auto",
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """The ``chips`` command: every check first, then load the model, predict, write the CSVs.

    ``model`` is a shipped model's id, a card (path or object) or a loaded model; ``level`` is
    ``N1``, ``N2``, ``both`` or None (every level the model gives).
    """
    card = model.card if isinstance(model, CardedModel) else resolve_card(model)
    levels = resolve_levels(level, card)
    check_outputs_free(out, [output_name(lv) for lv in levels], overwrite)
    folder = read_chip_folder(
        input_dir,
        images=images,
        ancillary=ancillary,
        columns=card.ancillary_names,
        chip_size=card.input.chip_size,
    )
    dev = resolve_device(device)
    net = model if isinstance(model, CardedModel) else load_model(card, device=dev)
    tables = predict_chips(
        folder, net, levels=levels, batch_size=batch_size, device=dev, on_progress=on_progress
    )
    return write_seed_csvs(tables, out, overwrite=overwrite)


# -- ancillary for chips with known centres -----------------------------------------------------
def centre_from_name(name: str) -> tuple[float, float] | None:
    """``(lat, lon)`` from the original file-name pattern ``…__(+lat,lon).jpg``, else None."""
    match = _CENTRE.search(name)
    return (float(match.group(1)), float(match.group(2))) if match else None


def _centres_from_names(names: list[str], where: str) -> pd.DataFrame:
    centres = [centre_from_name(n) for n in names]
    bad = [n for n, c in zip(names, centres, strict=True) if c is None]
    if bad:
        raise InputDataError(
            f"{len(bad)} file name(s) in {where} carry no centre: {_few(bad)}; expected the "
            "original pattern …__(+lat,lon).jpg, or give a CSV with filename, lat and lon columns"
        )
    lat, lon = zip(*(c for c in centres if c is not None), strict=True)
    return pd.DataFrame({"filename": names, "lat": lat, "lon": lon})


def _pick_column(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in table.columns}
    return next((lower[n] for n in names if n in lower), None)


def read_chip_centres(source: PathLike) -> pd.DataFrame:
    """``filename``, ``lat``, ``lon`` of each chip (degrees, WGS84), in the source's order.

    ``source`` is an images folder, the original layout's folder, or a CSV with ``filename``
    and ``lat``/``latitude`` and ``lon``/``longitude`` columns (without them, the CSV's
    file names must follow the original pattern ``…__(+lat,lon).jpg``).
    """
    path = Path(source)
    if not path.exists():
        raise InputNotFoundError(f"{path} does not exist; give an images folder or a CSV")
    if path.is_dir():
        folder = path / IMAGES_FOLDER if (path / IMAGES_FOLDER).is_dir() else path
        centres = _centres_from_names([p.name for p in list_images(folder)], str(folder))
    else:
        table = read_csv(path, what="chip CSV")
        if "filename" not in table.columns:
            raise InputDataError(
                f"chip CSV {path} lacks a filename column; it has {', '.join(table.columns)}; "
                "give filename, lat and lon columns"
            )
        if table.empty:
            raise InputDataError(f"chip CSV {path} has no rows; add one row per chip")
        lat, lon = _pick_column(table, _LAT_NAMES), _pick_column(table, _LON_NAMES)
        if lat is None or lon is None:
            centres = _centres_from_names(table["filename"].tolist(), path.name)
        else:
            centres = _numeric(table, [lat, lon], path, "filename")
            centres = centres.rename(columns={lat: "lat", lon: "lon"})
    _check_degrees(centres)
    return centres


def _check_degrees(centres: pd.DataFrame) -> None:
    off = ~(centres["lat"].abs().le(90) & centres["lon"].abs().le(180))
    if off.any():
        row = centres[off].iloc[0]
        raise InputDataError(
            f"chip {row['filename']} has lat {row['lat']}, lon {row['lon']}: not degrees "
            "(lat -90..90, lon -180..180, WGS84); check the order and the units"
        )


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS84 UTM zone of a point (326xx north, 327xx south), with the
    Norway and Svalbard exceptions that Sentinel-2's tiling follows."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32
    elif 72.0 <= lat < 84.0 and 0.0 <= lon < 42.0:
        zone = 31 if lon < 9 else 33 if lon < 21 else 35 if lon < 33 else 37
    return (32600 if lat >= 0 else 32700) + zone


def chip_footprints(
    centres: pd.DataFrame, *, chip_size: int = 224, pixel_size: float = 10.0
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per UTM zone (EPSG code): the row indexes and the footprints ``(n, 4)`` there."""
    if chip_size < 1 or pixel_size <= 0:
        raise ConfigError(
            f"--chip-size must be >= 1 and --pixel-size > 0, got {chip_size} and {pixel_size}"
        )
    lat, lon = centres["lat"].to_numpy(float), centres["lon"].to_numpy(float)
    epsg = np.array([utm_epsg(a, o) for a, o in zip(lat, lon, strict=True)])
    half = chip_size * pixel_size / 2.0
    zones = {}
    for code in np.unique(epsg):
        index = np.flatnonzero(epsg == code)
        to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True)
        x, y = to_utm.transform(lon[index], lat[index])
        zones[int(code)] = (index, np.stack([x - half, y - half, x + half, y + half], axis=1))
    return zones


def _check_covered(
    path: PathLike, what: str, zones: Mapping[int, tuple[np.ndarray, np.ndarray]], names: list[str]
) -> None:
    """Every footprint lies inside the raster (within half a pixel); say which do not."""
    bad: list[int] = []
    with open_raster(path, what=what) as ds:
        left, bottom, right, top = extent(ds)
        hx, hy = abs(ds.transform.a) / 2, abs(ds.transform.e) / 2
        for code, (index, fp) in zones.items():
            xs = np.stack([fp[:, 0], fp[:, 2], fp[:, 0], fp[:, 2], fp[:, 0], fp[:, 2]], axis=1)
            mid = (fp[:, 1] + fp[:, 3]) / 2
            ys = np.stack([fp[:, 1], fp[:, 1], fp[:, 3], fp[:, 3], mid, mid], axis=1)
            tx, ty = transform_points(CRS.from_epsg(code), ds.crs, xs.ravel(), ys.ravel())
            tx, ty = np.reshape(tx, xs.shape), np.reshape(ty, ys.shape)
            out = (
                (tx.min(axis=1) < left - hx)
                | (tx.max(axis=1) > right + hx)
                | (ty.min(axis=1) < bottom - hy)
                | (ty.max(axis=1) > top + hy)
            )
            bad.extend(index[out].tolist())
    if bad:
        raise CoverageError(
            f"{what} {path} does not cover {len(bad)} of {len(names)} chip footprints: "
            f"{_few([names[i] for i in sorted(bad)])}; supply a {what} that covers every chip "
            "(or leave those chips out)"
        )


def chip_ancillary(
    centres: pd.DataFrame,
    *,
    dem: PathLike,
    climate: Mapping[str, PathLike] | None = None,
    chip_size: int = 224,
    pixel_size: float = 10.0,
) -> pd.DataFrame:
    """The original ancillary CSV's table for chips centred on ``centres`` (lat/lon degrees).

    Columns: ``filename``, the climate variables given (original names and order; others after
    them), then ``elevation`` and ``slope`` (m and degrees, from ``dem``). Each value is the mean
    over the chip's footprint in its UTM zone, as ``predict`` computes it; NaN (an empty cell)
    where the footprint holds no valid data.
    """
    climate = {canonical_name(k): v for k, v in (climate or {}).items()}
    order = [c for c in CLIMATE_VARIABLES if c in climate]
    order += [c for c in climate if c not in order]
    variables = [*order, *DEM_VARIABLES]
    names = centres["filename"].tolist()
    zones = chip_footprints(centres, chip_size=chip_size, pixel_size=pixel_size)
    _check_covered(dem, "DEM", zones, names)
    for name, path in climate.items():
        _check_covered(path, f"climate grid {name}", zones, names)
    values = {v: np.full(len(centres), np.nan) for v in variables}
    for code, (index, fp) in zones.items():
        log.info("%d chips in EPSG:%d", len(index), code)
        means = footprint_ancillary(
            fp,
            CRS.from_epsg(code),
            variables=variables,
            dem=dem,
            climate=climate,
            pixel_size=pixel_size,
            chip_size=chip_size,
        )
        for v in variables:
            values[v][index] = means[v]
    table = pd.DataFrame({"filename": names, **values})
    for v in variables:
        empty = table.loc[table[v].isna(), "filename"].tolist()
        if empty:
            log.warning("%s: no valid data over %d chip(s): %s", v, len(empty), _few(empty))
    return table


def write_table_csv(table: pd.DataFrame, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write one CSV atomically (temporary name, then rename)."""
    path = Path(path)
    with atomic_outputs(path.parent, [path.name], overwrite=overwrite) as staging:
        write_csv(table, staging / path.name)
    return path


__all__ = [
    "ANCILLARY_CSV",
    "IMAGES_FOLDER",
    "IMAGE_SUFFIXES",
    "SEED_COLUMNS",
    "ChipFolder",
    "centre_from_name",
    "check_chip",
    "check_outputs_free",
    "chip_ancillary",
    "chip_footprints",
    "list_images",
    "model_levels",
    "output_name",
    "predict_chips",
    "read_chip",
    "read_chip_centres",
    "read_chip_folder",
    "read_csv",
    "resolve_levels",
    "run_chips",
    "seed_paths",
    "utm_epsg",
    "write_csv",
    "write_seed_csvs",
    "write_table_csv",
]
