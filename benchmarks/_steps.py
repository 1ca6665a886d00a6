"""One measured step of ``bench_tile.py``, run in a fresh process so its peak RSS is its own.

    python benchmarks/_steps.py STEP '{"size": 10980, "device": "cpu", ...}'

prints one JSON object (the step's measurements) as its last line. Timings exclude interpreter
start and imports; the parent adds the process's peak RSS (``os.wait4``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _inputs import BAND_NAMES, build_inputs

from lulcmap.ancillary import compute_ancillary
from lulcmap.chips import ChipPlan
from lulcmap.commands.predict import predict
from lulcmap.io.climate import find_climate
from lulcmap.io.scene import Scene, open_scene
from lulcmap.model.registry import load_model, resolve_card
from lulcmap.model.runtime import cpu_workers
from lulcmap.process import tune_malloc
from lulcmap.stream import chip_rows

RGB_BANDS = ",".join(BAND_NAMES)
Args = dict[str, Any]


def _rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Clock:
    """Wall and process CPU time of a block."""

    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _scene(a: Args) -> tuple[Scene, ChipPlan, dict[str, Path]]:
    """The tile's scene (``a["scene"]``, if given, instead), opened as ``predict`` opens it;
    ``a["cache_mb"]``, if given, replaces the GDAL block cache it is read with."""
    paths = build_inputs(a["size"])
    card = resolve_card(a["model"])
    scene = open_scene(
        a.get("scene", paths["scene"]),
        rgb_bands=RGB_BANDS,
        radiometry=card.input.radiometry,
        chunk_rows=min(a["stride"], card.input.chip_size),
    )
    if a.get("cache_mb"):
        scene = dataclasses.replace(scene, cache_bytes=int(a["cache_mb"] * 2**20))
    return scene, ChipPlan(scene.grid, chip_size=card.input.chip_size, stride=a["stride"]), paths


def _ancillary(a: Args, plan: ChipPlan, paths: dict[str, Path]) -> np.ndarray:
    """The ancillary values ``predict`` uses, per cell ``(rows, cols, A)`` (given, not timed)."""
    card = resolve_card(a["model"])
    grids = find_climate(paths["climate"], card.climate_names, overrides={})
    anc = compute_ancillary(plan, variables=card.ancillary_names, dem=paths["dem"], climate=grids)
    return np.stack([anc[n] for n in card.ancillary_names], axis=-1).astype(np.float32)


def _result(clock: _Clock, chips: int, timed: int, **extra: object) -> dict[str, object]:
    """Timings scaled from the ``timed`` chips to all ``chips`` (linear extrapolation)."""
    scale = chips / timed
    return {
        "wall_s": clock.wall * scale,
        "cpu_s": clock.cpu * scale,
        "chips": chips,
        "chips_timed": timed,
        "timed_wall_s": clock.wall,
        "extrapolated": timed != chips,
        **extra,
    }


# -- 1. read-only ------------------------------------------------------------------------------
def step_read(a: Args) -> dict[str, object]:
    """Every strip the engine reads, through ``Scene.read_strip``, with nothing after it."""
    with _Clock() as clock:
        scene, plan, _ = _scene(a)
        for _ in chip_rows(scene, plan):
            pass
    return _result(clock, plan.n_cells, plan.n_cells, cache_mb=scene.cache_bytes / 2**20)


# -- 2. model-only -----------------------------------------------------------------------------
def _chip_batches(a: Args, n_chips: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``n_chips`` real chips (the first chip row, repeated) in batches, held in memory."""
    scene, plan, _ = _scene(a)
    h, w = plan.chip_shape
    rgb, _ = scene.read_strip(0, h)
    row = np.stack([rgb[:, :, c : c + w] for c in plan.col_offsets.tolist()])
    bs = a["batch_size"]
    images = torch.from_numpy(np.resize(row, (bs, *row.shape[1:])))
    card = resolve_card(a["model"])
    anc = torch.tensor([[v.mean for v in card.ancillary]] * bs, dtype=torch.float32)
    for start in range(0, n_chips, bs):
        n = min(bs, n_chips - start)
        yield images[:n], anc[:n]


