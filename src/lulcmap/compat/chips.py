"""The ``chips`` command: a chip folder through a model into the original's abundance CSVs.

The original writes ``Abundance estimation results at level N1.csv`` / ``... N2.csv``:
``filename``, then one column per class in legend order, in percent.

read   = :func:`~lulcmap.compat.folders.read_chip_folder`  the layout, checked
infer  = :func:`predict_chips`         batches of chips through the model runtime (bounded memory)
write  = :func:`write_abundance_csvs`  the CSVs, atomically, byte-compatible with the original
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lulcmap.compat.folders import (
    ChipFolder,
    PathLike,
    read_chip,
    read_chip_folder,
    write_csv,
)
from lulcmap.errors import ConfigError
from lulcmap.io.writers import atomic_outputs, check_outputs_free
from lulcmap.legend import Legend
from lulcmap.model.card import ModelCard
from lulcmap.model.registry import load_chip_model, resolve_card
from lulcmap.model.runtime import Batch, CardedModel, resolve_device, run_options, run_rows

log = logging.getLogger(__name__)


def output_name(level: str) -> str:
    """The original's output file name for a level (``N1`` or ``N2``)."""
    return f"Abundance estimation results at level {level}.csv"


def resolve_levels(level: str | None, card: ModelCard) -> tuple[str, ...]:
    """``N1``, ``N2``, ``both`` or ``None`` (every level the model gives) -> levels to write."""
    if level is None:
        return card.map_levels
    wanted = {"N1": ("N1",), "N2": ("N2",), "BOTH": ("N1", "N2")}.get(level.strip().upper())
    if wanted is None:
        raise ConfigError(f"--level must be N1, N2 or both, got {level!r}")
    _check_levels(wanted, card)
    return wanted


def _check_levels(levels: Sequence[str], card: ModelCard) -> None:
    have = card.map_levels
    lacking = [lv for lv in levels if lv not in have]
    if lacking:
        raise ConfigError(
            f"model {card.id} gives only {' and '.join(have)} abundances (its card's levels: "
            f"{', '.join(card.levels)}), not {' and '.join(lacking)}; pass --level "
            f"{have[0] if len(have) == 1 else 'both'} or a model of that level"
        )


def _batches(folder: ChipFolder, anc: np.ndarray, batch_size: int, size: int) -> Iterator[Batch]:
    """Chips decoded a batch at a time, with their ancillary values, keyed by row."""
    n, step = len(folder), max(1, batch_size)
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        images = np.stack([read_chip(folder.files[i], size) for i in rows])
        yield Batch((images, anc[rows]), key=rows)


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

    Chips go through ``model`` in batches of ``batch_size`` (the model runtime's
    :func:`~lulcmap.model.runtime.run_batches`), one call at a time as the original makes them;
    the next batch is decoded while the model runs, so at most two batches are in memory.
    Ancillary values are taken from ``folder.table`` by name in the order of the model's card.
    N1 of an N2 model is the legend's sum of its N2 percents.
    """
    card, legend = model.card, model.card.get_legend()
    levels = tuple(levels) if levels is not None else card.map_levels
    _check_levels(levels, card)
    names = card.ancillary_names
    n = len(folder)
    anc = folder.table[names].to_numpy(np.float32) if names else np.zeros((n, 0), np.float32)
    fractions = run_rows(
        model,
        _batches(folder, anc, batch_size, card.input.chip_size),
        n_rows=n,
        n_outputs=card.n_classes,
        options=run_options(model, device, workers=1),
        on_progress=on_progress,
    )
    log.info("predicted %d chips of %s with model %s", n, folder.images_dir, card.id)
    return _tables(folder.filenames, fractions * 100.0, card.output_level, levels, legend)


def _tables(
    names: list[str], percent: np.ndarray, level: str, levels: Sequence[str], legend: Legend
) -> dict[str, pd.DataFrame]:
    by_level = legend.levels_from(percent, level, axis=1)
    tables = {}
    for lv in levels:
        table = pd.DataFrame(by_level[lv], columns=legend.names(lv))
        table.insert(0, "filename", names)
        tables[lv] = table
    return tables


def write_abundance_csvs(
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
    check_outputs_free([Path(out) / output_name(lv) for lv in levels], overwrite)
    folder = read_chip_folder(
        input_dir,
        images=images,
        ancillary=ancillary,
        columns=card.ancillary_names,
        chip_size=card.input.chip_size,
    )
    dev = resolve_device(device)
    net = (
        model
        if isinstance(model, CardedModel)
        else load_chip_model(card, device=dev, command="`lulcmap chips`")
    )
    tables = predict_chips(
        folder, net, levels=levels, batch_size=batch_size, device=dev, on_progress=on_progress
    )
    return write_abundance_csvs(tables, out, overwrite=overwrite)


__all__ = [
    "output_name",
    "predict_chips",
    "resolve_levels",
    "run_chips",
    "write_abundance_csvs",
]
