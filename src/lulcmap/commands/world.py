"""``world``: a synthetic world with known truth, written as the tool's inputs."""

from __future__ import annotations

from pathlib import Path

from lulcmap.chips import ChipPlan
from lulcmap.commands.base import Command, Progress
from lulcmap.config import TruthConfig, WorldConfig
from lulcmap.io.writers import atomic_outputs, percent_largest_remainder, write_cog
from lulcmap.legend import load_legend
from lulcmap.synthetic import World, synthetic_world, write_world


def world_origin(seed: int, size: int, pixel_size: float = 10.0) -> tuple[float, float]:
    """Where a ``world`` step puts world ``seed`` (EPSG:32630): the cell (column ``seed mod 16 +
    8``, row ``seed div 16 + 188``) of a grid of world-sized cells anchored at the CRS origin. So
    worlds of different seeds never overlap, and each is exactly one spatial block of ``prepare``
    when ``--block-size`` equals its extent."""
    extent = size * pixel_size
    return extent * (8 + seed % 16), extent * (189 + seed // 16)


def write_truth(world: World, folder: Path, truth: TruthConfig, seed: int) -> dict[str, Path]:
    """``truth_N2.tif`` and ``truth_N1.tif``: the exact percent fractions of each output cell,
    encoded as the maps are."""
    legend = load_legend(truth.legend)
    plan = ChipPlan(world.grid, chip_size=truth.chip_size, stride=truth.stride)
    levels = legend.levels_from(percent_largest_remainder(world.fractions(plan)), "N2")
    paths = {}
    for level, percent in levels.items():
        path = folder / f"truth_{level}.tif"
        write_cog(
            percent,
            path,
            grid=plan.cell_grid,
            class_names=legend.names(level),
            tags={"level": level, "content": f"synthetic truth, seed {seed}"},
        )
        paths[f"truth_{level}"] = path
    return paths


def outputs(cfg: WorldConfig) -> list[Path]:
    return [Path(cfg.out)]


def run(cfg: WorldConfig, progress: Progress | None = None) -> dict[str, Path]:
    """Write the world ``cfg.seed`` (scene, DEM, climate; its N2 class map as ``reference.tif``,
    codes = N2 class indexes: crosswalk ``index``; truth maps if asked), atomically."""
    shape = (cfg.size, cfg.size)
    if cfg.origin == "block":
        world = synthetic_world(shape, seed=cfg.seed, origin=world_origin(cfg.seed, cfg.size))
    else:
        world = synthetic_world(shape, seed=cfg.seed)
    out = Path(cfg.out)
    with atomic_outputs(out.parent, [out.name], overwrite=cfg.overwrite) as staging:
        folder = staging / out.name
        paths = write_world(world, folder, reference=cfg.reference)
        if cfg.truth is not None:
            paths.update(write_truth(world, folder, cfg.truth, cfg.seed))
    return {k: out / p.relative_to(folder) for k, p in paths.items()}


COMMAND = Command(
    "world", WorldConfig, run, outputs, "a synthetic world with its truth, as the tool's inputs"
)

__all__ = ["COMMAND", "outputs", "run", "world_origin", "write_truth"]