def step_model(a: Args) -> dict[str, object]:
    """Forward passes over in-memory batches: one call at a time (torch's default threads), and
    the engine's CPU schedule (``cpu_workers()`` concurrent calls); the faster one counts."""
    device = a["device"]
    model = load_model(a["model"], device=device)
    n_chips = a["model_chips"]
    batches = list(_chip_batches(a, n_chips))

    def forward(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        imgs, anc = batch
        model(imgs.to(device), anc.to(device)).float().cpu()

    forward(batches[0])  # warm-up, not timed
    with _Clock() as seq:
        for batch in batches:
            forward(batch)
        _sync(device)
    out: dict[str, object] = {
        "sequential_wall_s": seq.wall,
        "sequential_threads": torch.get_num_threads(),
    }
    clock = seq
    if not device.startswith("cuda"):
        workers, threads = cpu_workers()
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(forward, batches[:workers]))  # warm-up of each worker, not timed
            with _Clock() as par:
                list(pool.map(forward, batches))
        torch.set_num_threads(previous)
        out.update(concurrent_wall_s=par.wall, concurrent=f"{workers} x {threads} thread(s)")
        clock = min(seq, par, key=lambda c: c.wall)
    return _result(clock, n_chips, n_chips, **out)


# -- 3. predict end to end -----------------------------------------------------------------------
class _GpuSampler:
    """GPU utilisation (%) every 0.1 s until :meth:`stop` (``torch.cuda.utilization``, which
    needs pynvml: the ``nvidia-ml-py`` package of the ``bench`` extra); nothing on CPU."""

    def __init__(self, device: str) -> None:
        self.samples: list[float] = []
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if device.startswith("cuda"):
            self._thread = threading.Thread(target=self._run, args=(device,), daemon=True)
            self._thread.start()

    def _run(self, device: str) -> None:
        while not self._stop.wait(0.1):
            try:
                self.samples.append(float(torch.cuda.utilization(device)))
            except Exception as exc:  # e.g. pynvml missing: said in the results
                self.error = f"{type(exc).__name__}: {exc}"
                return

    def stop(self) -> dict[str, object]:
        self._stop.set()
        if self._thread is None:
            return {}
        self._thread.join()
        return {
            "gpu_util_mean": float(np.mean(self.samples)) if self.samples else None,
            "gpu_util_samples": len(self.samples),
            "gpu_util_error": self.error,
        }


def step_predict_bf16(a: Args) -> dict[str, object]:
    """``predict(..., bf16=True)`` (the opt-in ``--bf16``), and its largest fraction difference
    from the float32 run's on every cell."""
    result = step_predict({**a, "bf16": True, "save": False})
    path = Path(a["scratch"]) / f"predict{a['size']}.npy"
    n2 = np.load(Path(a["scratch"]) / f"predict{a['size']}_bf16.npy")
    result["max_abs_diff_vs_fp32"] = float(np.nanmax(np.abs(n2 - np.load(path))))
    return result


def step_predict(a: Args) -> dict[str, object]:
    """``lulcmap.predict(...)`` in process: open, ancillary, inference, the output dataset."""
    paths = build_inputs(a["size"])
    timings: dict[str, float] = {}
    sampler = _GpuSampler(a["device"])
    with _Clock() as clock:
        ds = predict(
            paths["scene"],
            dem=paths["dem"],
            climate=paths["climate"],
            model=a["model"],
            rgb_bands=RGB_BANDS,
            stride=a["stride"],
            batch_size=a["batch_size"],
            device=a["device"],
            bf16=bool(a.get("bf16", False)),
            timings=timings,
        )
    gpu = sampler.stop()
    n2 = ds["N2"].values
    suffix = "_bf16" if a.get("bf16") else ""
    np.save(Path(a["scratch"]) / f"predict{a['size']}{suffix}.npy", n2)
    return _result(
        clock,
        int(ds.attrs["n_cells"]),
        int(ds.attrs["n_cells"]),
        predicted=int(ds.attrs["n_predicted"]),
        timings=timings,
        **gpu,
    )


def _compare(a: Args, cells: list[tuple[int, int]], values: np.ndarray) -> float | None:
    """Max |difference| of fractions against ``predict``'s for the same cells (if it ran)."""
    path = Path(a["scratch"]) / f"predict{a['size']}.npy"
    if not path.exists():
        return None
    ours = np.load(path)
    r, c = np.array(cells).T
    return float(np.nanmax(np.abs(ours[:, r, c].T - values)))


