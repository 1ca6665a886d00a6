"""The embedded demo: a synthetic area with known truth, mapped by ``predict``, scored by MAE.

``lulcmap demo --out DIR`` runs ``pipelines/demo.yaml`` with the output folder set to ``DIR``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from lulcmap.chips import ChipPlan
from lulcmap.config import DemoConfig
from lulcmap.errors import ConfigError, OutputExistsError
from lulcmap.io.env import gdal_env
from lulcmap.io.writers import atomic_outputs, percent_largest_remainder, write_cog
from lulcmap.legend import Legend
from lulcmap.model.registry import resolve_card
from lulcmap.pipeline import check_outputs_free, run_predict
from lulcmap.resources import shipped_dir
from lulcmap.workflow import RunConfig, WorldConfig, load_run_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoReport:
    outputs: dict[str, Path]
    mae_percent: dict[str, float]  # level -> mean over classes of the per-class MAE, in percent
    seconds: float


def demo_config(out: Path) -> RunConfig:
    """The shipped ``pipelines/demo.yaml`` with its output folder set to ``out``."""
    return load_run_config(shipped_dir("pipelines") / "demo.yaml", out=out)


def generate_inputs(
    inputs: Path, demo: DemoConfig, *, legend: Legend, chip_size: int, stride: int
) -> dict[str, Path]:
    """Write the synthetic scene, DEM, climate and truth maps into ``inputs`` (atomically)."""
    from lulcmap.testing import synthetic_world, write_world

    world = synthetic_world((demo.size, demo.size), seed=demo.seed)
    with atomic_outputs(inputs.parent, [inputs.name], overwrite=True) as staging:
        folder = staging / inputs.name
        paths = write_world(world, folder)
        plan = ChipPlan(world.grid, chip_size=chip_size, stride=stride)
        n2 = world.fractions(plan)
        levels = {"N2": percent_largest_remainder(n2)}
        levels["N1"] = legend.aggregate(levels["N2"], axis=0)
        for level, percent in levels.items():
            path = folder / f"truth_{level}.tif"
            write_cog(
                percent,
                path,
                grid=plan.cell_grid,
                class_names=legend.names(level),
                tags={"level": level, "content": f"synthetic truth, seed {demo.seed}"},
            )
            paths[f"truth_{level}"] = path
    return {k: inputs / p.relative_to(folder) for k, p in paths.items()}


def world_origin(seed: int, size: int, pixel_size: float = 10.0) -> tuple[float, float]:
    """Where a ``world`` step puts world ``seed`` (EPSG:32630): the cell (column ``seed mod 16 +
    8``, row ``seed div 16 + 188``) of a grid of world-sized cells anchored at the CRS origin. So
    worlds of different seeds never overlap, and each is exactly one spatial block of ``prepare``
    when ``--block-size`` equals its extent."""
    extent = size * pixel_size
    return extent * (8 + seed % 16), extent * (189 + seed // 16)


def write_training_world(cfg: WorldConfig) -> dict[str, Path]:
    """A ``world`` step: the synthetic world ``cfg.seed`` as the tool's inputs, with its N2 class
    map as ``reference.tif`` (codes = N2 class indexes: crosswalk ``index``), atomically."""
    from lulcmap.testing import synthetic_world, write_world

    world = synthetic_world(
        (cfg.size, cfg.size), seed=cfg.seed, origin=world_origin(cfg.seed, cfg.size)
    )
    out = Path(cfg.out)
    with atomic_outputs(out.parent, [out.name], overwrite=cfg.overwrite) as staging:
        paths = write_world(world, staging / out.name, reference=True)
    return {k: out / p.relative_to(staging / out.name) for k, p in paths.items()}


def _read(path: Path) -> np.ndarray:
    with gdal_env(), rasterio.open(path) as ds:
        return ds.read()


def mae_percent(pred_tif: Path, truth_tif: Path) -> float:
    """Mean over classes of the mean absolute error (percent) on cells valid in both maps."""
    pred, truth = _read(pred_tif).astype(float), _read(truth_tif).astype(float)
    ok = (pred[0] != 255) & (truth[0] != 255)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(pred[:, ok] - truth[:, ok]).mean(axis=1)))


def run_config(cfg: RunConfig, *, quiet: bool = False) -> DemoReport:
    """Run a pipeline config: generate demo inputs if asked, predict, score against truth."""
    from lulcmap.cli._common import progress_bar

    start = time.perf_counter()
    pred = cfg.predict
    if pred is None:
        raise ConfigError(
            "run_config runs the demo form (`demo:` + `predict:`); steps run with "
            "`lulcmap run` (lulcmap.cli.run.run_steps)"
        )
    stem = pred.output_stem
    check_outputs_free(pred.out, stem, pred.overwrite)
    inputs = pred.out / "inputs"
    if cfg.demo is not None:
        if inputs.exists() and not pred.overwrite:
            raise OutputExistsError(
                f"{inputs} already exists; pass --overwrite to regenerate "
                "the demo inputs or choose another --out"
            )
        card = resolve_card(pred.model)
        generate_inputs(
            inputs,
            cfg.demo,
            legend=card.get_legend(),
            chip_size=card.input.chip_size,
            stride=pred.stride,
        )
    with progress_bar(quiet, "predict") as update:
        outputs = run_predict(pred, on_progress=update)
    mae: dict[str, float] = {}
    if cfg.demo is not None:
        for level in ("N1", "N2"):
            mae[level] = mae_percent(outputs[f"{level}"], inputs / f"truth_{level}.tif")
    report = DemoReport(outputs, mae, time.perf_counter() - start)
    if not quiet:
        _print(report)
    return report


def _print(report: DemoReport) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"wrote {len(report.outputs)} outputs in {report.seconds:.1f} s:")
    for path in report.outputs.values():
        console.print(f"  {path}")
    for level, value in report.mae_percent.items():
        console.print(f"{level} MAE against the synthetic truth: {value:.2f} %")
    if report.mae_percent:
        console.print(
            "(MAE: per-class mean absolute error of the percent maps, averaged over "
            "classes, as in the papers)"
        )


def run_demo(out: Path, *, overwrite: bool = False, quiet: bool = False) -> DemoReport:
    cfg = demo_config(out)
    return run_config(cfg.with_overwrite() if overwrite else cfg, quiet=quiet)


__all__ = [
    "DemoReport",
    "demo_config",
    "generate_inputs",
    "mae_percent",
    "run_config",
    "run_demo",
    "world_origin",
    "write_training_world",
]