# -- 4. naive per-chip baseline ----------------------------------------------------------------
def step_naive(a: Args) -> dict[str, object]:
    """The original workflow's way: per chip, a windowed rasterio read, then a 1-chip forward.

    Plain ``rasterio.open`` (GDAL defaults), the card's radiometry in float64 as a user writes it,
    torch's default threads. Timed on a contiguous band of whole chip rows in the middle of the
    tile (same GDAL block-cache reuse between neighbours as a full run), extrapolated linearly.
    """
    import rasterio
    from rasterio.windows import Window

    _, plan, paths = _scene(a)
    anc = _ancillary(a, plan, paths)
    card = resolve_card(a["model"])
    model = load_model(a["model"], device=a["device"])
    rows, cols = plan.shape
    k = max(1, min(rows, math.ceil(a["naive_chips"] / cols)))
    r0 = (rows - k) // 2
    cells = [(r, c) for r in range(r0, r0 + k) for c in range(cols)]
    h, w = plan.chip_shape
    k_255 = 255.0 / card.input.radiometry.reflectance_max
    out = np.empty((len(cells), card.n_classes), np.float32)
    with rasterio.open(paths["scene"]) as src:
        model(torch.zeros((1, 3, h, w), dtype=torch.uint8), torch.from_numpy(anc[0, :1]))
        with _Clock() as clock:
            for i, (r, c) in enumerate(cells):
                r_off, c_off = int(plan.row_offsets[r]), int(plan.col_offsets[c])
                dn = src.read([1, 2, 3], window=Window(c_off, r_off, w, h))
                rgb = np.clip(np.rint(dn * 1e-4 * k_255), 1, 255).astype(np.uint8)
                rgb[:, ~dn.any(axis=0)] = 0
                x = torch.from_numpy(rgb[None]).to(a["device"])
                y = model(x, torch.from_numpy(anc[r, c][None]).to(a["device"]))
                out[i] = y.float().cpu().numpy()[0]
    return _result(
        clock,
        plan.n_cells,
        len(cells),
        subset=f"chip rows {r0}-{r0 + k - 1} ({len(cells)} chips)",
        max_abs_diff_vs_predict=_compare(a, cells, out),
    )


# -- 5. xbatcher + DataLoader ------------------------------------------------------------------
class _ToModelRadiometry:
    """DataLoader transform: a patch of raw DN -> uint8 chip via ``Scene.convert`` (ours, exactly).

    Picklable (opens the scene lazily), so DataLoader workers may be spawned.
    """

    def __init__(self, a: Args) -> None:
        self.a = a
        self.scene: Scene | None = None

    def __getstate__(self) -> dict[str, object]:
        return {"a": self.a, "scene": None}

    def __call__(self, patch: Any) -> torch.Tensor:
        if self.scene is None:
            self.scene = _scene(self.a)[0]
        rgb, _ = self.scene.convert(np.asarray(patch))
        return torch.from_numpy(rgb)


def step_xbatcher(a: Args) -> dict[str, object]:
    """``xbatcher.BatchGenerator`` over ``rioxarray.open_rasterio`` (224 x 224, no overlap)
    feeding a ``torch.utils.data.DataLoader``; radiometry by ``Scene.convert``; the same
    ancillary values. Timed from the first batch (worker start-up excluded) over a contiguous
    run of patch rows, extrapolated."""
    import rioxarray
    import xbatcher
    from torch.utils.data import DataLoader, Subset
    from xbatcher.loaders.torch import MapDataset

    _, plan, paths = _scene(a)
    anc = _ancillary(a, plan, paths)
    card = resolve_card(a["model"])
    model = load_model(a["model"], device=a["device"])
    chunks, workers = a["xbatcher_chunks"], a["xbatcher_workers"]
    da = rioxarray.open_rasterio(paths["scene"], chunks=chunks)
    if not isinstance(da, xr.DataArray):  # a single-subdataset GeoTIFF opens as one array
        raise TypeError(f"expected one DataArray from {paths['scene']}, got {type(da).__name__}")
    size = card.input.chip_size
    bgen = xbatcher.BatchGenerator(da, input_dims={"y": size, "x": size})
    per_row, n_patches = da.sizes["x"] // size, len(bgen)
    k = max(2, min(n_patches // per_row, math.ceil(a["xbatcher_chips"] / per_row)))
    r0 = (n_patches // per_row - k) // 2
    index = list(range(r0 * per_row, (r0 + k) * per_row))
    loader = DataLoader(
        Subset(MapDataset(bgen, transform=_ToModelRadiometry(a)), index),
        batch_size=a["batch_size"],
        num_workers=workers,
        multiprocessing_context="spawn" if workers else None,  # forked GDAL handles corrupt reads
    )
    cells = [(i // per_row, i % per_row) for i in index]
    out = np.empty((len(cells), card.n_classes), np.float32)
    done, clock = 0, _Clock()
    for imgs in loader:
        if done == 0:  # the clock starts with the first batch: worker start-up is not counted
            first = len(imgs)
            clock.__enter__()
        n = len(imgs)
        r, c = np.array(cells[done : done + n]).T
        y = model(imgs.to(a["device"]), torch.from_numpy(anc[r, c]).to(a["device"]))
        out[done : done + n] = y.float().cpu().numpy()
        done += n
    _sync(a["device"])
    clock.__exit__()
    return _result(
        clock,
        n_patches,
        len(index) - first,
        subset=f"patch rows {r0}-{r0 + k - 1} ({len(index)} of {n_patches} patches, "
        f"timed after the first batch)",
        variant=f"chunks={chunks}, num_workers={workers}",
        max_abs_diff_vs_predict=_compare(a, cells, out),
    )


# -- GPU only: bf16 autocast against fp32 --------------------------------------------------------
def step_bf16(a: Args) -> dict[str, object]:
    """Max |difference| of fractions, bf16 autocast vs fp32, on the same real chips (CUDA)."""
    device = a["device"]
    model = load_model(a["model"], device=device)
    scene, plan, _ = _scene(a)
    h, w = plan.chip_shape
    card = resolve_card(a["model"])
    diffs, times = [], {"fp32": 0.0, "bf16": 0.0}
    for off in plan.row_offsets[:: max(1, plan.shape[0] // 8)].tolist():
        rgb, _ = scene.read_strip(int(off), h)
        x = torch.from_numpy(np.stack([rgb[:, :, c : c + w] for c in plan.col_offsets.tolist()]))
        anc = torch.tensor([[v.mean for v in card.ancillary]] * len(x), dtype=torch.float32)
        x, anc = x.to(device), anc.to(device)
        results = {}
        for name in times:
            _sync(device)
            t = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=name == "bf16"):
                results[name] = model(x, anc).float()
            _sync(device)
            times[name] += time.perf_counter() - t
        diffs.append(float((results["bf16"] - results["fp32"]).abs().max()))
    return {"max_abs_diff_bf16_vs_fp32": max(diffs), "times_s": times}


STEPS = {
    "read": step_read,
    "model": step_model,
    "predict": step_predict,
    "naive": step_naive,
    "xbatcher": step_xbatcher,
    "bf16": step_bf16,
    "predict_bf16": step_predict_bf16,
}

OWN_STEPS = {"read", "model", "predict", "predict_bf16", "bf16"}
"""Steps that measure lulcmap: their process is set up as the ``lulcmap`` command sets up its own
(``tune_malloc``). The naive and xbatcher routes keep the default allocator, as users' scripts."""

if __name__ == "__main__":
    args = json.loads(sys.argv[2])
    if sys.argv[1] in OWN_STEPS:
        tune_malloc()
    start_rss = _rss_mb()
    if str(args.get("device", "cpu")).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    result = STEPS[sys.argv[1]](args)
    result.update(rss_after_imports_mb=start_rss, vm_hwm_mb=_rss_mb("VmHWM"))
    if str(args.get("device", "cpu")).startswith("cuda"):  # what torch's allocator held at most
        result.update(
            gpu_peak_allocated_mb=torch.cuda.max_memory_allocated() / 2**20,
            gpu_peak_reserved_mb=torch.cuda.max_memory_reserved() / 2**20,
        )
    print(json.dumps(result))
